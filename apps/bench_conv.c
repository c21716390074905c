/* moecl bench conv: the forward convolution two ways on the VGG's layer
 * shapes at a batch size: moecl's im2col + one GEMM + permute, and
 * CLBlast's convgemm (which has no backward pass), with their results
 * compared. Decides which the conv2d layer should use on a device. */
#include "cli.h"
#include "layer.h"

#include <clblast_c.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct { int cin, cout, hw; } SHAPES[] = {
    {3, 32, 32}, {32, 32, 32}, {32, 64, 16}, {64, 64, 16}, {64, 128, 8}, {128, 128, 8}};

static moecl_status time_ours(layer *l, moecl_tensor *x, int batch, int reps, double *secs)
{
    layer_run run = {.training = false};
    MOECL_TRY(layer_forward(l, x, batch, &run)); /* warm-up */
    MOECL_TRY(moecl_ctx_finish(l->ctx));
    double t = moecl_seconds();
    for (int r = 0; r < reps; r++) MOECL_TRY(layer_forward(l, x, batch, &run));
    MOECL_TRY(moecl_ctx_finish(l->ctx));
    *secs = (moecl_seconds() - t) / reps;
    return MOECL_OK;
}

static CLBlastStatusCode convgemm(layer *l, moecl_tensor *x, cl_mem out, int batch)
{
    cl_command_queue q = moecl_ctx_queue(l->ctx);
    return CLBlastSconvgemm(CLBlastKernelModeCrossCorrelation, (size_t)l->in.c, (size_t)l->in.h,
                            (size_t)l->in.w, 3, 3, 1, 1, 1, 1, 1, 1, (size_t)l->out.c,
                            (size_t)batch, x->buf, 0, l->params[0].value->buf, 0, out, 0, &q, NULL);
}

int bench_conv(const cli_globals *g, int argc, char **argv)
{
    long batch = 128, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &batch) || batch < 1)
                return cli_usage_error("bench conv: --batch takes a positive whole number");
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &reps) || reps < 1)
                return cli_usage_error("bench conv: --reps takes a positive whole number");
        } else
            return cli_usage_error("bench conv: unknown option or missing value '%s'", argv[i]);
    }
    moecl_ctx *ctx = NULL;
    int rc = cli_open_device(g, &ctx);
    if (rc) return rc;
    printf("%-16s %10s %10s %10s %10s %9s\n", "conv 3x3 same", "im2col ms", "GFLOPS",
           "convgemm ms", "GFLOPS", "max diff");
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0] && rc == 0; s++) {
        uint64_t rng = 1;
        layer *l = layer_conv2d("bench", SHAPES[s].cout, 3, 3, 1, 1, true, true);
        shape3 in = {SHAPES[s].cin, SHAPES[s].hw, SHAPES[s].hw};
        moecl_tensor *x = NULL;
        int xs[2] = {(int)batch, (int)shape3_size(in)};
        cl_mem out = NULL;
        moecl_status st = layer_setup(l, ctx, in, (int)batch, &rng);
        if (st == MOECL_OK) st = moecl_tensor_create(ctx, 2, xs, &x);
        float *host = NULL, *a = NULL, *b = NULL;
        size_t nout = (size_t)batch * shape3_size(l->out);
        if (st == MOECL_OK) {
            host = malloc(x->count * sizeof *host);
            for (size_t i = 0; i < x->count; i++) host[i] = moecl_rng_uniform(&rng) - 0.5f;
            st = moecl_tensor_upload(x, host, x->count);
            cl_int err;
            out = clCreateBuffer(moecl_ctx_cl_context(ctx), CL_MEM_READ_WRITE, nout * sizeof(float),
                                 NULL, &err);
            if (err != CL_SUCCESS) st = MOECL_ERR_OUT_OF_MEMORY;
        }
        double ours = 0, theirs = 0;
        if (st == MOECL_OK) st = time_ours(l, x, (int)batch, (int)reps, &ours);
        CLBlastStatusCode cs = CLBlastSuccess;
        if (st == MOECL_OK) {
            cs = convgemm(l, x, out, (int)batch);
            moecl_ctx_finish(ctx);
            double t = moecl_seconds();
            for (int r = 0; r < reps && cs == CLBlastSuccess; r++) cs = convgemm(l, x, out, (int)batch);
            moecl_ctx_finish(ctx);
            theirs = (moecl_seconds() - t) / reps;
        }
        double diff = NAN;
        if (st == MOECL_OK && cs == CLBlastSuccess) {
            a = malloc(nout * sizeof *a), b = malloc(nout * sizeof *b);
            moecl_tensor_download(l->output, a, nout);
            clEnqueueReadBuffer(moecl_ctx_queue(ctx), out, CL_TRUE, 0, nout * sizeof(float), b, 0,
                                NULL, NULL);
            diff = 0;
            for (size_t i = 0; i < nout; i++) diff = fmax(diff, fabs(a[i] - b[i]));
        }
        if (st != MOECL_OK) {
            rc = cli_report(st);
        } else {
            char name[32];
            snprintf(name, sizeof name, "%d->%d @%d", SHAPES[s].cin, SHAPES[s].cout, SHAPES[s].hw);
            double flops = (double)l->flops_per_image * batch;
            if (cs == CLBlastSuccess)
                printf("%-16s %10.1f %10.1f %10.1f %10.1f %9.2g\n", name, ours * 1e3,
                       flops / ours * 1e-9, theirs * 1e3, flops / theirs * 1e-9, diff);
            else
                printf("%-16s %10.1f %10.1f   convgemm failed: CLBlast status %d\n", name,
                       ours * 1e3, flops / ours * 1e-9, (int)cs);
            fflush(stdout);
        }
        free(host), free(a), free(b);
        if (out) clReleaseMemObject(out);
        moecl_tensor_destroy(x);
        layer_free(l);
    }
    moecl_ctx_destroy(ctx);
    return rc;
}
