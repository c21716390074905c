/* Kernel launches with checked arguments, and the per-context workspaces
 * that layers share for their large temporaries (im2col columns, GEMM
 * results), reserved at set-up so that no step allocates. */
#include "internal.h"

#include <stdio.h>

/* Sets the arguments and enqueues over `dims` dimensions; local NULL lets
 * the driver choose the work-group size. */
static moecl_status launch_nd(moecl_ctx *ctx, const char *name, cl_uint dims,
                              const size_t *global, const size_t *local, const moecl_karg *args,
                              int nargs)
{
    cl_kernel k = moecl_kernel(ctx, name);
    if (!k) return MOECL_ERR_INVALID_ARG;
    for (cl_uint d = 0; d < dims; d++)
        if (global[d] == 0) return MOECL_OK;
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            moecl_cl_fail(err, "clSetKernelArg", &ctx->device);
            return moecl_fail(MOECL_ERR_OPENCL, "%s (kernel %s, argument %d)", moecl_last_error(),
                              name, i);
        }
    }
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, global, local, 0, NULL,
                                        moecl_profile_event(ctx, name));
    if (err != CL_SUCCESS) {
        moecl_status st = moecl_cl_fail(err, "clEnqueueNDRangeKernel", &ctx->device);
        size_t items = 1;
        for (cl_uint d = 0; d < dims; d++) items *= global[d];
        return moecl_fail(st, "%s (kernel %s, %zu work items)", moecl_last_error(), name, items);
    }
    return MOECL_OK;
}

moecl_status moecl_launch(moecl_ctx *ctx, const char *name, size_t global, size_t local,
                          const moecl_karg *args, int nargs)
{
    if (local) global = (global + local - 1) / local * local;
    return launch_nd(ctx, name, 1, &global, local ? &local : NULL, args, nargs);
}

/* Streaming kernels (cl/lib/stream.cl) take MOECL_STREAM_CHUNK elements a
 * work item. Shaped for a CPU, small groups: PoCL then spreads them over its
 * threads evenly, where a group of its own choosing can be thousands of
 * items (measured: 64 beat its choice by 2x on a 4M-element ReLU). */
moecl_status moecl_launch_stream(moecl_ctx *ctx, const char *name, size_t count,
                                 const moecl_karg *args, int nargs)
{
    size_t items = (count + MOECL_STREAM_CHUNK - 1) / MOECL_STREAM_CHUNK;
    return moecl_launch(ctx, name, items, ctx->cpu_shaped ? 64 : 0, args, nargs);
}

moecl_status moecl_launch_3d(moecl_ctx *ctx, const char *name, size_t global0, size_t global1,
                             size_t global2, const moecl_karg *args, int nargs)
{
    size_t global[3] = {global0, global1, global2};
    return launch_nd(ctx, name, 3, global, NULL, args, nargs);
}

moecl_status moecl_workspace_reserve(moecl_ctx *ctx, int slot, size_t floats)
{
    if (slot < 0 || slot >= MOECL_WORKSPACES)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "workspace slot %d", slot);
    size_t bytes = floats * sizeof(float);
    if (bytes <= ctx->workspace_bytes[slot]) return MOECL_OK;
    /* refused before the old buffer goes: a failed growth leaves it usable */
    uint64_t limit = moecl_memory_limit(&ctx->device);
    if (limit && ctx->device_bytes - ctx->workspace_bytes[slot] + bytes > limit)
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY,
                          "out of device memory: a workspace of %.1f MiB would bring moecl's buffers "
                          "past the %.1f MiB of device %d '%s'; a smaller --batch needs less",
                          (double)bytes / 1048576.0, (double)limit / 1048576.0, ctx->device.index,
                          ctx->device.name);
    moecl_buffer_release(ctx, ctx->workspace[slot], ctx->workspace_bytes[slot]);
    ctx->workspace[slot] = NULL;
    ctx->workspace_bytes[slot] = 0;
    MOECL_TRY(moecl_buffer_create(ctx, bytes, "a workspace", &ctx->workspace[slot]));
    ctx->workspace_bytes[slot] = bytes;
    return MOECL_OK;
}

cl_mem moecl_workspace(moecl_ctx *ctx, int slot) { return ctx->workspace[slot]; }
