/* 2-D convolution, NCHW, any kernel size and stride, 'same' or 'valid'
 * padding, optional bias. Weights are [filters, in_channels, kh, kw].
 * Each pass is one product over the whole batch, run one of two ways by
 * the GEMM chosen for its shape (moecl_gemm_choose: measured per device
 * under --gemm auto, or forced):
 *  - our packed kernels: fused at the edges (conv2d_packed.c);
 *  - CLBlast: im2col into workspace 0, the GEMM into workspace 1, a
 *    permute (with the bias) to NCHW, here. */
#include "conv2d_packed.h"

#define ARGS_GEOMETRY(l, n)                                                            \
    MOECL_ARG_INT(n), MOECL_ARG_INT((l)->in.c), MOECL_ARG_INT((l)->in.h),              \
        MOECL_ARG_INT((l)->in.w), MOECL_ARG_INT((l)->cfg.kh), MOECL_ARG_INT((l)->cfg.kw), \
        MOECL_ARG_INT((l)->cfg.sh), MOECL_ARG_INT((l)->cfg.sw), MOECL_ARG_INT((l)->cfg.ph), \
        MOECL_ARG_INT((l)->cfg.pw), MOECL_ARG_INT((l)->out.h), MOECL_ARG_INT((l)->out.w)

static size_t patch_size(const layer *l) { return (size_t)l->in.c * l->cfg.kh * l->cfg.kw; }
static size_t out_pixels(const layer *l) { return (size_t)l->out.h * l->out.w; }

/* The weight gradient is a GEMM with a long inner dimension (every pixel of
 * the batch). CLBlast runs such thin products slowly (2 GFLOPS against 20
 * on PoCL), so it is split into chunks of split_k columns (default 4096)
 * computed as one strided-batched GEMM into partial sums, then added up;
 * only when there are at least two chunks. */
#define DEFAULT_SPLIT_K 4096

static size_t split_k(const layer *l) { return l->cfg.split_k > 0 ? (size_t)l->cfg.split_k : DEFAULT_SPLIT_K; }
static bool use_split(const layer *l, size_t cols) { return cols >= 2 * split_k(l); }
static size_t split_parts(const layer *l, size_t cols) { return (cols + split_k(l) - 1) / split_k(l); }

static moecl_status conv_setup(layer *l, moecl_ctx *ctx)
{
    layer_config *c = &l->cfg;
    l->out.c = c->filters;
    l->out.h = layer_window_out(l->in.h, c->kh, c->sh, c->same, &c->ph);
    l->out.w = layer_window_out(l->in.w, c->kw, c->sw, c->same, &c->pw);
    size_t cols = (size_t)l->batch * out_pixels(l);
    MOECL_TRY(moecl_workspace_reserve(ctx, 0, patch_size(l) * cols));
    MOECL_TRY(moecl_workspace_reserve(ctx, 1, (size_t)c->filters * cols));
    int wshape[4] = {c->filters, l->in.c, c->kh, c->kw};
    if (use_split(l, cols))
        MOECL_TRY(layer_add_scratch(l, 0, split_parts(l, cols) * (size_t)c->filters * patch_size(l)));
    /* the flipped kernel of the input gradient as a convolution (conv2d_packed.c) */
    MOECL_TRY(layer_add_scratch(l, 1, (size_t)c->filters * patch_size(l)));
    MOECL_TRY(layer_add_param(l, "kernel", 4, wshape, true));
    if (c->use_bias) MOECL_TRY(layer_add_param(l, "bias", 1, &c->filters, true));
    l->flops_per_image = 2ull * patch_size(l) * (size_t)c->filters * out_pixels(l);
    return MOECL_OK;
}

static moecl_status im2col(layer *l, const moecl_tensor *x, int n)
{
    cl_mem cols = moecl_workspace(l->ctx, 0);
    return MOECL_LAUNCH_3D(l->ctx, "im2col_f32", (size_t)l->out.w,
                           (size_t)l->in.c * l->out.h, (size_t)n, MOECL_ARG_MEM(x->buf),
                           MOECL_ARG_MEM(cols), ARGS_GEOMETRY(l, n));
}

static moecl_status conv_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    moecl_ctx *ctx = l->ctx;
    size_t cols = (size_t)n * out_pixels(l);
    moecl_gemm_args g = {.m = (size_t)l->out.c, .n = cols, .k = patch_size(l), .alpha = 1,
                         .a = l->params[0].value->buf, .lda = patch_size(l),
                         .b = moecl_workspace(ctx, 0), .ldb = cols,
                         .c = moecl_workspace(ctx, 1), .ldc = cols};
    int alg = moecl_gemm_choose(ctx, &g, 0, 0, 0, 1); /* 0: CLBlast, v + 1: our variant v */
    if (alg < 0) return MOECL_ERR_INVALID_ARG;
    if (alg > 0) return conv_packed_forward(l, x, n, alg - 1);
    MOECL_TRY(im2col(l, x, n));
    MOECL_TRY(moecl_gemm(ctx, &g));
    cl_mem tmp = moecl_workspace(ctx, 1);
    cl_mem bias = l->cfg.use_bias ? l->params[1].value->buf : tmp;
    return MOECL_LAUNCH_3D(ctx, "cbp_to_bcp_bias_f32", out_pixels(l), (size_t)l->out.c, (size_t)n,
                           MOECL_ARG_MEM(tmp), MOECL_ARG_MEM(bias), MOECL_ARG_MEM(l->output->buf),
                        MOECL_ARG_INT(n), MOECL_ARG_INT(l->out.c), MOECL_ARG_INT(out_pixels(l)),
                        MOECL_ARG_INT(l->cfg.use_bias));
}

/* The weight gradient's product as CLBlast runs it: dW = dy * cols^T,
 * split along the columns when they are many (g->k is then one chunk). */
static moecl_gemm_args weight_gradient_args(layer *l, size_t cols)
{
    size_t m = (size_t)l->out.c, k = patch_size(l);
    moecl_gemm_args g = {.trans_b = true, .m = m, .n = k, .k = cols, .alpha = 1,
                         .a = moecl_workspace(l->ctx, 1), .lda = cols,
                         .b = moecl_workspace(l->ctx, 0), .ldb = cols,
                         .c = l->params[0].grad->buf, .ldc = k};
    if (use_split(l, cols)) {
        g.k = split_k(l);
        g.c = l->scratch[0]->buf;
    }
    return g;
}

/* dW = dy * cols^T through CLBlast (dyc: dy permuted to [filters, n*P]). */
static moecl_status weight_gradient(layer *l, cl_mem dyc, size_t cols)
{
    moecl_ctx *ctx = l->ctx;
    size_t m = (size_t)l->out.c, k = patch_size(l);
    moecl_gemm_args g = weight_gradient_args(l, cols);
    g.a = dyc;
    if (!use_split(l, cols)) return moecl_gemm(ctx, &g);
    size_t chunk = split_k(l), full = cols / chunk, rest = cols - full * chunk;
    MOECL_TRY(moecl_gemm_strided_batched(ctx, &g, chunk, chunk, m * k, full));
    if (rest) {
        g.k = rest;
        g.a_offset = g.b_offset = full * chunk;
        g.c_offset = full * m * k;
        MOECL_TRY(moecl_gemm(ctx, &g));
    }
    return MOECL_LAUNCH(ctx, "sum_parts_f32", m * k, 0, MOECL_ARG_MEM(l->scratch[0]->buf),
                        MOECL_ARG_MEM(l->params[0].grad->buf), MOECL_ARG_INT(m * k),
                        MOECL_ARG_INT(full + (rest > 0)));
}

/* dX's product as CLBlast runs it: dcols = W^T * dy. */
static moecl_gemm_args input_gradient_args(layer *l, size_t cols)
{
    return (moecl_gemm_args){.trans_a = true, .m = patch_size(l), .n = cols, .k = (size_t)l->out.c,
                             .alpha = 1,
                             .a = l->params[0].value->buf, .lda = patch_size(l),
                             .b = moecl_workspace(l->ctx, 1), .ldb = cols,
                             .c = moecl_workspace(l->ctx, 0), .ldc = cols};
}

static moecl_status conv_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                  bool need_dx)
{
    moecl_ctx *ctx = l->ctx;
    size_t cols = (size_t)n * out_pixels(l);
    bool split = use_split(l, cols);
    size_t parts = split ? split_parts(l, cols) : 1, chunk = split ? split_k(l) : cols;
    moecl_gemm_args gw = weight_gradient_args(l, cols), gx = input_gradient_args(l, cols);
    size_t m = (size_t)l->out.c, k = patch_size(l);
    int alg_w = l->frozen ? 0 : moecl_gemm_choose(ctx, &gw, chunk, chunk, m * k, parts);
    int alg_x = need_dx ? moecl_gemm_choose(ctx, &gx, 0, 0, 0, 1) : 0;
    if (alg_w < 0 || alg_x < 0) return MOECL_ERR_INVALID_ARG;
    if (alg_w > 0) MOECL_TRY(conv_packed_weight_gradient(l, x, dy, n, alg_w - 1, chunk, parts));
    if (alg_x > 0) MOECL_TRY(conv_packed_input_gradient(l, dy, n, alg_x - 1));
    bool clblast_w = !l->frozen && alg_w == 0, clblast_x = need_dx && alg_x == 0;
    if (!clblast_w && !clblast_x) return MOECL_OK;
    cl_mem dyc = moecl_workspace(ctx, 1); /* dy as [filters, n*P] */
    MOECL_TRY(MOECL_LAUNCH_3D(ctx, "bcp_to_cbp_f32", out_pixels(l), (size_t)l->out.c, (size_t)n,
                              MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(dyc), MOECL_ARG_INT(n),
                           MOECL_ARG_INT(l->out.c), MOECL_ARG_INT(out_pixels(l))));
    if (clblast_w) {
        if (l->cfg.use_bias)
            MOECL_TRY(MOECL_LAUNCH(ctx, "row_sum_f32", (size_t)l->out.c * 64, 64,
                                   MOECL_ARG_MEM(dyc), MOECL_ARG_MEM(l->params[1].grad->buf),
                                   MOECL_ARG_INT(l->out.c), MOECL_ARG_INT(cols),
                                   MOECL_ARG_FLOAT(0.0f)));
        MOECL_TRY(im2col(l, x, n));
        MOECL_TRY(weight_gradient(l, dyc, cols));
    }
    if (!clblast_x) return MOECL_OK;
    /* dcols = W^T * dy, then scattered back to the image (col2im gathers). */
    gx.b = dyc;
    MOECL_TRY(moecl_gemm(ctx, &gx));
    cl_mem dcols = moecl_workspace(ctx, 0);
    return MOECL_LAUNCH_3D(ctx, "col2im_f32", (size_t)l->in.w,
                           (size_t)l->in.c * l->in.h, (size_t)n, MOECL_ARG_MEM(dcols),
                           MOECL_ARG_MEM(l->grad_input->buf),
                           ARGS_GEOMETRY(l, n));
}

static const layer_ops CONV_OPS = {conv_setup, conv_forward, conv_backward};

layer *layer_conv2d(const char *name, int filters, int kh, int kw, int sh, int sw, bool same,
                    bool use_bias)
{
    layer *l = layer_new(LAYER_CONV2D, name, &CONV_OPS);
    if (!l) return NULL;
    l->cfg.filters = filters;
    l->cfg.kh = kh, l->cfg.kw = kw, l->cfg.sh = sh, l->cfg.sw = sw;
    l->cfg.same = same;
    l->cfg.use_bias = use_bias;
    return l;
}
