/* Data-parallel steps: the gradients of all active parameters go through
 * one host buffer and one MPI_Allreduce per step (not one per tensor). */
#include "train_dist.h"
#include "expert_exchange.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

moecl_status dist_split_parse(const char *spec, double *weights, int ranks)
{
    if (ranks > DIST_MAX_SPLIT)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "--split weighs at most %d ranks, not %d",
                          DIST_MAX_SPLIT, ranks);
    int n = 0;
    for (const char *p = spec; *p;) {
        char *end = NULL;
        double w = strtod(p, &end);
        if (end == p || !(w > 0) || !isfinite(w) || (*end && *end != ','))
            return moecl_fail(MOECL_ERR_INVALID_ARG, "--split %s: each rank's weight must be a "
                              "positive number, separated by commas (\"1,3\")", spec);
        if (n < ranks) weights[n] = w;
        n++;
        p = *end ? end + 1 : end;
    }
    if (n != ranks)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "--split %s gives %d weights for %d %s", spec, n,
                          ranks, ranks == 1 ? "device" : "devices or ranks");
    return MOECL_OK;
}

void dist_share(int n, const double *weights, int *first, int *count)
{
    dist_share_of(n, weights, dist_rank(), first, count);
}

void dist_share_of(int n, const double *weights, int r, int *first, int *count)
{
    int ranks = dist_size();
    if (!weights) {
        int base = n / ranks, extra = n % ranks;
        *count = base + (r < extra);
        *first = r * base + (r < extra ? r : extra);
        return;
    }
    double total = 0, before = 0;
    for (int k = 0; k < ranks; k++) total += weights[k];
    for (int k = 0; k < r; k++) before += weights[k];
    int start = (int)floor(n * before / total + 0.5);
    int end = (int)floor(n * (before + weights[r]) / total + 0.5);
    *first = start;
    *count = end - start;
}

static moecl_status reserve(grad_exchange *g, size_t floats)
{
    if (floats <= g->capacity) return MOECL_OK;
    float *grown = realloc(g->flat, floats * sizeof *grown);
    if (!grown) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory (%zu floats "
                                  "to exchange between ranks)", floats);
    g->flat = grown;
    g->capacity = floats;
    return MOECL_OK;
}

moecl_status exchange_gradients(grad_exchange *g, const param_list *pl, float weight,
                                float *extra, int n_extra)
{
    if (dist_size() == 1) return MOECL_OK;
    size_t total = (size_t)n_extra;
    for (int i = 0; i < pl->n_active; i++)
        if (pl->active[i]->grad) total += pl->active[i]->grad->count;
    MOECL_TRY(reserve(g, total));
    size_t at = 0;
    for (int i = 0; i < pl->n_active; i++) {
        moecl_tensor *t = pl->active[i]->grad;
        if (!t) continue;
        MOECL_TRY(moecl_tensor_download(t, g->flat + at, t->count));
        for (size_t j = 0; j < t->count; j++) g->flat[at + j] *= weight;
        at += t->count;
    }
    for (int j = 0; j < n_extra; j++) g->flat[at + j] = extra[j];
    MOECL_TRY(dist_sum(g->flat, total));
    at = 0;
    for (int i = 0; i < pl->n_active; i++) {
        moecl_tensor *t = pl->active[i]->grad;
        if (!t) continue;
        MOECL_TRY(moecl_tensor_upload(t, g->flat + at, t->count));
        at += t->count;
    }
    for (int j = 0; j < n_extra; j++) extra[j] = g->flat[at + j];
    return MOECL_OK;
}

/* Every tensor of parameter i: its value, then its optimiser slots. */
static moecl_tensor *param_tensor(const moecl_param *p, int k)
{
    return k == 0 ? p->value : p->slot[k - 1];
}

moecl_status sync_params(grad_exchange *g, const param_list *pl)
{
    if (dist_size() == 1) return MOECL_OK;
    size_t total = 0;
    for (int i = 0; i < pl->count; i++)
        for (int k = 0; k < 3; k++)
            if (param_tensor(pl->p[i], k)) total += param_tensor(pl->p[i], k)->count;
    MOECL_TRY(reserve(g, total));
    size_t at = 0;
    for (int i = 0; i < pl->count; i++)
        for (int k = 0; k < 3; k++) {
            moecl_tensor *t = param_tensor(pl->p[i], k);
            if (!t) continue;
            if (dist_rank() == 0) MOECL_TRY(moecl_tensor_download(t, g->flat + at, t->count));
            at += t->count;
        }
    MOECL_TRY(dist_broadcast(g->flat, total));
    at = 0;
    for (int i = 0; i < pl->count; i++)
        for (int k = 0; k < 3; k++) {
            moecl_tensor *t = param_tensor(pl->p[i], k);
            if (!t) continue;
            if (dist_rank() != 0) MOECL_TRY(moecl_tensor_upload(t, g->flat + at, t->count));
            at += t->count;
        }
    return MOECL_OK;
}

moecl_status gather_part_statistics(grad_exchange *g, const param_list *pl, const model *m)
{
    if (dist_size() == 1) return MOECL_OK;
    size_t total = 0;
    for (int i = 0; i < pl->count; i++)
        if (!pl->p[i]->grad && model_part_rank(m, pl->e[i].part) >= 0) total += pl->p[i]->value->count;
    if (total == 0) return MOECL_OK;
    MOECL_TRY(reserve(g, total));
    size_t at = 0; /* the computing rank's values, zeros elsewhere: their sum */
    for (int i = 0; i < pl->count; i++) {
        moecl_tensor *t = pl->p[i]->value;
        int owner = model_part_rank(m, pl->e[i].part);
        if (pl->p[i]->grad || owner < 0) continue;
        if (owner == dist_rank()) MOECL_TRY(moecl_tensor_download(t, g->flat + at, t->count));
        else memset(g->flat + at, 0, t->count * sizeof *g->flat);
        at += t->count;
    }
    MOECL_TRY(dist_sum(g->flat, total));
    at = 0;
    for (int i = 0; i < pl->count; i++) {
        moecl_tensor *t = pl->p[i]->value;
        if (pl->p[i]->grad || model_part_rank(m, pl->e[i].part) < 0) continue;
        MOECL_TRY(moecl_tensor_upload(t, g->flat + at, t->count));
        at += t->count;
    }
    return MOECL_OK;
}

moecl_status check_replicas_equal(grad_exchange *g, const param_list *pl)
{
    if (dist_size() == 1) return MOECL_OK;
    double sum = 0;
    size_t at = 0;
    for (int i = 0; i < pl->count; i++) {
        moecl_tensor *t = pl->p[i]->value;
        if (!pl->p[i]->grad) continue; /* running statistics are per rank */
        MOECL_TRY(reserve(g, t->count));
        MOECL_TRY(moecl_tensor_download(t, g->flat, t->count));
        for (size_t j = 0; j < t->count; j++, at++) sum += g->flat[j] * (double)(1 + at % 7);
    }
    double first = sum;
    MOECL_TRY(dist_broadcast_bytes(&first, sizeof first));
    if (fabs(sum - first) > 1e-6 * (fabs(first) + 1))
        return moecl_fail(MOECL_ERR_DIVERGED, "data parallel: rank %d's weights differ from rank "
                          "0's (checksum %.9g against %.9g) although every rank took the same "
                          "steps", dist_rank(), sum, first);
    return MOECL_OK;
}

void grad_exchange_free(grad_exchange *g)
{
    free(g->flat);
    g->flat = NULL;
    g->capacity = 0;
}
