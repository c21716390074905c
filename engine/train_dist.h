/* The training loop's side of data parallelism (dist.h): a step's
 * gradients summed across ranks, and rank 0's weights to every rank. */
#ifndef MOECL_TRAIN_DIST_H
#define MOECL_TRAIN_DIST_H

#include "dist.h"
#include "train_weights.h"

/* A flat host buffer for the exchange, grown on demand. */
typedef struct grad_exchange {
    float *flat;
    size_t capacity;
} grad_exchange;

/* Each rank's weight in a batch from --split ("1,3": rank 1 takes three
 * times rank 0's share; "" all equal): one positive number per rank, or an
 * error saying what is wrong. */
#define DIST_MAX_SPLIT 1024 /* the most ranks --split weighs */
moecl_status dist_split_parse(const char *spec, double *weights, int ranks);
/* The first image of this rank's share of a global batch of n images, and
 * how many it takes: by the weights (shares rounded at their running sums),
 * or equal shares (the first ranks one more) when weights is NULL. */
void dist_share(int n, const double *weights, int *first, int *count);
/* The same for rank r. */
void dist_share_of(int n, const double *weights, int r, int *first, int *count);

/* Sums the active parameters' gradients across ranks in one call, each
 * rank's scaled by `weight` (its share of the global batch, so that the sum
 * is the gradient of the global batch's mean loss), followed by `extra`
 * floats summed as they are (the step's loss sum, correct count, flags). */
moecl_status exchange_gradients(grad_exchange *g, const param_list *pl, float weight,
                                float *extra, int n_extra);
/* Rank 0's values of every parameter, running statistics and optimiser
 * slots to every rank. */
moecl_status sync_params(grad_exchange *g, const param_list *pl);
/* --expert-parallel: the running statistics (batch norm's) of the parts
 * one rank computes (model_part_rank) to every rank from that rank. */
moecl_status gather_part_statistics(grad_exchange *g, const param_list *pl, const model *m);
/* Whether every rank holds rank 0's trainable weights (to a relative 1e-6
 * of a position-weighted checksum): the replicas take the same steps, so
 * they must; checked at each epoch's end in debug builds. */
moecl_status check_replicas_equal(grad_exchange *g, const param_list *pl);
void grad_exchange_free(grad_exchange *g);

#endif
