/* Device tensors: a float buffer with a shape of up to four dimensions. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

moecl_status moecl_tensor_create(moecl_ctx *ctx, int ndim, const int *shape, moecl_tensor **out)
{
    *out = NULL;
    if (ndim < 1 || ndim > MOECL_MAX_DIMS)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "a tensor has 1 to %d dimensions, not %d",
                          MOECL_MAX_DIMS, ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return moecl_fail(MOECL_ERR_INVALID_ARG, "tensor dimension %d is %d (must be > 0)",
                              i, shape[i]);
        count *= (size_t)shape[i];
    }
    size_t bytes = count * sizeof(float);
    moecl_tensor *t = calloc(1, sizeof *t);
    if (!t) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    moecl_status st = moecl_buffer_create(ctx, bytes, "a tensor", &t->buf);
    if (st != MOECL_OK) {
        free(t);
        return st;
    }
    t->ctx = ctx;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->count = count;
    *out = t;
    return MOECL_OK;
}

void moecl_tensor_destroy(moecl_tensor *t)
{
    if (!t) return;
    if (t->buf) moecl_buffer_release(t->ctx, t->buf, t->count * sizeof(float));
    free(t);
}

static moecl_status check_count(const moecl_tensor *t, size_t count, const char *what)
{
    if (count != t->count) {
        char shape[64];
        moecl_tensor_shape_string(t, shape, sizeof shape);
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s of %zu floats into a tensor %s of %zu", what,
                          count, shape, t->count);
    }
    return MOECL_OK;
}

moecl_status moecl_tensor_upload(moecl_tensor *t, const float *host, size_t count)
{
    MOECL_TRY(check_count(t, count, "upload"));
    MOECL_CL_CHECK(&t->ctx->device, clEnqueueWriteBuffer(t->ctx->queue, t->buf, CL_TRUE, 0,
                                                         count * sizeof(float), host, 0, NULL,
                                                         NULL));
    return MOECL_OK;
}

moecl_status moecl_tensor_upload_part(moecl_tensor *t, const float *host, size_t count)
{
    if (count > t->count) return check_count(t, count, "upload");
    MOECL_CL_CHECK(&t->ctx->device, clEnqueueWriteBuffer(t->ctx->queue, t->buf, CL_TRUE, 0,
                                                         count * sizeof(float), host, 0, NULL,
                                                         NULL));
    return MOECL_OK;
}

moecl_status moecl_tensor_download(const moecl_tensor *t, float *host, size_t count)
{
    MOECL_TRY(check_count(t, count, "download"));
    MOECL_CL_CHECK(&t->ctx->device, clEnqueueReadBuffer(t->ctx->queue, t->buf, CL_TRUE, 0,
                                                        count * sizeof(float), host, 0, NULL,
                                                        NULL));
    return MOECL_OK;
}

moecl_status moecl_tensor_fill(moecl_tensor *t, float value)
{
    return MOECL_LAUNCH_STREAM(t->ctx, "fill_f32", t->count, MOECL_ARG_MEM(t->buf),
                        MOECL_ARG_FLOAT(value), MOECL_ARG_UINT(t->count));
}

moecl_status moecl_tensor_copy(const moecl_tensor *src, moecl_tensor *dst, size_t count)
{
    if (count > src->count || count > dst->count)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "copy of %zu floats between tensors of %zu and %zu",
                          count, src->count, dst->count);
    return MOECL_LAUNCH_STREAM(src->ctx, "copy_f32", count, MOECL_ARG_MEM(src->buf),
                        MOECL_ARG_MEM(dst->buf), MOECL_ARG_UINT(count));
}

void moecl_tensor_shape_string(const moecl_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %d" : "%d", t->shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}
