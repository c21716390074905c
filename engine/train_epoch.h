/* One training epoch, step by step (train_epoch.c), and the state a run
 * keeps between steps, epochs and sittings (saved in state.safetensors). */
#ifndef MOECL_TRAIN_EPOCH_H
#define MOECL_TRAIN_EPOCH_H

#include "data.h"
#include "model.h"
#include "train.h"
#include "train_dist.h"
#include "train_weights.h"

#include <stdio.h>

typedef struct run_state {
    int stage;           /* the stage in progress (0 for a model without stages) */
    int epoch;           /* epochs completed in it */
    int batch_pos;       /* batches done in the current epoch (after an interrupt) */
    long global_step;    /* optimiser updates so far */
    double best_val_loss, best_val_acc;
    int best_epoch, bad_epochs;
    double part_loss;    /* sums of the partial epoch */
    long part_correct, part_seen;
    double part_seconds; /* its seconds before the interrupt, so that metrics count them */
    long metrics_bytes;  /* metrics.jsonl's length when the state was written (-1: unknown) */
    /* a routed model's training batches in the partial epoch (as they
     * trained: augmented, with the gate's noise): images per expert, the
     * dropped, the summed gate weights, and over how many images */
    double part_routed[MODEL_MAX_PARTS], part_gate[MODEL_MAX_PARTS];
    long part_dropped, part_route_seen;
} run_state;

/* Two seeds into one (epochs, stages and batches draw their own streams). */
uint64_t train_mix(uint64_t a, uint64_t b);

/* One epoch from batch_pos on; returns MOECL_OK with *stopped set on Ctrl-C.
 * Data parallel (dist.h): every rank makes the whole global batch on the
 * host (the same augmentation as one process would), runs its share, and
 * the gradients and the step's counts are summed across ranks, so that
 * every rank takes the same step, stops at the same step, and fails at the
 * same step. */
moecl_status run_epoch(model *net, const train_options *o, const dataset *train,
                       const normalizer *norm, uint64_t seed, param_list *pl, run_state *rs,
                       float *host, int *labels, int *idx, float *loss, int *pred,
                       long total_steps, grad_exchange *gx, FILE *log, bool *stopped);

#endif
