/* Filling the frozen-output table of a hierarchical sub-gate stage: the
 * frozen half of the hierarchical head run once over the training and
 * validation images (see frozen_cache.h). Above the heads, which it calls. */
#include "frozen_cache.h"
#include "internal.h"
#include "model_heads.h"
#include "progress.h"
#include "train.h"

#include <stdlib.h>
#include <string.h>

static moecl_status read_back(model *m, cl_mem buf, size_t bytes, void *out)
{
    MOECL_CL_CHECK(&m->ctx->device,
                   clEnqueueReadBuffer(m->ctx->queue, buf, CL_TRUE, 0, bytes, out, 0, NULL, NULL));
    return MOECL_OK;
}

static moecl_status cache_batch(model *m, frozen_cache *c, int first, int n, int *route, int *slot,
                                float *stacked)
{
    int C = m->classes, E = m->n_experts;
    size_t zs = model_stack_stride(m);
    layer_run eval = {.training = false};
    MOECL_TRY(hier_frozen_forward(m, n, &eval));
    MOECL_TRY(read_back(m, network_output(m->parts[m->baseline])->buf, (size_t)n * C * sizeof(float),
                        c->baseline + (size_t)first * C));
    MOECL_TRY(read_back(m, network_output(m->parts[m->gate])->buf, (size_t)n * E * sizeof(float),
                        c->gate + (size_t)first * E));
    MOECL_TRY(read_back(m, m->route->buf, (size_t)n * sizeof(int), route));
    MOECL_TRY(read_back(m, m->slot->buf, (size_t)n * sizeof(int), slot));
    MOECL_TRY(read_back(m, m->stacked->buf, (size_t)E * zs * sizeof(float), stacked));
    for (int i = 0; i < n; i++) {
        if (route[i] < 0 || route[i] >= E)
            return moecl_fail(MOECL_ERR_INVALID_ARG, "frozen cache: image %d was not routed", first + i);
        memcpy(c->chosen + (size_t)(first + i) * C, stacked + route[i] * zs + (size_t)slot[i] * C,
               (size_t)C * sizeof(float));
    }
    return MOECL_OK;
}

/* A run of consecutive table rows: the images of one data set, mirrored or not. */
typedef struct cache_segment {
    const dataset *d;
    bool mirrored;
    int first;
} cache_segment;

moecl_status frozen_cache_build(model *m, const dataset *train, const dataset *val,
                                const normalizer *norm, bool mirrored, float *host, int *labels,
                                FILE *log, bool *stopped)
{
    frozen_cache_free(m);
    *stopped = false;
    int B = m->batch, C = m->classes, E = m->n_experts;
    int val_first = mirrored ? 2 * train->count : train->count;
    cache_segment seg[3] = {{train, false, 0}, {train, true, train->count}, {val, false, val_first}};
    int n_seg = 0;
    for (int s = 0; s < 3; s++)
        if (seg[s].d && (!seg[s].mirrored || mirrored)) seg[n_seg++] = seg[s];
    frozen_cache *c = calloc(1, sizeof *c);
    int *idx = malloc((size_t)B * sizeof *idx), *route = malloc((size_t)B * sizeof *route),
        *slot = malloc((size_t)B * sizeof *slot);
    float *stacked = malloc(model_stack_stride(m) * E * sizeof *stacked);
    moecl_status st = MOECL_OK;
    if (c) {
        c->images = train->count;
        c->val = val;
        c->val_first = val_first;
        c->rows = val_first + (val ? val->count : 0);
        c->baseline = malloc((size_t)c->rows * C * sizeof(float));
        c->gate = malloc((size_t)c->rows * E * sizeof(float));
        c->chosen = malloc((size_t)c->rows * C * sizeof(float));
        c->staged = malloc((size_t)B * (2 * C + E) * sizeof(float));
    }
    if (!c || !idx || !route || !slot || !stacked || !c->baseline || !c->gate || !c->chosen ||
        !c->staged)
        st = moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory for the frozen parts' outputs "
                        "(%d images)", c ? c->rows : train->count);
    int bc[2] = {B, C};
    if (st == MOECL_OK) st = moecl_tensor_create(m->ctx, 2, bc, &c->chosen_batch);
    progress bar;
    progress_start(&bar, log, c ? c->rows : 0, "img");
    for (int s = 0; s < n_seg && st == MOECL_OK && !*stopped; s++)
        for (int start = 0; start < seg[s].d->count && st == MOECL_OK; start += B) {
            int left = seg[s].d->count - start, n = left < B ? left : B, first = seg[s].first + start;
            for (int i = 0; i < n; i++) idx[i] = start + i;
            dataset_make_view_batch(seg[s].d, idx, n, norm, seg[s].mirrored, 0, 0, host, labels);
            st = moecl_tensor_upload_part(m->images, host, (size_t)n * CIFAR_IMAGE_BYTES);
            if (st == MOECL_OK) st = cache_batch(m, c, first, n, route, slot, stacked);
            progress_update(&bar, first + n, "frozen parts' outputs");
            if (moecl_interrupted) {
                *stopped = true;
                break;
            }
        }
    progress_clear(&bar);
    free(idx), free(route), free(slot), free(stacked);
    m->cache = c;
    if (st != MOECL_OK || *stopped) frozen_cache_free(m);
    return st;
}
