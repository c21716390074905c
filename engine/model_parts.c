/* The parts of a model as the heads and the model see them (model_parts.h):
 * below both, calling neither. */
#include "model_parts.h"
#include "internal.h"

#include <stdlib.h>

bool model_part_learns(const model *m, int part)
{
    if (m->stage >= 0) return m->stages[m->stage].train_parts[part];
    return !(m->head == HEAD_HIERARCHICAL && part == m->gate); /* a hard gate gets no gradient */
}

size_t model_stack_stride(const model *m) { return (size_t)m->batch * m->classes; }

moecl_status model_copy_range(moecl_ctx *ctx, cl_mem src, size_t src_off, cl_mem dst,
                              size_t dst_off, size_t n)
{
    return MOECL_LAUNCH(ctx, "copy_range_f32", n, 0, MOECL_ARG_MEM(src), MOECL_ARG_UINT(src_off),
                        MOECL_ARG_MEM(dst), MOECL_ARG_UINT(dst_off), MOECL_ARG_UINT(n));
}

/* A frozen part is the function it was trained to be and will be tested as:
 * no dropout, and batch norm on its running statistics, which stay as they
 * were (a later stage that trained on a dropped-out baseline would learn to
 * weigh outputs that the test never sees). */
moecl_status model_forward_part(model *m, int part, int n, const layer_run *run)
{
    layer_run as_evaluated;
    if (run && run->training && !model_part_learns(m, part)) {
        as_evaluated = *run;
        as_evaluated.training = false;
        run = &as_evaluated;
    }
    return network_forward(m->parts[part], n, run);
}

moecl_ctx *model_part_ctx(const model *m, int part) { return m->part_ctx[part] ? m->part_ctx[part] : m->ctx; }

bool model_part_placed(const model *m, int part) { return model_part_ctx(m, part) != m->ctx; }

/* Two devices of one OpenCL context: the driver copies, nothing waits on
 * the host. The copy waits for the source queue's work so far, and the
 * source queue's later work (which may overwrite the rows) for the copy;
 * both queues are flushed, as waiting on another queue's events needs. */
static moecl_status copy_within_context(const moecl_tensor *src, size_t src_off, moecl_tensor *dst,
                                        size_t dst_off, size_t n)
{
    cl_event ready = NULL, copied = NULL;
    MOECL_CL_CHECK(&src->ctx->device, clEnqueueMarkerWithWaitList(src->ctx->queue, 0, NULL, &ready));
    MOECL_CL_CHECK(&src->ctx->device, clFlush(src->ctx->queue));
    cl_int err = clEnqueueCopyBuffer(dst->ctx->queue, src->buf, dst->buf, src_off * sizeof(float),
                                     dst_off * sizeof(float), n * sizeof(float), 1, &ready, &copied);
    clReleaseEvent(ready);
    if (err != CL_SUCCESS) return moecl_cl_fail(err, "clEnqueueCopyBuffer", &dst->ctx->device);
    err = clFlush(dst->ctx->queue);
    if (err == CL_SUCCESS) err = clEnqueueBarrierWithWaitList(src->ctx->queue, 1, &copied, NULL);
    clReleaseEvent(copied);
    if (err != CL_SUCCESS) return moecl_cl_fail(err, "clEnqueueBarrierWithWaitList", &src->ctx->device);
    return MOECL_OK;
}

moecl_status model_move_rows(model *m, const moecl_tensor *src, size_t src_off, moecl_tensor *dst,
                             size_t dst_off, size_t n)
{
    if (n == 0) return MOECL_OK;
    if (src->ctx == dst->ctx) return model_copy_range(src->ctx, src->buf, src_off, dst->buf, dst_off, n);
    if (moecl_ctx_same_context(src->ctx, dst->ctx)) return copy_within_context(src, src_off, dst, dst_off, n);
    /* two devices (each its own OpenCL context): through the host, where the
     * rows wait no longer than the two blocking transfers */
    if (!m->host_relay) {
        m->host_relay = malloc(m->relay->count * sizeof *m->host_relay);
        if (!m->host_relay) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    if (n > m->relay->count)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%zu rows' floats between devices, more than the "
                          "%zu of the relay", n, m->relay->count);
    MOECL_CL_CHECK(&src->ctx->device,
                   clEnqueueReadBuffer(src->ctx->queue, src->buf, CL_TRUE, src_off * sizeof(float),
                                       n * sizeof(float), m->host_relay, 0, NULL, NULL));
    MOECL_CL_CHECK(&dst->ctx->device,
                   clEnqueueWriteBuffer(dst->ctx->queue, dst->buf, CL_TRUE, dst_off * sizeof(float),
                                        n * sizeof(float), m->host_relay, 0, NULL, NULL));
    return MOECL_OK;
}
