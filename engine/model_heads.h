/* Inside the model: the heads that join the parts (model_soft.c,
 * model_routed.c), which model.c calls. They stand on the parts' interface
 * (model_parts.h) and never call back into model.c. Not part of the
 * engine's interface. */
#ifndef MOECL_MODEL_HEADS_H
#define MOECL_MODEL_HEADS_H

#include "model.h"
#include "model_parts.h"

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
