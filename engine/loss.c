#include "loss.h"
#include "internal.h"

#include <string.h>

moecl_status softmax_ce_init(softmax_ce *s, moecl_ctx *ctx, int batch, int classes)
{
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    s->batch = batch;
    s->classes = classes;
    int bk[2] = {batch, classes}, b[1] = {batch};
    MOECL_TRY(moecl_tensor_create(ctx, 2, bk, &s->probs));
    MOECL_TRY(moecl_tensor_create(ctx, 2, bk, &s->grad));
    MOECL_TRY(moecl_tensor_create(ctx, 1, b, &s->loss));
    MOECL_TRY(moecl_tensor_create(ctx, 1, b, &s->pred));
    MOECL_TRY(moecl_tensor_create(ctx, 1, b, &s->labels));
    return MOECL_OK;
}

void softmax_ce_free(softmax_ce *s)
{
    moecl_tensor_destroy(s->probs);
    moecl_tensor_destroy(s->grad);
    moecl_tensor_destroy(s->loss);
    moecl_tensor_destroy(s->pred);
    moecl_tensor_destroy(s->labels);
    memset(s, 0, sizeof *s);
}

moecl_status softmax_ce_set_labels(softmax_ce *s, const int *labels, int n)
{
    if (n < 1 || n > s->batch)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%d labels for a batch of %d", n, s->batch);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= s->classes)
            return moecl_fail(MOECL_ERR_INVALID_ARG, "label %d of example %d is outside 0..%d",
                              labels[i], i, s->classes - 1);
    MOECL_CL_CHECK(&s->ctx->device,
                   clEnqueueWriteBuffer(s->ctx->queue, s->labels->buf, CL_FALSE, 0,
                                        (size_t)n * sizeof(int), labels, 0, NULL, NULL));
    /* Non-blocking: the caller's array must live until the queue reaches it;
     * finish here so callers may reuse it at once. */
    MOECL_CL_CHECK(&s->ctx->device, clFinish(s->ctx->queue));
    return MOECL_OK;
}

moecl_status softmax_ce_forward(softmax_ce *s, const moecl_tensor *logits, int n)
{
    return MOECL_LAUNCH(s->ctx, "softmax_ce_forward_f32", (size_t)n, 0,
                        MOECL_ARG_MEM(logits->buf), MOECL_ARG_MEM(s->labels->buf),
                        MOECL_ARG_MEM(s->probs->buf), MOECL_ARG_MEM(s->loss->buf),
                        MOECL_ARG_MEM(s->pred->buf), MOECL_ARG_INT(n),
                        MOECL_ARG_INT(s->classes), MOECL_ARG_FLOAT(s->smoothing));
}

moecl_status softmax_ce_backward(softmax_ce *s, int n)
{
    return MOECL_LAUNCH(s->ctx, "softmax_ce_backward_f32", (size_t)n * s->classes, 0,
                        MOECL_ARG_MEM(s->probs->buf), MOECL_ARG_MEM(s->labels->buf),
                        MOECL_ARG_MEM(s->grad->buf), MOECL_ARG_INT(n), MOECL_ARG_INT(s->classes),
                        MOECL_ARG_FLOAT(1.0f / (float)n), MOECL_ARG_FLOAT(s->smoothing));
}

moecl_status softmax_ce_read(softmax_ce *s, int n, float *loss, int *pred)
{
    cl_command_queue q = s->ctx->queue;
    if (loss)
        MOECL_CL_CHECK(&s->ctx->device, clEnqueueReadBuffer(q, s->loss->buf, CL_FALSE, 0,
                                                            (size_t)n * sizeof(float), loss, 0,
                                                            NULL, NULL));
    if (pred)
        MOECL_CL_CHECK(&s->ctx->device, clEnqueueReadBuffer(q, s->pred->buf, CL_FALSE, 0,
                                                            (size_t)n * sizeof(int), pred, 0,
                                                            NULL, NULL));
    MOECL_CL_CHECK(&s->ctx->device, clFinish(q));
    return MOECL_OK;
}
