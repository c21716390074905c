/* The table of a hierarchical sub-gate stage's frozen outputs: its rows
 * and their upload into a step (see frozen_cache.h). Below the heads: the
 * routed head reads it; frozen_cache_build.c, above them, fills it. */
#include "frozen_cache.h"
#include "internal.h"
#include "model_parts.h"

#include <stdlib.h>
#include <string.h>

bool frozen_cache_applies(const model *m)
{
    if (m->head != HEAD_HIERARCHICAL || m->stage < 0 || m->dense_eval) return false;
    if (m->stages[m->stage].alone >= 0) return false;
    if (model_part_learns(m, m->baseline) || model_part_learns(m, m->gate)) return false;
    for (int k = 0; k < m->n_experts; k++)
        if (model_part_learns(m, m->experts[k])) return false;
    return true;
}

int frozen_cache_row(const frozen_cache *c, int index, bool mirrored)
{
    return mirrored && c->val_first > c->images ? c->images + index : index;
}

int frozen_cache_eval_row(const frozen_cache *c, const dataset *d, int index)
{
    return c && c->val && c->val == d ? c->val_first + index : -1;
}

static moecl_status write_to(model *m, cl_mem buf, size_t bytes, const void *in)
{
    MOECL_CL_CHECK(&m->ctx->device,
                   clEnqueueWriteBuffer(m->ctx->queue, buf, CL_TRUE, 0, bytes, in, 0, NULL, NULL));
    return MOECL_OK;
}

/* One batch of rows first..first+n: the frozen half of the forward pass,
 * read back into the table. */
moecl_status frozen_cache_upload(model *m, const int *rows, int n)
{
    frozen_cache *c = m->cache;
    int C = m->classes, E = m->n_experts;
    float *base = c->staged, *gate = base + (size_t)n * C, *chosen = gate + (size_t)n * E;
    for (int i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= c->rows)
            return moecl_fail(MOECL_ERR_INVALID_ARG, "frozen cache: row %d outside 0..%d", rows[i],
                              c->rows - 1);
        memcpy(base + (size_t)i * C, c->baseline + (size_t)rows[i] * C, (size_t)C * sizeof(float));
        memcpy(gate + (size_t)i * E, c->gate + (size_t)rows[i] * E, (size_t)E * sizeof(float));
        memcpy(chosen + (size_t)i * C, c->chosen + (size_t)rows[i] * C, (size_t)C * sizeof(float));
    }
    MOECL_TRY(write_to(m, network_output(m->parts[m->baseline])->buf, (size_t)n * C * sizeof(float),
                       base));
    MOECL_TRY(write_to(m, network_output(m->parts[m->gate])->buf, (size_t)n * E * sizeof(float), gate));
    return write_to(m, c->chosen_batch->buf, (size_t)n * C * sizeof(float), chosen);
}

void frozen_cache_free(model *m)
{
    frozen_cache *c = m->cache;
    if (!c) return;
    free(c->baseline), free(c->gate), free(c->chosen), free(c->staged);
    moecl_tensor_destroy(c->chosen_batch);
    free(c);
    m->cache = NULL;
    m->cache_rows = NULL;
}
