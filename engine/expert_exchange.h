/* Expert parallelism across ranks (--expert-parallel): every rank holds the
 * whole model, as in data parallelism, but while training a routed head's
 * expert k is computed by rank k mod ranks alone. Each rank routes its share
 * of the batch; the rows routed to an expert travel to its rank in one
 * all-to-all, it runs on the rows of every rank at once, and its outputs go
 * back the same way; in the backward pass the output gradients travel to it
 * and (with a trunk) the input gradients come back. The other ranks leave
 * that expert's gradients zero, so the gradient sum of data parallelism
 * gives every rank the expert's gradient and the same step, and rank 0 can
 * evaluate and save the whole model alone, as before. Calls go one way:
 * model_routed.c -> here -> the parts (model_parts.h) and dist.h. */
#ifndef MOECL_EXPERT_EXCHANGE_H
#define MOECL_EXPERT_EXCHANGE_H

#include "model.h"

typedef struct expert_exchange {
    int ranks;
    float *meta;        /* [ranks][E + 1]: each rank's images per expert, then its share */
    float *send, *recv; /* host rows on their way */
    size_t send_cap, recv_cap;
    size_t *send_n, *recv_n; /* floats to and from each rank */
    bool this_step;          /* the last forward exchanged: so does its backward */
} expert_exchange;

/* Turns it on for a switch or top-k model (before or after model_setup);
 * an error for other heads and for placed experts. */
moecl_status model_exchange_experts(model *m, bool on);
void expert_exchange_free(expert_exchange *x);
/* Whether this forward and backward exchange (training, several ranks). */
bool expert_exchange_active(const model *m, const layer_run *run);
/* The rank that computes a part while exchanging, or -1 (every rank). */
int model_part_rank(const model *m, int part);

/* After gather (expert_in[k] holds this rank's expert_counts[k] rows for
 * expert k): every expert's outputs on this rank's rows into m->stacked. */
moecl_status exchange_experts_forward(model *m, int n, const layer_run *run);
/* After the head's backward (m->dstacked): each expert's backward on its
 * rank, and with a trunk each rank's input-gradient rows for expert k back
 * in expert_in[k] (where backward_trunk reads them). */
moecl_status exchange_experts_backward(model *m);

#endif
