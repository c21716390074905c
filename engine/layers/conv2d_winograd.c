/* Winograd convolutions (see conv2d_winograd.h). Weights [F, C, 3, 3]. */
#include "conv2d_winograd.h"
#include "conv2d_packed.h"

#include <stdio.h>

#define WINOGRAD_SCRATCH 4

static int tiles(int size, int m) { return (size + m - 1) / m; }

/* cl/winograd.cl's WINO_PLANE: the distance between two of the a*a
 * matrices, off a power of two so that their streams use distinct cache sets. */
static size_t plane(size_t floats) { return (floats + 63) / 64 * 64 + 16; }

bool conv_winograd_shape(const layer *l)
{
    const layer_config *c = &l->cfg;
    return c->kh == 3 && c->kw == 3 && c->sh == 1 && c->sw == 1 && c->ph == c->pw && c->ph <= 2;
}

bool conv_winograd_fits(const layer *l)
{
    return conv_winograd_shape(l) && l->scratch[WINOGRAD_SCRATCH] != NULL;
}

/* Floats of the transformed images (a^2 x channels x tiles) of n images
 * of h x w outputs. */
static size_t transformed(int m, int channels, int n, int h, int w)
{
    return (size_t)(m + 2) * (m + 2) * plane((size_t)channels * n * tiles(h, m) * tiles(w, m));
}

moecl_status conv_winograd_reserve(layer *l)
{
    int F = l->cfg.filters, C = l->in.c, n = l->batch;
    size_t in = 0, out = 0;
    for (int m = 2; m <= 4; m += 2) {
        /* forward: C channels in, F out, at the output's size; the input
         * gradient: F in, C out, at the input's size */
        size_t v = transformed(m, C, n, l->out.h, l->out.w), p = transformed(m, F, n, l->out.h, l->out.w);
        size_t vi = transformed(m, F, n, l->in.h, l->in.w), pi = transformed(m, C, n, l->in.h, l->in.w);
        if (v > in) in = v;
        if (vi > in) in = vi;
        if (p > out) out = p;
        if (pi > out) out = pi;
    }
    /* Winograd is only a faster way: where its buffers would take more
     * than a sixteenth of the device or a quarter of what it has left, the
     * layer goes without it (the other ways' buffers come later: the
     * GEMM's packed panels grow at the first products) */
    moecl_ctx *ctx = l->ctx;
    size_t grow = (size_t)36 * F * C * sizeof(float);
    if (in * sizeof(float) > ctx->workspace_bytes[0]) grow += in * sizeof(float) - ctx->workspace_bytes[0];
    if (out * sizeof(float) > ctx->workspace_bytes[1]) grow += out * sizeof(float) - ctx->workspace_bytes[1];
    uint64_t limit = moecl_memory_limit(&ctx->device);
    if (limit && (ctx->device_bytes >= limit || grow > limit / 16 || grow > (limit - ctx->device_bytes) / 4))
        return MOECL_OK;
    MOECL_TRY(moecl_workspace_reserve(ctx, 0, in));
    MOECL_TRY(moecl_workspace_reserve(ctx, 1, out));
    return layer_add_scratch(l, WINOGRAD_SCRATCH, (size_t)36 * F * C);
}

/* V = the transformed a x a tiles of x ([n, Ci, H, W], padded P), T tiles
 * of TH x TW an image. */
static moecl_status input_transform(moecl_ctx *ctx, int m, cl_mem x, cl_mem V, int Ci, int H, int W,
                                    int P, int TH, int TW, int T)
{
    char name[32];
    snprintf(name, sizeof name, "winograd%d_input_f32", m);
    return MOECL_LAUNCH_3D(ctx, name, (size_t)T, (size_t)Ci, 1, MOECL_ARG_MEM(x), MOECL_ARG_MEM(V),
                           MOECL_ARG_INT(Ci), MOECL_ARG_INT(H), MOECL_ARG_INT(W), MOECL_ARG_INT(P),
                           MOECL_ARG_INT(TH), MOECL_ARG_INT(TW), MOECL_ARG_INT(T));
}

/* One convolution of x ([n, Ci, H, W], padded P) by the 3x3 kernel w as
 * Winograd sees it (flip: w is [Ci, Fo] and turned), into y ([n, Fo, OH, OW]). */
typedef struct wino_conv {
    cl_mem x, w, y, bias;
    int n, Ci, H, W, P, Fo, OH, OW, flip, relu;
} wino_conv;

static moecl_status winograd(layer *l, const wino_conv *w, int m)
{
    moecl_ctx *ctx = l->ctx;
    int a = m + 2, TH = tiles(w->OH, m), TW = tiles(w->OW, m), T = w->n * TH * TW;
    cl_mem U = l->scratch[WINOGRAD_SCRATCH]->buf, V = moecl_workspace(ctx, 0),
           M = moecl_workspace(ctx, 1);
    char name[32];
    snprintf(name, sizeof name, "winograd%d_filter_f32", m);
    MOECL_TRY(MOECL_LAUNCH_3D(ctx, name, (size_t)w->Ci, (size_t)w->Fo, 1, MOECL_ARG_MEM(w->w),
                              MOECL_ARG_MEM(U), MOECL_ARG_INT(w->Fo), MOECL_ARG_INT(w->Ci),
                              MOECL_ARG_INT(w->flip)));
    MOECL_TRY(input_transform(ctx, m, w->x, V, w->Ci, w->H, w->W, w->P, TH, TW, T));
    /* M[e] = U[e] V[e] for each of the a*a transformed positions e */
    moecl_gemm_args g = {.m = (size_t)w->Fo, .n = (size_t)T, .k = (size_t)w->Ci, .alpha = 1,
                         .a = U, .lda = (size_t)w->Ci, .b = V, .ldb = (size_t)T,
                         .c = M, .ldc = (size_t)T};
    MOECL_TRY(moecl_gemm_strided_batched(ctx, &g, (size_t)w->Fo * w->Ci, plane((size_t)w->Ci * T),
                                         plane((size_t)w->Fo * T), (size_t)a * a));
    snprintf(name, sizeof name, "winograd%d_output_f32", m);
    cl_mem bias = w->bias ? w->bias : M; /* a valid buffer the kernel does not read */
    return MOECL_LAUNCH_3D(ctx, name, (size_t)T, (size_t)w->Fo, 1, MOECL_ARG_MEM(M), MOECL_ARG_MEM(w->y),
                           MOECL_ARG_MEM(bias), MOECL_ARG_INT(w->bias != NULL), MOECL_ARG_INT(w->relu),
                           MOECL_ARG_INT(w->Fo), MOECL_ARG_INT(w->OH), MOECL_ARG_INT(w->OW),
                           MOECL_ARG_INT(TH), MOECL_ARG_INT(TW), MOECL_ARG_INT(T));
}

moecl_status conv_winograd_forward(layer *l, const moecl_tensor *x, int n, int m)
{
    wino_conv w = {.x = x->buf, .w = l->params[0].value->buf, .y = l->output->buf,
                   .bias = l->cfg.use_bias ? l->params[1].value->buf : NULL, .n = n,
                   .Ci = l->in.c, .H = l->in.h, .W = l->in.w, .P = l->cfg.ph,
                   .Fo = l->out.c, .OH = l->out.h, .OW = l->out.w, .relu = l->fused_relu};
    return winograd(l, &w, m);
}

/* dX: dy convolved with the kernel turned by 180 degrees and its channels
 * swapped, padded 2 - P, which gives the input's size back. */
moecl_status conv_winograd_input_gradient(layer *l, const moecl_tensor *dy, int n, int m)
{
    wino_conv w = {.x = dy->buf, .w = l->params[0].value->buf, .y = l->grad_input->buf,
                   .n = n, .Ci = l->out.c, .H = l->out.h, .W = l->out.w, .P = 2 - l->cfg.ph,
                   .Fo = l->in.c, .OH = l->in.h, .OW = l->in.w, .flip = 1};
    return winograd(l, &w, m);
}

moecl_status conv_winograd_weight_gradient(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                           int n, int m)
{
    moecl_ctx *ctx = l->ctx;
    MOECL_TRY(conv_bias_gradient(l, dy, n));
    int a = m + 2, C = l->in.c, F = l->out.c, TH = tiles(l->out.h, m), TW = tiles(l->out.w, m),
        T = n * TH * TW;
    cl_mem V = moecl_workspace(ctx, 0), D = moecl_workspace(ctx, 1),
           Mw = l->scratch[WINOGRAD_SCRATCH]->buf;
    MOECL_TRY(input_transform(ctx, m, x->buf, V, C, l->in.h, l->in.w, l->cfg.ph, TH, TW, T));
    char name[32];
    snprintf(name, sizeof name, "winograd%d_dy_f32", m);
    MOECL_TRY(MOECL_LAUNCH_3D(ctx, name, (size_t)T, (size_t)F, 1, MOECL_ARG_MEM(dy->buf),
                              MOECL_ARG_MEM(D), MOECL_ARG_INT(F), MOECL_ARG_INT(l->out.h),
                              MOECL_ARG_INT(l->out.w), MOECL_ARG_INT(TH), MOECL_ARG_INT(TW),
                              MOECL_ARG_INT(T)));
    /* Mw[e] = D[e] V[e]^T: [F, T] x [T, C], the sum along the tiles */
    moecl_gemm_args g = {.trans_b = true, .m = (size_t)F, .n = (size_t)C, .k = (size_t)T, .alpha = 1,
                         .a = D, .lda = (size_t)T, .b = V, .ldb = (size_t)T,
                         .c = Mw, .ldc = (size_t)C};
    MOECL_TRY(moecl_gemm_strided_batched(ctx, &g, plane((size_t)F * T), plane((size_t)C * T),
                                         (size_t)F * C, (size_t)a * a));
    snprintf(name, sizeof name, "winograd%d_dw_f32", m);
    return MOECL_LAUNCH_3D(ctx, name, (size_t)C, (size_t)F, 1, MOECL_ARG_MEM(Mw),
                           MOECL_ARG_MEM(l->params[0].grad->buf), MOECL_ARG_INT(F), MOECL_ARG_INT(C));
}
