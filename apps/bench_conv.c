/* moecl bench conv: the three passes of a 3x3 convolution layer (forward,
 * weight gradient, input gradient) on the vgg preset's layer shapes at a
 * batch size, through the way the layer chooses (--gemm, MOECL_CONV): the
 * device time of each pass from the queue's timestamps, its GFLOPS, and the
 * kernel that took most of it (which names the way: conv_direct_forward
 * (own6x16), gemm_packed (own4x16), clblast gemm, ...). */
#include "cli.h"
#include "layer.h"

#include <stdlib.h>
#include <string.h>

static const struct { int cin, cout, hw; } SHAPES[] = {
    {3, 32, 32}, {32, 32, 32}, {32, 64, 16}, {64, 64, 16}, {64, 128, 8}, {128, 128, 8}};

/* The labels conv2d gives its passes in the profile ("NAME forward", ...). */
static const char *const PASSES[] = {"forward", "weight gradient", "input gradient"};
enum { NPASS = 3 };

typedef struct pass_time {
    double ms;          /* best over the repetitions */
    char top[64];       /* the kernel with the most time in the best one */
} pass_time;

/* One forward and one backward pass under the profiler; the device time
 * of each conv pass, kept where it beats the repetitions before. */
static moecl_status profile_once(layer *l, moecl_tensor *x, moecl_tensor *dy, int batch,
                                 pass_time *best)
{
    layer_run run = {.training = true};
    MOECL_TRY(moecl_profile_start(l->ctx));
    moecl_status st = layer_forward(l, x, batch, &run);
    if (st == MOECL_OK) st = layer_backward(l, x, dy, batch, true);
    moecl_profile_record *r = NULL;
    int count = 0;
    if (st == MOECL_OK) st = moecl_profile_stop(l->ctx, &r, &count);
    for (int p = 0; st == MOECL_OK && p < NPASS; p++) {
        char label[96];
        snprintf(label, sizeof label, "%s %s", l->name, PASSES[p]);
        double ms = 0, top_ms = -1;
        const char *top = "?";
        for (int i = 0; i < count; i++) {
            if (strcmp(r[i].layer, label) != 0) continue;
            ms += r[i].ms;
            if (r[i].ms > top_ms) top_ms = r[i].ms, top = r[i].what;
        }
        if (ms < best[p].ms) {
            best[p].ms = ms;
            snprintf(best[p].top, sizeof best[p].top, "%s", top);
        }
    }
    moecl_profile_release(l->ctx);
    return st;
}

static moecl_status random_tensor(moecl_ctx *ctx, int batch, size_t per_image, uint64_t *rng,
                                  moecl_tensor **out)
{
    int dims[2] = {batch, (int)per_image};
    MOECL_TRY(moecl_tensor_create(ctx, 2, dims, out));
    float *host = malloc((*out)->count * sizeof *host);
    if (!host) return MOECL_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < (*out)->count; i++) host[i] = moecl_rng_uniform(rng) - 0.5f;
    moecl_status st = moecl_tensor_upload(*out, host, (*out)->count);
    free(host);
    return st;
}

static moecl_status bench_shape(moecl_ctx *ctx, int s, int batch, int reps, pass_time *best,
                                double *flops)
{
    uint64_t rng = 1;
    layer *l = layer_conv2d("conv", SHAPES[s].cout, 3, 3, 1, 1, true, true);
    if (!l) return MOECL_ERR_OUT_OF_MEMORY;
    shape3 in = {SHAPES[s].cin, SHAPES[s].hw, SHAPES[s].hw};
    moecl_tensor *x = NULL, *dy = NULL;
    moecl_status st = layer_setup(l, ctx, in, batch, &rng);
    if (st == MOECL_OK) st = random_tensor(ctx, batch, shape3_size(in), &rng, &x);
    if (st == MOECL_OK) st = random_tensor(ctx, batch, shape3_size(l->out), &rng, &dy);
    /* the first pass chooses each way (measuring them the first time) */
    layer_run run = {.training = true};
    if (st == MOECL_OK) st = layer_forward(l, x, batch, &run);
    if (st == MOECL_OK) st = layer_backward(l, x, dy, batch, true);
    for (int p = 0; p < NPASS; p++) best[p] = (pass_time){.ms = 1e30, .top = "?"};
    for (int r = 0; st == MOECL_OK && r < reps; r++) st = profile_once(l, x, dy, batch, best);
    *flops = (double)l->flops_per_image * batch; /* each pass does as many */
    moecl_tensor_destroy(x);
    moecl_tensor_destroy(dy);
    layer_free(l);
    return st;
}

int bench_conv(const cli_globals *g, int argc, char **argv)
{
    long batch = 128, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &batch) || batch < 1 || batch > 65536)
                return cli_usage_error("bench conv: --batch takes a whole number from 1 to 65536");
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &reps) || reps < 1 || reps > 1000)
                return cli_usage_error("bench conv: --reps takes a whole number from 1 to 1000");
        } else
            return cli_usage_error("bench conv: unknown option or missing value '%s'", argv[i]);
    }
    moecl_ctx *ctx = NULL;
    cli_globals opened = *g;
    opened.profiling = true;
    int rc = cli_open_device(&opened, &ctx);
    if (rc) return rc;
    printf("3x3 'same' convolutions, batch %ld, best of %ld (device time; GEMM path %s)\n", batch,
           reps, moecl_ctx_gemm(ctx));
    printf("%-14s %-16s %9s %8s  %s\n", "layer", "pass", "ms", "GFLOPS", "main kernel (the way)");
    for (int s = 0; s < (int)(sizeof SHAPES / sizeof SHAPES[0]) && rc == 0; s++) {
        pass_time best[NPASS];
        double flops = 0;
        moecl_status st = bench_shape(ctx, s, (int)batch, (int)reps, best, &flops);
        if (st != MOECL_OK) {
            rc = cli_report(st);
            break;
        }
        char name[32];
        snprintf(name, sizeof name, "%d->%d @%d", SHAPES[s].cin, SHAPES[s].cout, SHAPES[s].hw);
        for (int p = 0; p < NPASS; p++)
            printf("%-14s %-16s %9.2f %8.1f  %s\n", p == 0 ? name : "", PASSES[p], best[p].ms,
                   best[p].ms > 0 ? flops / (best[p].ms * 1e-3) * 1e-9 : 0.0, best[p].top);
        fflush(stdout);
    }
    moecl_ctx_destroy(ctx);
    return rc;
}
