/* The soft head: a gate's softmax weights over every expert, and the
 * weighted sum of the experts' outputs, with an optional importance loss
 * (see model_heads.h). Every expert runs on every image. */
#include "model.h"
#include "model_heads.h"
#include "internal.h"

moecl_status soft_forward(model *m, int n)
{
    size_t nc = (size_t)n * m->classes;
    for (int k = 0; k < m->n_experts; k++)
        MOECL_TRY(model_move_rows(m, network_output(m->parts[m->experts[k]]), 0, m->stacked,
                                  k * model_stack_stride(m), nc));
    const moecl_tensor *a = network_output(m->parts[m->gate]);
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "soft_mixture_forward_f32", (size_t)n, 0, MOECL_ARG_MEM(a->buf),
                           MOECL_ARG_MEM(m->stacked->buf), MOECL_ARG_MEM(m->loss.labels->buf),
                           MOECL_ARG_MEM(m->loss.probs->buf), MOECL_ARG_MEM(m->gates->buf),
                           MOECL_ARG_MEM(m->resp->buf), MOECL_ARG_MEM(m->loss.loss->buf),
                           MOECL_ARG_MEM(m->loss.pred->buf), MOECL_ARG_INT(n),
                           MOECL_ARG_INT(m->n_experts), MOECL_ARG_INT(m->classes),
                           MOECL_ARG_INT(model_stack_stride(m))));
    if (!(m->importance_weight > 0)) return MOECL_OK;
    /* the importance loss w * CV^2(sum over the batch of each expert's weight) */
    return MOECL_LAUNCH(m->ctx, "soft_importance_f32", 1, 0, MOECL_ARG_MEM(m->gates->buf),
                        MOECL_ARG_MEM(m->kcoef->buf), MOECL_ARG_MEM(m->kaux->buf), MOECL_ARG_INT(n),
                        MOECL_ARG_INT(m->n_experts), MOECL_ARG_FLOAT(m->importance_weight));
}

moecl_status soft_backward(model *m, int n)
{
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "soft_mixture_backward_f32", (size_t)n, 0,
                           MOECL_ARG_MEM(m->stacked->buf), MOECL_ARG_MEM(m->gates->buf),
                           MOECL_ARG_MEM(m->resp->buf), MOECL_ARG_MEM(m->loss.labels->buf),
                           MOECL_ARG_MEM(m->dstacked->buf), MOECL_ARG_MEM(m->dgate->buf),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(m->n_experts),
                           MOECL_ARG_INT(m->classes), MOECL_ARG_INT(model_stack_stride(m)),
                           MOECL_ARG_FLOAT(1.0f / (float)n)));
    if (m->importance_weight > 0)
        MOECL_TRY(MOECL_LAUNCH(m->ctx, "soft_importance_backward_f32", (size_t)n, 0,
                               MOECL_ARG_MEM(m->gates->buf), MOECL_ARG_MEM(m->kcoef->buf),
                               MOECL_ARG_MEM(m->dgate->buf), MOECL_ARG_INT(n),
                               MOECL_ARG_INT(m->n_experts)));
    size_t nc = (size_t)n * m->classes;
    for (int k = 0; k < m->n_experts; k++) {
        if (!model_part_learns(m, m->experts[k])) continue; /* frozen: nothing to learn */
        MOECL_TRY(model_move_rows(m, m->dstacked, k * model_stack_stride(m), m->dexpert[k], 0, nc));
        MOECL_TRY(network_backward(m->parts[m->experts[k]], m->dexpert[k], n));
    }
    if (!model_part_learns(m, m->gate)) return MOECL_OK;
    return network_backward(m->parts[m->gate], m->dgate, n);
}
