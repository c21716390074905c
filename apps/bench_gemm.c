/* moecl bench gemm: SGEMM GFLOPS through the path moecl chooses (--gemm;
 * the algorithm that ran is printed) for square sizes and for the products
 * of the vgg preset's 3x3 convolutions at batch 128 (im2col layout:
 * forward, weight gradient and input gradient), each also as a share of
 * the device's multiply-add peak, measured first. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct gemm_case {
    char name[48];
    bool ta, tb;
    size_t m, n, k;
} gemm_case;

typedef struct gemm_result {
    double seconds_per_call;
    double gflops;
    int calls;
    const char *algorithm;
    char profile[1024]; /* --profile: the kernels of one call, a line each */
} gemm_result;

static moecl_status make_buffer(moecl_ctx *ctx, size_t floats, cl_mem *out)
{
    /* Fill with small values so that timings see ordinary numbers. */
    float *host = malloc(floats * sizeof *host);
    if (!host) return MOECL_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < floats; i++) host[i] = (float)((i * 7919u) % 97u) / 97.0f - 0.5f;
    cl_int err = CL_SUCCESS;
    *out = clCreateBuffer(moecl_ctx_cl_context(ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                          floats * sizeof(float), host, &err);
    free(host);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "moecl: error: clCreateBuffer of %zu MiB failed: %s\n",
                floats * sizeof(float) >> 20, moecl_cl_error_name(err));
        return err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                       err == CL_OUT_OF_HOST_MEMORY
                   ? MOECL_ERR_OUT_OF_MEMORY
                   : MOECL_ERR_OPENCL;
    }
    return MOECL_OK;
}

/* One more call with the queue's timestamps: the device time of each
 * kernel it ran (packing, the tiles, CLBlast's routine). */
static moecl_status profile_call(moecl_ctx *ctx, const moecl_gemm_args *args, char *out,
                                 size_t size)
{
    size_t at = 0;
    out[0] = '\0';
    MOECL_TRY(moecl_profile_start(ctx));
    moecl_status st = moecl_gemm(ctx, args);
    moecl_profile_record *r = NULL;
    int count = 0;
    if (st == MOECL_OK) st = moecl_profile_stop(ctx, &r, &count);
    for (int i = 0; st == MOECL_OK && i < count && at < size; i++) {
        int w = snprintf(out + at, size - at, "    %-40s %9.3f ms\n", r[i].what, r[i].ms);
        at += w > 0 ? (size_t)w : 0;
    }
    moecl_profile_release(ctx);
    return st;
}

static moecl_status run_case(moecl_ctx *ctx, const gemm_case *c, double min_time, bool profile,
                             gemm_result *res)
{
    cl_mem a = NULL, b = NULL, out = NULL;
    moecl_status st = make_buffer(ctx, c->m * c->k, &a);
    if (st == MOECL_OK) st = make_buffer(ctx, c->k * c->n, &b);
    if (st == MOECL_OK) st = make_buffer(ctx, c->m * c->n, &out);
    moecl_gemm_args args = {
        .trans_a = c->ta, .trans_b = c->tb, .m = c->m, .n = c->n, .k = c->k,
        .alpha = 1.0f, .beta = 0.0f,
        .a = a, .lda = c->ta ? c->m : c->k,
        .b = b, .ldb = c->tb ? c->k : c->n,
        .c = out, .ldc = c->n,
    };
    /* The first call compiles CLBlast's kernels for this shape class: not timed. */
    if (st == MOECL_OK) st = moecl_gemm(ctx, &args);
    if (st == MOECL_OK) st = moecl_ctx_finish(ctx);
    int calls = 0;
    double start = moecl_seconds(), elapsed = 0;
    while (st == MOECL_OK && (calls < 3 || elapsed < min_time)) {
        st = moecl_gemm(ctx, &args);
        if (st == MOECL_OK) st = moecl_ctx_finish(ctx);
        calls++;
        elapsed = moecl_seconds() - start;
    }
    if (st == MOECL_OK && profile) st = profile_call(ctx, &args, res->profile, sizeof res->profile);
    int alg = st == MOECL_OK ? moecl_gemm_choose(ctx, &args, 0, 0, 0, 1) : -1;
    res->algorithm = alg >= 0 ? moecl_gemm_algorithm_name(ctx, alg) : "?";
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    if (out) clReleaseMemObject(out);
    if (st != MOECL_OK) return st;
    res->calls = calls;
    res->seconds_per_call = elapsed / calls;
    res->gflops = 2.0 * (double)c->m * (double)c->n * (double)c->k / res->seconds_per_call * 1e-9;
    return MOECL_OK;
}

/* FLOPs of fma_peak_f32 per work-item and iteration: 12 chains of 8 lanes,
 * two operations each. */
#define PEAK_FLOPS_PER_STEP (12.0 * 8 * 2)

static moecl_status time_peak(moecl_ctx *ctx, cl_mem out, size_t items, int iterations, double *s)
{
    double start = moecl_seconds();
    MOECL_TRY(MOECL_LAUNCH(ctx, "fma_peak_f32", items, 0, MOECL_ARG_MEM(out), MOECL_ARG_INT(iterations),
                           MOECL_ARG_FLOAT(0.999f), MOECL_ARG_FLOAT(1e-4f)));
    MOECL_TRY(moecl_ctx_finish(ctx));
    *s = moecl_seconds() - start;
    return MOECL_OK;
}

/* The device's multiply-add throughput (cl/bench.cl): more work-items until
 * a run takes 20 ms (a GPU needs many), more iterations until 0.2 s, best of
 * three. The GEMM figures are read against it. */
static moecl_status measure_peak(moecl_ctx *ctx, double *gflops)
{
    unsigned units = moecl_ctx_device(ctx)->compute_units;
    size_t items = (size_t)(units ? units : 1) * 64, most = items * 1024;
    cl_mem out = NULL;
    moecl_status st = make_buffer(ctx, most, &out);
    int iterations = 64;
    double s = 0;
    if (st == MOECL_OK) st = time_peak(ctx, out, items, iterations, &s); /* builds, warms up */
    while (st == MOECL_OK && (st = time_peak(ctx, out, items, iterations, &s)) == MOECL_OK && s < 0.02 &&
           items < most)
        items *= 4;
    if (st == MOECL_OK && s < 0.2) iterations = (int)(iterations * (0.2 / (s > 1e-4 ? s : 1e-4)));
    double best = INFINITY;
    for (int rep = 0; st == MOECL_OK && rep < 3; rep++)
        if ((st = time_peak(ctx, out, items, iterations, &s)) == MOECL_OK && s < best) best = s;
    if (out) clReleaseMemObject(out);
    if (st == MOECL_OK) *gflops = PEAK_FLOPS_PER_STEP * (double)items * iterations / best * 1e-9;
    return st;
}

/* The distinct conv layers of the vgg preset: (in, out, spatial size). */
static const struct { int cin, cout, hw; } VGG_CONVS[] = {
    {3, 32, 32}, {32, 32, 32}, {32, 64, 16}, {64, 64, 16}, {64, 128, 8}, {128, 128, 8}};

static int build_cases(gemm_case *cases, size_t max_cases, size_t max_size)
{
    int n = 0;
    for (size_t s = 128; s <= max_size && (size_t)n < max_cases; s *= 2) {
        gemm_case *c = &cases[n++];
        snprintf(c->name, sizeof c->name, "square %zu", s);
        c->m = c->n = c->k = s;
    }
    const size_t batch = 128;
    for (size_t i = 0; i < sizeof VGG_CONVS / sizeof VGG_CONVS[0]; i++) {
        size_t cin = (size_t)VGG_CONVS[i].cin, cout = (size_t)VGG_CONVS[i].cout;
        size_t pix = batch * (size_t)VGG_CONVS[i].hw * (size_t)VGG_CONVS[i].hw;
        if ((size_t)n + 3 > max_cases) break;
        /* forward: W (cout x cin*9) * cols (cin*9 x B*H*W) */
        gemm_case *f = &cases[n++];
        snprintf(f->name, sizeof f->name, "conv%zu %zu->%zu fwd", i + 1, cin, cout);
        f->m = cout, f->n = pix, f->k = cin * 9;
        /* weight gradient: dY (cout x B*H*W) * cols^T */
        gemm_case *w = &cases[n++];
        snprintf(w->name, sizeof w->name, "conv%zu %zu->%zu dW", i + 1, cin, cout);
        w->m = cout, w->n = cin * 9, w->k = pix, w->tb = true;
        /* input gradient: W^T (cin*9 x cout) * dY */
        gemm_case *x = &cases[n++];
        snprintf(x->name, sizeof x->name, "conv%zu %zu->%zu dX", i + 1, cin, cout);
        x->m = cin * 9, x->n = pix, x->k = cout, x->ta = true;
    }
    return n;
}

int bench_gemm(const cli_globals *g, int argc, char **argv)
{
    long max_size = 2048;
    double min_time = 0.5;
    bool json = false, profile = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-size") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &max_size) || max_size < 1)
                return cli_usage_error("bench gemm: --max-size takes a positive whole number");
        } else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
            if (!cli_parse_double(argv[++i], &min_time))
                return cli_usage_error("bench gemm: --min-time takes seconds > 0");
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--profile") == 0) {
            profile = true;
        } else {
            return cli_usage_error("bench gemm: unknown option or missing value '%s'", argv[i]);
        }
    }
    if (json && profile) return cli_usage_error("bench gemm: --profile prints a table, not JSON");
    moecl_ctx *ctx = NULL;
    cli_globals opened = *g;
    opened.profiling = profile;
    int rc = cli_open_device(&opened, &ctx);
    if (rc) return rc;

    gemm_case cases[32];
    memset(cases, 0, sizeof cases);
    int n = build_cases(cases, sizeof cases / sizeof cases[0], (size_t)max_size);
    double peak = 0;
    moecl_status peak_st = measure_peak(ctx, &peak);
    if (peak_st != MOECL_OK) {
        moecl_ctx_destroy(ctx);
        return cli_report(peak_st);
    }
    if (json) {
        printf("[\n");
    } else {
        printf("device multiply-add peak: %.1f GFLOPS (measured: independent float8 FMA chains)\n", peak);
        printf("%-22s %6s %7s %6s %2s %2s %10s %8s %6s  %s\n", "shape", "M", "N", "K", "tA", "tB",
               "ms/call", "GFLOPS", "%peak", "path");
    }
    for (int i = 0; i < n; i++) {
        const gemm_case *c = &cases[i];
        gemm_result r;
        moecl_status st = run_case(ctx, c, min_time, profile, &r);
        if (st != MOECL_OK) {
            rc = cli_report(st);
            break;
        }
        if (json)
            printf("  {\"shape\": \"%s\", \"m\": %zu, \"n\": %zu, \"k\": %zu, \"trans_a\": %s, "
                   "\"trans_b\": %s, \"ms_per_call\": %.4f, \"calls\": %d, \"gflops\": %.2f, "
                   "\"peak_gflops\": %.2f, \"path\": \"%s\"}%s\n",
                   c->name, c->m, c->n, c->k, c->ta ? "true" : "false", c->tb ? "true" : "false",
                   r.seconds_per_call * 1e3, r.calls, r.gflops, peak, r.algorithm, i + 1 < n ? "," : "");
        else
            printf("%-22s %6zu %7zu %6zu %2s %2s %10.3f %8.1f %5.0f%%  %s\n", c->name, c->m, c->n, c->k,
                   c->ta ? "T" : "-", c->tb ? "T" : "-", r.seconds_per_call * 1e3, r.gflops,
                   100.0 * r.gflops / peak, r.algorithm);
        if (profile) fputs(r.profile, stdout);
        fflush(stdout);
    }
    if (json) printf("]\n");
    moecl_ctx_destroy(ctx);
    return rc;
}
