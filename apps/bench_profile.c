/* bench train --profile: where one training step's time goes, from the
 * OpenCL queue's own timestamps: per kernel (summed over its launches) and
 * per layer and pass, sorted, each with its share of the step's device time. */
#include "bench.h"
#include "cli.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct total {
    const char *name;
    double ms;
    int launches;
} total;

static int by_time(const void *a, const void *b)
{
    double d = ((const total *)b)->ms - ((const total *)a)->ms;
    return d > 0 ? 1 : d < 0 ? -1 : 0;
}

/* Sums records by the field at `offset` (what, or layer). */
static int sum_by(const moecl_profile_record *r, int count, size_t offset, total *out)
{
    int n = 0;
    for (int i = 0; i < count; i++) {
        const char *key = (const char *)&r[i] + offset;
        int j = 0;
        while (j < n && strcmp(out[j].name, key) != 0) j++;
        if (j == n) out[n++] = (total){key, 0, 0};
        out[j].ms += r[i].ms;
        out[j].launches++;
    }
    qsort(out, (size_t)n, sizeof *out, by_time);
    return n;
}

static void print_table(const char *title, const total *t, int n, double all, int rows)
{
    printf("\n%-44s %9s %7s %8s\n", title, "ms", "share", "launches");
    for (int i = 0; i < n && i < rows; i++)
        printf("%-44.44s %9.2f %6.1f%% %8d\n", t[i].name, t[i].ms, all > 0 ? 100 * t[i].ms / all : 0,
               t[i].launches);
    if (n > rows) {
        double rest = 0;
        int launches = 0;
        for (int i = rows; i < n; i++) rest += t[i].ms, launches += t[i].launches;
        printf("%-44s %9.2f %6.1f%% %8d\n", "(the rest)", rest, all > 0 ? 100 * rest / all : 0, launches);
    }
}

static moecl_status profile_one(model *net, moecl_param **params, int nparams, bool training)
{
    optim_config adam = optim_defaults(OPTIM_ADAM);
    layer_run run = {.training = training, .seed = 1, .step = 99};
    MOECL_TRY(moecl_ctx_finish(net->ctx));
    double start = moecl_seconds();
    MOECL_TRY(moecl_profile_start(net->ctx));
    moecl_status st = bench_step(net, &run, &adam, params, nparams, NULL, NULL, training, 99);
    moecl_profile_record *r = NULL;
    int count = 0;
    if (st == MOECL_OK) st = moecl_profile_stop(net->ctx, &r, &count);
    double wall = (moecl_seconds() - start) * 1e3;
    if (st != MOECL_OK) {
        moecl_profile_release(net->ctx);
        return st;
    }
    total *t = calloc((size_t)count + 1, sizeof *t);
    if (!t) return MOECL_ERR_OUT_OF_MEMORY;
    double all = 0;
    for (int i = 0; i < count; i++) all += r[i].ms;
    printf("\nprofile of one %s step (GEMM path %s): %.1f ms of device time in %d launches, "
           "%.1f ms wall\n", training ? "training" : "inference", moecl_ctx_gemm(net->ctx), all, count, wall);
    int n = sum_by(r, count, offsetof(moecl_profile_record, what), t);
    print_table("kernel", t, n, all, 25);
    n = sum_by(r, count, offsetof(moecl_profile_record, layer), t);
    print_table("layer and pass", t, n, all, 40);
    free(t);
    moecl_profile_release(net->ctx);
    return MOECL_OK;
}

moecl_status bench_profile_step(model *net, moecl_param **params, int nparams)
{
    MOECL_TRY(profile_one(net, params, nparams, true));
    return profile_one(net, params, nparams, false);
}
