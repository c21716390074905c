/* Inside the model (model.c, model_soft.c, model_routed.c): the heads that join the
 * parts, and the helpers they share. Not part of the engine's interface. */
#ifndef MOECL_MODEL_HEADS_H
#define MOECL_MODEL_HEADS_H

#include "model.h"

/* Rows of the stacked expert outputs: expert k's lie at k * this. */
size_t model_stack_stride(const model *m);
/* n floats from src + src_off to dst + dst_off, on the device. */
moecl_status model_copy_range(moecl_ctx *ctx, cl_mem src, size_t src_off, cl_mem dst,
                              size_t dst_off, size_t n);
/* Whether a part learns in the current stage (not frozen, and trained now). */
bool model_part_learns(const model *m, int part);
/* A part's forward on its input; one that does not learn now runs as in
 * evaluation even while the model trains (see model.c). */
moecl_status model_forward_part(model *m, int part, int n, const layer_run *run);

/* model_soft.c: the soft head, after every part has run forward. */
moecl_status soft_forward(model *m, int n);
moecl_status soft_backward(model *m, int n);

/* model_routed.c: forward (to the loss) and backward of each routed head. */
moecl_status switch_forward(model *m, int n, const layer_run *run);
moecl_status switch_backward(model *m, int n);
moecl_status topk_forward(model *m, int n, const layer_run *run);
moecl_status topk_backward(model *m, int n);
moecl_status hier_forward(model *m, int n, const layer_run *run);
/* The frozen half of hier_forward: baseline, gate, routing, the chosen
 * experts (their outputs stacked in m->stacked by route and slot). */
moecl_status hier_frozen_forward(model *m, int n, const layer_run *run);
moecl_status hier_backward(model *m, int n);

#endif
