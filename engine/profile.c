/* Where a step's time goes: while recording, every enqueue (our kernels,
 * our GEMM's, CLBlast's routines) is bracketed by the queue's profiling
 * timestamps, and attributed to the layer and pass running it. The queue
 * must have been created with profiling (moecl_ctx_options.profiling). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

moecl_status moecl_profile_start(moecl_ctx *ctx)
{
    if (!ctx->profiling)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "profiling needs a context opened with profiling on");
    moecl_profile_release(ctx);
    ctx->profile.recording = true;
    return MOECL_OK;
}

void moecl_profile_scope(moecl_ctx *ctx, const char *layer, const char *pass)
{
    ctx->profile.layer = layer;
    ctx->profile.pass = pass;
}

cl_event *moecl_profile_event(moecl_ctx *ctx, const char *what)
{
    moecl_profile *p = &ctx->profile;
    if (!p->recording) return NULL;
    if (p->count == p->capacity) {
        int cap = p->capacity ? 2 * p->capacity : 256;
        moecl_profile_record *grown = realloc(p->records, (size_t)cap * sizeof *grown);
        if (!grown) return NULL; /* fewer records, not a failed step */
        p->records = grown;
        p->capacity = cap;
    }
    moecl_profile_record *r = &p->records[p->count++];
    memset(r, 0, sizeof *r);
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->layer, sizeof r->layer, "%s%s%s", p->layer ? p->layer : "(outside layers)",
             p->pass ? " " : "", p->pass ? p->pass : "");
    return &r->event;
}

moecl_status moecl_profile_stop(moecl_ctx *ctx, moecl_profile_record **records, int *count)
{
    moecl_profile *p = &ctx->profile;
    p->recording = false;
    MOECL_TRY(moecl_queue_finish(ctx));
    for (int i = 0; i < p->count; i++) {
        moecl_profile_record *r = &p->records[i];
        cl_ulong start = 0, end = 0;
        if (!r->event) continue;
        if (r->before)
            clGetEventProfilingInfo(r->before, CL_PROFILING_COMMAND_END, sizeof start, &start, NULL);
        else
            clGetEventProfilingInfo(r->event, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL);
        clGetEventProfilingInfo(r->event, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
        r->ms = end > start ? (double)(end - start) * 1e-6 : 0;
    }
    *records = p->records;
    *count = p->count;
    return MOECL_OK;
}

void moecl_profile_release(moecl_ctx *ctx)
{
    moecl_profile *p = &ctx->profile;
    for (int i = 0; i < p->count; i++) {
        if (p->records[i].event) clReleaseEvent(p->records[i].event);
        if (p->records[i].before) clReleaseEvent(p->records[i].before);
    }
    if (p->pending) clReleaseEvent(p->pending);
    p->pending = NULL;
    p->count = 0;
    p->recording = false;
}

/* CLBlast enqueues several kernels per routine and reports one event:
 * markers before and after bracket the whole routine instead (in an
 * in-order queue a marker completes when everything before it has). */
moecl_status moecl_profile_bracket_begin(moecl_ctx *ctx)
{
    moecl_profile *p = &ctx->profile;
    if (!p->recording) return MOECL_OK;
    if (p->pending) clReleaseEvent(p->pending);
    p->pending = NULL;
    MOECL_CL_CHECK(&ctx->device, clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &p->pending));
    return MOECL_OK;
}

moecl_status moecl_profile_bracket_end(moecl_ctx *ctx, const char *what)
{
    moecl_profile *p = &ctx->profile;
    if (!p->recording || !p->pending) return MOECL_OK;
    cl_event *ev = moecl_profile_event(ctx, what);
    if (!ev) return MOECL_OK;
    p->records[p->count - 1].before = p->pending;
    p->pending = NULL;
    MOECL_CL_CHECK(&ctx->device, clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, ev));
    return MOECL_OK;
}
