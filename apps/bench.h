/* Pieces the benchmarks share. */
#ifndef MOECL_BENCH_H
#define MOECL_BENCH_H

#include "model.h"
#include "optim.h"
#include "train_dist.h"

/* One step as the training loop runs it: forward, then for training the
 * backward pass and Adam's update (t: its step number), each enqueue
 * attributed to its layer for profiling. With lazy_list (the parameters'
 * model_param entries), experts that got no image take no update. With
 * dp (data parallel: several ranks), the gradients are summed across ranks
 * before the update. */
typedef struct bench_dp {
    grad_exchange gx;
    float weight; /* this rank's share of the batch */
    int rows;     /* its images a step (the model may hold more: --expert-parallel) */
} bench_dp;
moecl_status bench_step(model *net, const layer_run *run, const optim_config *adam,
                        moecl_param **params, int nparams, const model_param *lazy_list,
                        bench_dp *dp, bool training, int t);

/* bench train --profile: one training step's device time per kernel and
 * per layer, sorted, with each one's share (bench_profile.c). */
moecl_status bench_profile_step(model *net, moecl_param **params, int nparams);

#endif
