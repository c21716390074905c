/* Device buffers, counted (see moecl_buffer_create in internal.h). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* The memory moecl may fill: the device's global memory, or
 * MOECL_DEVICE_MEMORY_MB where the driver reports less than the device can
 * hold (PoCL reports a fraction of the host's memory). */
uint64_t moecl_memory_limit(const moecl_device_info *d)
{
    const char *env = getenv("MOECL_DEVICE_MEMORY_MB");
    char *end = NULL;
    double mb = env && *env ? strtod(env, &end) : 0;
    if (end && *end == '\0' && mb >= 1) return (uint64_t)(mb * 1024 * 1024);
    return d->global_mem_bytes;
}

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

moecl_status moecl_buffer_create(moecl_ctx *ctx, size_t bytes, const char *what, cl_mem *out)
{
    *out = NULL;
    const moecl_device_info *d = &ctx->device;
    if (bytes > d->max_alloc_bytes)
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY,
                          "out of device memory: %s of %.1f MiB is larger than the largest "
                          "allocation of device %d '%s' (%.1f MiB); a smaller --batch needs less",
                          what, mib(bytes), d->index, d->name, mib(d->max_alloc_bytes));
    uint64_t limit = moecl_memory_limit(d);
    if (limit && ctx->device_bytes + bytes > limit)
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY,
                          "out of device memory: %s of %.1f MiB would bring moecl's buffers to "
                          "%.1f MiB, more than the %.1f MiB of device %d '%s'; a smaller --batch "
                          "needs less (MOECL_DEVICE_MEMORY_MB sets the limit where the driver "
                          "reports less than the device holds)", what, mib(bytes),
                          mib(ctx->device_bytes + bytes), mib(limit), d->index, d->name);
    cl_int err = CL_SUCCESS;
    cl_mem buf = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
    if (err != CL_SUCCESS) {
        moecl_status st = moecl_cl_fail(err, "clCreateBuffer", d);
        char first[400];
        snprintf(first, sizeof first, "%s", moecl_last_error());
        return moecl_fail(st, "%s (%s of %.1f MiB, with %.1f MiB of moecl's buffers on the device)",
                          first, what, mib(bytes), mib(ctx->device_bytes));
    }
    ctx->device_bytes += bytes;
    *out = buf;
    return MOECL_OK;
}

void moecl_buffer_release(moecl_ctx *ctx, cl_mem buf, size_t bytes)
{
    if (!buf) return;
    clReleaseMemObject(buf);
    ctx->device_bytes -= bytes <= ctx->device_bytes ? bytes : ctx->device_bytes;
}
