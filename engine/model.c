/* Running a model: its parts, then its head (see model.h). */
#include "model.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void model_free(model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_parts; i++) network_free(m->parts[i]);
    moecl_tensor_destroy(m->images);
    if (m->ctx) softmax_ce_free(&m->loss);
    moecl_tensor_destroy(m->stacked);
    moecl_tensor_destroy(m->dstacked);
    moecl_tensor_destroy(m->gates);
    moecl_tensor_destroy(m->resp);
    moecl_tensor_destroy(m->dgate);
    for (int k = 0; k < MODEL_MAX_PARTS; k++) moecl_tensor_destroy(m->dexpert[k]);
    free(m);
}

moecl_status model_setup(model *m, moecl_ctx *ctx, int batch, uint64_t seed)
{
    m->ctx = ctx;
    m->batch = batch;
    int ishape[2] = {batch, (int)shape3_size(m->input)};
    MOECL_TRY(moecl_tensor_create(ctx, 2, ishape, &m->images));
    uint64_t rng = seed;
    for (int i = 0; i < m->n_parts; i++)
        MOECL_TRY(network_setup(m->parts[i], ctx, m->input, batch, &rng, m->images));
    MOECL_TRY(softmax_ce_init(&m->loss, ctx, batch, m->classes));
    if (m->head == HEAD_SOFT_MIXTURE) {
        int K = m->n_experts;
        int stacked[3] = {K, batch, m->classes}, bk[2] = {batch, K}, bc[2] = {batch, m->classes};
        MOECL_TRY(moecl_tensor_create(ctx, 3, stacked, &m->stacked));
        MOECL_TRY(moecl_tensor_create(ctx, 3, stacked, &m->dstacked));
        MOECL_TRY(moecl_tensor_create(ctx, 2, bk, &m->gates));
        MOECL_TRY(moecl_tensor_create(ctx, 2, bk, &m->resp));
        MOECL_TRY(moecl_tensor_create(ctx, 2, bk, &m->dgate));
        for (int k = 0; k < K; k++) MOECL_TRY(moecl_tensor_create(ctx, 2, bc, &m->dexpert[k]));
    }
    return MOECL_OK;
}

moecl_status model_set_labels(model *m, const int *labels, int n)
{
    return softmax_ce_set_labels(&m->loss, labels, n);
}

static size_t stack_stride(const model *m) { return (size_t)m->batch * m->classes; }

static moecl_status copy_range(moecl_ctx *ctx, cl_mem src, size_t src_off, cl_mem dst,
                               size_t dst_off, size_t n)
{
    return MOECL_LAUNCH(ctx, "copy_range_f32", n, 0, MOECL_ARG_MEM(src), MOECL_ARG_UINT(src_off),
                        MOECL_ARG_MEM(dst), MOECL_ARG_UINT(dst_off), MOECL_ARG_UINT(n));
}

moecl_status model_forward(model *m, int n, const layer_run *run)
{
    for (int i = 0; i < m->n_parts; i++) MOECL_TRY(network_forward(m->parts[i], n, run));
    if (m->head == HEAD_SINGLE)
        return softmax_ce_forward(&m->loss, network_output(m->parts[0]), n);
    size_t nc = (size_t)n * m->classes;
    for (int k = 0; k < m->n_experts; k++)
        MOECL_TRY(copy_range(m->ctx, network_output(m->parts[m->experts[k]])->buf, 0,
                             m->stacked->buf, k * stack_stride(m), nc));
    const moecl_tensor *a = network_output(m->parts[m->gate]);
    return MOECL_LAUNCH(m->ctx, "soft_mixture_forward_f32", (size_t)n, 0, MOECL_ARG_MEM(a->buf),
                        MOECL_ARG_MEM(m->stacked->buf), MOECL_ARG_MEM(m->loss.labels->buf),
                        MOECL_ARG_MEM(m->loss.probs->buf), MOECL_ARG_MEM(m->gates->buf),
                        MOECL_ARG_MEM(m->resp->buf), MOECL_ARG_MEM(m->loss.loss->buf),
                        MOECL_ARG_MEM(m->loss.pred->buf), MOECL_ARG_INT(n),
                        MOECL_ARG_INT(m->n_experts), MOECL_ARG_INT(m->classes),
                        MOECL_ARG_INT(stack_stride(m)));
}

moecl_status model_backward(model *m, int n)
{
    if (m->head == HEAD_SINGLE) {
        MOECL_TRY(softmax_ce_backward(&m->loss, n));
        return network_backward(m->parts[0], m->loss.grad, n);
    }
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "soft_mixture_backward_f32", (size_t)n, 0,
                           MOECL_ARG_MEM(m->stacked->buf), MOECL_ARG_MEM(m->gates->buf),
                           MOECL_ARG_MEM(m->resp->buf), MOECL_ARG_MEM(m->loss.labels->buf),
                           MOECL_ARG_MEM(m->dstacked->buf), MOECL_ARG_MEM(m->dgate->buf),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(m->n_experts),
                           MOECL_ARG_INT(m->classes), MOECL_ARG_INT(stack_stride(m)),
                           MOECL_ARG_FLOAT(1.0f / (float)n)));
    size_t nc = (size_t)n * m->classes;
    for (int k = 0; k < m->n_experts; k++) {
        MOECL_TRY(copy_range(m->ctx, m->dstacked->buf, k * stack_stride(m), m->dexpert[k]->buf, 0, nc));
        MOECL_TRY(network_backward(m->parts[m->experts[k]], m->dexpert[k], n));
    }
    return network_backward(m->parts[m->gate], m->dgate, n);
}

moecl_status model_read_gates(model *m, int n, float *gates)
{
    if (m->head != HEAD_SOFT_MIXTURE)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "model %s has no gate", m->name);
    MOECL_CL_CHECK(&m->ctx->device,
                   clEnqueueReadBuffer(m->ctx->queue, m->gates->buf, CL_TRUE, 0,
                                       (size_t)n * m->n_experts * sizeof(float), gates, 0, NULL,
                                       NULL));
    return MOECL_OK;
}

moecl_status model_read(model *m, int n, float *loss, int *pred)
{
    return softmax_ce_read(&m->loss, n, loss, pred);
}

moecl_status model_params(const model *m, model_param **list, int *count)
{
    int total = 0;
    for (int p = 0; p < m->n_parts; p++)
        for (int i = 0; i < m->parts[p]->n_layers; i++) total += m->parts[p]->layers[i]->n_params;
    *list = calloc((size_t)(total ? total : 1), sizeof **list);
    if (!*list) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    *count = 0;
    for (int p = 0; p < m->n_parts; p++) {
        const network *net = m->parts[p];
        for (int i = 0; i < net->n_layers; i++)
            for (int j = 0; j < net->layers[i]->n_params; j++) {
                model_param *e = &(*list)[(*count)++];
                e->param = &net->layers[i]->params[j];
                snprintf(e->name, sizeof e->name, "%s%s%s.%s", net->name, net->name[0] ? "." : "",
                         net->layers[i]->name, net->layers[i]->params[j].name);
            }
    }
    return MOECL_OK;
}

size_t model_param_count(const model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->n_parts; i++) n += network_param_count(m->parts[i]);
    return n;
}

uint64_t model_flops_per_image(const model *m)
{
    uint64_t f = 0;
    for (int i = 0; i < m->n_parts; i++) f += network_flops_per_image(m->parts[i]);
    return f;
}

void model_print(const model *m, FILE *out)
{
    fprintf(out, "%-28s %-15s %-14s %10s\n", "layer", "kind", "output", "params");
    for (int i = 0; i < m->n_parts; i++) {
        network_print(m->parts[i], out);
        if (m->n_parts > 1)
            fprintf(out, "  part %s: %zu parameters, %.1f MFLOPs per image\n", m->parts[i]->name,
                    network_param_count(m->parts[i]), network_flops_per_image(m->parts[i]) / 1e6);
    }
    if (m->head == HEAD_SOFT_MIXTURE) {
        fprintf(out, "head: soft mixture of %d experts (", m->n_experts);
        for (int k = 0; k < m->n_experts; k++)
            fprintf(out, "%s%s", k ? ", " : "", m->parts[m->experts[k]]->name);
        fprintf(out, ") weighted by gate %s\n", m->parts[m->gate]->name);
    }
    fprintf(out, "total: %zu trainable parameters, %.1f MFLOPs per image forward\n",
            model_param_count(m), model_flops_per_image(m) / 1e6);
}
