/* A context: the chosen device, its command queue, and every embedded
 * kernel program built once at creation (from the cache where possible). */
#include "internal.h"
#include "tuning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Options every embedded program is built with. Not -cl-fast-relaxed-math:
 * training must be able to see NaN and infinity. */
static const char EMBEDDED_BUILD_OPTIONS[] = "-cl-std=CL1.2 -cl-mad-enable";

static moecl_status collect_kernels(moecl_ctx *ctx, cl_program program)
{
    cl_uint n = 0;
    MOECL_CL_CHECK(&ctx->device, clCreateKernelsInProgram(program, 0, NULL, &n));
    if (n == 0) return MOECL_OK;
    cl_kernel *ks = calloc(n, sizeof *ks);
    moecl_kernel_entry *grown =
        realloc(ctx->kernels, (size_t)(ctx->kernel_count + (int)n) * sizeof *grown);
    if (!ks || !grown) {
        free(ks);
        if (grown) ctx->kernels = grown;
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory creating kernels");
    }
    ctx->kernels = grown;
    cl_int err = clCreateKernelsInProgram(program, n, ks, NULL);
    if (err != CL_SUCCESS) {
        free(ks);
        return moecl_cl_fail(err, "clCreateKernelsInProgram", &ctx->device);
    }
    for (cl_uint i = 0; i < n; i++) {
        moecl_kernel_entry *e = &ctx->kernels[ctx->kernel_count++];
        e->kernel = ks[i];
        e->name[0] = '\0';
        clGetKernelInfo(ks[i], CL_KERNEL_FUNCTION_NAME, sizeof e->name, e->name, NULL);
        e->name[sizeof e->name - 1] = '\0';
    }
    free(ks);
    return MOECL_OK;
}

static moecl_status build_embedded(moecl_ctx *ctx)
{
    int n = moecl_embedded_sources_count;
    ctx->programs = calloc((size_t)n, sizeof *ctx->programs);
    ctx->reports = calloc((size_t)n, sizeof *ctx->reports);
    if (!ctx->programs || !ctx->reports)
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    /* the shared helpers (cl/lib) go in front of every kernel file */
    size_t libs = 0, longest = 0;
    for (int i = 0; i < moecl_embedded_cl_libs_count; i++) libs += moecl_embedded_cl_libs[i].size;
    for (int i = 0; i < n; i++)
        if (moecl_embedded_sources[i].size > longest) longest = moecl_embedded_sources[i].size;
    char *text = malloc(libs + longest + 1);
    if (!text) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t at = 0;
    for (int i = 0; i < moecl_embedded_cl_libs_count; i++) {
        memcpy(text + at, moecl_embedded_cl_libs[i].source, moecl_embedded_cl_libs[i].size);
        at += moecl_embedded_cl_libs[i].size;
    }
    for (int i = 0; i < n; i++) {
        const moecl_embedded_source *src = &moecl_embedded_sources[i];
        memcpy(text + at, src->source, src->size + 1);
        moecl_status st = moecl_program_build(ctx, src->name, text, EMBEDDED_BUILD_OPTIONS,
                                              &ctx->programs[i], &ctx->reports[i]);
        if (st != MOECL_OK) {
            free(text);
            return st;
        }
        ctx->program_count++;
        st = collect_kernels(ctx, ctx->programs[i]);
        if (st != MOECL_OK) {
            free(text);
            return st;
        }
    }
    free(text);
    return MOECL_OK;
}

/* The device's GEMM tuning files, if `moecl tune` made them: applied, or
 * ignored with a warning when damaged (defaults are always safe). */
static void apply_tuning(moecl_ctx *ctx)
{
    size_t used = 0;
    ctx->tuning_note[0] = '\0';
    for (int i = 0; i < MOECL_TUNED_KERNELS; i++) {
        char path[1200];
        moecl_tuning_path(ctx->cache_dir, &ctx->device, moecl_tuned_kernels[i], path, sizeof path);
        if (access(path, F_OK) != 0) continue;
        moecl_tuning t;
        moecl_status st = moecl_tuning_load(path, &ctx->device, &t);
        if (st == MOECL_OK) st = moecl_tuning_apply(ctx, &t);
        char note[sizeof ctx->tuning_note];
        if (st == MOECL_OK) {
            snprintf(note, sizeof note, "GEMM tuned (%s)", path);
        } else {
            snprintf(note, sizeof note, "ignored the GEMM tuning file: %s", moecl_last_error());
            fprintf(stderr, "moecl: warning: %s; CLBlast's defaults are used (run 'moecl tune' "
                            "again, or 'moecl tune --reset')\n", note);
        }
        if (used < sizeof ctx->tuning_note)
            used += (size_t)snprintf(ctx->tuning_note + used, sizeof ctx->tuning_note - used, "%s%s",
                                     used ? "; " : "", note);
    }
}

/* The devices of a share_with list on `device`'s platform, added to the
 * context's list (the others keep contexts of their own). */
static moecl_status add_sharing_devices(const moecl_device_info *device, const char *spec,
                                        moecl_ctx *ctx)
{
    const char *env = getenv("MOECL_SHARED_CONTEXT");
    if (env && strcmp(env, "0") == 0) return MOECL_OK;
    moecl_device_info *devices = NULL;
    int count = 0;
    MOECL_TRY(moecl_devices_list(&devices, &count));
    moecl_status st = MOECL_OK;
    for (const char *p = spec; *p && st == MOECL_OK;) {
        char item[64];
        p = moecl_device_list_next(p, item);
        int index = 0;
        /* a list naming no such device is reported where it is opened */
        if (moecl_device_select(devices, count, item, &index) != MOECL_OK) continue;
        const moecl_device_info *d = &devices[index];
        /* another platform's device keeps a context of its own; one listed twice is in already */
        bool skip = d->platform != device->platform;
        for (int i = 0; i < ctx->n_context_devices && !skip; i++) skip = ctx->context_devices[i] == d->id;
        if (skip) continue;
        if (ctx->n_context_devices == MOECL_CONTEXT_DEVICES_MAX)
            st = moecl_fail(MOECL_ERR_INVALID_ARG, "'%s': more than %d devices", spec,
                            MOECL_CONTEXT_DEVICES_MAX);
        else
            ctx->context_devices[ctx->n_context_devices++] = d->id;
    }
    free(devices);
    return st;
}

/* join: a context made to share its OpenCL context with this device, which
 * opens in it (moecl_ctx_create_like); NULL: an OpenCL context of its own. */
static moecl_status ctx_create(const moecl_device_info *device, const moecl_ctx_options *options,
                               const moecl_ctx *join, moecl_ctx **out)
{
    *out = NULL;
    moecl_ctx_options defaults = {0};
    if (!options) options = &defaults;
    moecl_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    ctx->device = *device;

    cl_int err = CL_SUCCESS;
    moecl_status st = MOECL_OK;
    if (join) { /* moecl_ctx_create_like: the context made to be shared */
        ctx->context = join->context;
        clRetainContext(ctx->context);
        ctx->n_context_devices = join->n_context_devices;
        memcpy(ctx->context_devices, join->context_devices, sizeof ctx->context_devices);
    } else {
        ctx->context_devices[ctx->n_context_devices++] = device->id;
        if (options->share_with) {
            st = add_sharing_devices(device, options->share_with, ctx);
            if (st != MOECL_OK) goto fail;
        }
        cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                         (cl_context_properties)device->platform, 0};
        ctx->context = clCreateContext(props, (cl_uint)ctx->n_context_devices, ctx->context_devices,
                                       NULL, NULL, &err);
        if (err != CL_SUCCESS) {
            st = moecl_cl_fail(err, "clCreateContext", device);
            goto fail;
        }
    }
    ctx->profiling = options->profiling;
    ctx->no_tuning = options->no_tuning;
    const char *shape = getenv("MOECL_KERNEL_SHAPE");
    ctx->cpu_shaped = shape && *shape ? strcmp(shape, "gpu") != 0 : !device->is_gpu;
    cl_command_queue_properties qprops = options->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    ctx->queue = clCreateCommandQueue(ctx->context, device->id, qprops, &err);
    if (err != CL_SUCCESS) {
        st = moecl_cl_fail(err, "clCreateCommandQueue", device);
        goto fail;
    }
    if (!options->no_cache)
        moecl_cache_dir_resolve(options->cache_dir, ctx->cache_dir, sizeof ctx->cache_dir);
    st = build_embedded(ctx);
    if (st != MOECL_OK) goto fail;
    if (ctx->cache_dir[0] && !options->no_tuning) apply_tuning(ctx);
    const char *gemm = options->gemm ? options->gemm : getenv("MOECL_GEMM");
    st = moecl_gemm_state_init(ctx, gemm, options->gemm_progress);
    if (st != MOECL_OK) goto fail;
    *out = ctx;
    return MOECL_OK;
fail:
    moecl_ctx_destroy(ctx);
    return st;
}

moecl_status moecl_ctx_create(const moecl_device_info *device, const moecl_ctx_options *options,
                              moecl_ctx **out)
{
    return ctx_create(device, options, NULL, out);
}

moecl_status moecl_ctx_create_like(const moecl_ctx *like, const moecl_device_info *device,
                                   moecl_ctx **ctx)
{
    moecl_ctx_options o = {.cache_dir = like->cache_dir[0] ? like->cache_dir : NULL,
                           .no_cache = !like->cache_dir[0], .profiling = like->profiling,
                           .no_tuning = like->no_tuning, .gemm = like->gemm.spec};
    const moecl_ctx *join = NULL;
    for (int i = 1; i < like->n_context_devices; i++)
        if (like->context_devices[i] == device->id) join = like;
    return ctx_create(device, &o, join, ctx);
}

const char *moecl_ctx_tuning_note(const moecl_ctx *ctx) { return ctx->tuning_note; }

void moecl_ctx_destroy(moecl_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    for (int i = 0; i < ctx->kernel_count; i++) clReleaseKernel(ctx->kernels[i].kernel);
    for (int i = 0; i < ctx->program_count; i++) clReleaseProgram(ctx->programs[i]);
    if (ctx->gemm_temp) clReleaseMemObject(ctx->gemm_temp);
    moecl_gemm_state_release(&ctx->gemm);
    moecl_choices_release(ctx);
    moecl_profile_release(ctx);
    free(ctx->profile.records);
    for (int i = 0; i < MOECL_WORKSPACES; i++)
        if (ctx->workspace[i]) clReleaseMemObject(ctx->workspace[i]);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx->kernels);
    free(ctx->programs);
    free(ctx->reports);
    free(ctx);
}

const moecl_device_info *moecl_ctx_device(const moecl_ctx *ctx) { return &ctx->device; }
cl_context moecl_ctx_cl_context(const moecl_ctx *ctx) { return ctx->context; }

bool moecl_ctx_same_context(const moecl_ctx *a, const moecl_ctx *b) { return a->context == b->context; }
cl_command_queue moecl_ctx_queue(const moecl_ctx *ctx) { return ctx->queue; }

const moecl_program_report *moecl_ctx_reports(const moecl_ctx *ctx, int *count)
{
    *count = ctx->program_count;
    return ctx->reports;
}

const char *moecl_ctx_cache_dir(const moecl_ctx *ctx)
{
    return ctx->cache_dir[0] ? ctx->cache_dir : NULL;
}

cl_kernel moecl_kernel(moecl_ctx *ctx, const char *name)
{
    for (int i = 0; i < ctx->kernel_count; i++)
        if (strcmp(ctx->kernels[i].name, name) == 0) return ctx->kernels[i].kernel;
    moecl_fail(MOECL_ERR_INVALID_ARG, "no kernel named '%s' among the embedded programs", name);
    return NULL;
}

moecl_status moecl_ctx_finish(moecl_ctx *ctx) { return moecl_queue_finish(ctx); }
