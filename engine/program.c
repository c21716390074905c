/* Building OpenCL programs from source, through the on-disk cache, with the
 * full build log on failure. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *moecl_cache_result_name(moecl_cache_result r)
{
    switch (r) {
    case MOECL_CACHE_MISS: return "miss";
    case MOECL_CACHE_HIT: return "hit";
    case MOECL_CACHE_REBUILT: return "rebuilt";
    default: return "off";
    }
}

static char *build_log(const moecl_ctx *ctx, cl_program program)
{
    size_t size = 0;
    if (clGetProgramBuildInfo(program, ctx->device.id, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) !=
            CL_SUCCESS || size == 0)
        return NULL;
    char *log = malloc(size + 1);
    if (!log) return NULL;
    if (clGetProgramBuildInfo(program, ctx->device.id, CL_PROGRAM_BUILD_LOG, size, log, NULL) !=
        CL_SUCCESS) {
        free(log);
        return NULL;
    }
    log[size] = '\0';
    return log;
}

/* Loads a cached binary and links it for the device; false if unusable. */
static bool build_from_binary(moecl_ctx *ctx, const unsigned char *binary, size_t size,
                              const char *options, cl_program *out)
{
    cl_int status = CL_SUCCESS, err = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(ctx->context, 1, &ctx->device.id, &size, &binary,
                                             &status, &err);
    if (err != CL_SUCCESS || status != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        return false;
    }
    if (clBuildProgram(p, 1, &ctx->device.id, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return false;
    }
    *out = p;
    return true;
}

static moecl_status build_from_source(moecl_ctx *ctx, const char *name, const char *source,
                                      const char *options, cl_program *out)
{
    cl_int err = CL_SUCCESS;
    size_t len = strlen(source);
    cl_program p = clCreateProgramWithSource(ctx->context, 1, &source, &len, &err);
    if (err != CL_SUCCESS) return moecl_cl_fail(err, "clCreateProgramWithSource", &ctx->device);
    err = clBuildProgram(p, 1, &ctx->device.id, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char *log = build_log(ctx, p);
        moecl_fail(MOECL_ERR_BUILD,
                   "kernel program '%s' failed to build: %s (%d)\n"
                   "  device: %d '%s' (%s, driver %s)\n"
                   "  build options: %s\n"
                   "  build log:\n%s",
                   name, moecl_cl_error_name(err), (int)err, ctx->device.index, ctx->device.name,
                   ctx->device.platform_name, ctx->device.driver_version,
                   options && *options ? options : "(none)",
                   log && *log ? log : "(the driver gave no build log)");
        free(log);
        clReleaseProgram(p);
        return MOECL_ERR_BUILD;
    }
    *out = p;
    return MOECL_OK;
}

/* The program's binary for the context's device. A program built from
 * source in a context shared with other devices (expert placement) belongs
 * to all of them and is built for this one only: its binary is found by
 * the device's place in the program's list. */
static bool program_binary(const moecl_ctx *ctx, cl_program p, unsigned char **binary, size_t *size)
{
    *binary = NULL;
    cl_uint n = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_NUM_DEVICES, sizeof n, &n, NULL) != CL_SUCCESS || n == 0 ||
        n > 64)
        return false;
    cl_device_id ids[64];
    size_t sizes[64];
    unsigned char *ptrs[64] = {0};
    if (clGetProgramInfo(p, CL_PROGRAM_DEVICES, n * sizeof ids[0], ids, NULL) != CL_SUCCESS ||
        clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, n * sizeof sizes[0], sizes, NULL) != CL_SUCCESS)
        return false;
    cl_uint at = 0;
    while (at < n && ids[at] != ctx->device.id) at++;
    if (at == n || sizes[at] == 0) return false;
    *size = sizes[at];
    for (cl_uint i = 0; i < n; i++) /* every device's slot, as the call asks */
        if (sizes[i] && !(ptrs[i] = malloc(sizes[i]))) break;
    bool ok = ptrs[at] && clGetProgramInfo(p, CL_PROGRAM_BINARIES, n * sizeof ptrs[0], ptrs, NULL) == CL_SUCCESS;
    for (cl_uint i = 0; i < n; i++)
        if (i != at || !ok) free(ptrs[i]);
    if (ok) *binary = ptrs[at];
    return ok;
}

moecl_status moecl_program_build(moecl_ctx *ctx, const char *name, const char *source,
                                 const char *options, cl_program *program,
                                 moecl_program_report *report)
{
    double start = moecl_seconds();
    moecl_program_report r;
    memset(&r, 0, sizeof r);
    snprintf(r.name, sizeof r.name, "%s", name);
    r.source_bytes = strlen(source);
    *program = NULL;
    if (!options) options = "";

    char key[65];
    bool cached = ctx->cache_dir[0] != '\0';
    r.cache = MOECL_CACHE_DISABLED;
    if (cached) {
        moecl_cache_key(&ctx->device, source, options, key);
        unsigned char *binary = NULL;
        size_t size = 0;
        bool corrupt = false;
        if (moecl_cache_load(ctx->cache_dir, key, &binary, &size, &corrupt)) {
            if (build_from_binary(ctx, binary, size, options, program))
                r.cache = MOECL_CACHE_HIT;
            else
                corrupt = true; /* checks passed but the driver refused it */
        }
        free(binary);
        if (r.cache != MOECL_CACHE_HIT) r.cache = corrupt ? MOECL_CACHE_REBUILT : MOECL_CACHE_MISS;
    }

    if (!*program) {
        MOECL_TRY(build_from_source(ctx, name, source, options, program));
        unsigned char *binary = NULL;
        size_t size = 0;
        if (cached && program_binary(ctx, *program, &binary, &size))
            moecl_cache_store(ctx->cache_dir, key, binary, size);
        free(binary);
    }

    size_t nk = 0;
    clGetProgramInfo(*program, CL_PROGRAM_NUM_KERNELS, sizeof nk, &nk, NULL);
    r.kernels = (unsigned)nk;
    r.seconds = moecl_seconds() - start;
    if (report) *report = r;
    return MOECL_OK;
}
