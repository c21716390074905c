/* Inside the model: what the heads (model_soft.c, model_routed.c) and the
 * frozen-output cache need of the parts, implemented in model_parts.c below
 * them all, so that calls go one way: model.c -> heads -> parts. */
#ifndef MOECL_MODEL_PARTS_H
#define MOECL_MODEL_PARTS_H

#include "model.h"

/* Rows of the stacked expert outputs: expert k's lie at k * this. */
size_t model_stack_stride(const model *m);
/* n floats from src + src_off to dst + dst_off, on the device. */
moecl_status model_copy_range(moecl_ctx *ctx, cl_mem src, size_t src_off, cl_mem dst,
                              size_t dst_off, size_t n);
/* The device a part lives on: its placed one, else the model's. */
moecl_ctx *model_part_ctx(const model *m, int part);
/* Whether a part lives on another device than the model's (its rows cross). */
bool model_part_placed(const model *m, int part);
/* n floats from src at src_off to dst at dst_off: on the device when both
 * are on one; queued as a driver copy when their devices share an OpenCL
 * context (moecl_ctx_options.share_with); else through host memory
 * (m->host_relay), blocking. */
moecl_status model_move_rows(model *m, const moecl_tensor *src, size_t src_off, moecl_tensor *dst,
                             size_t dst_off, size_t n);
/* Whether a part learns in the current stage (not frozen, and trained now). */
bool model_part_learns(const model *m, int part);
/* A part's forward on its input; one that does not learn now runs as in
 * evaluation even while the model trains (see model_parts.c). */
moecl_status model_forward_part(model *m, int part, int n, const layer_run *run);

#endif
