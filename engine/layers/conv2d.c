/* 2-D convolution, NCHW, any kernel size and stride, 'same' or 'valid'
 * padding, optional bias. Weights are [filters, in_channels, kh, kw].
 *
 * Each pass (forward, weight gradient, input gradient) runs one of several
 * ways, the fastest measured on the device for the layer's shape the first
 * time it is seen (choice.c; --gemm and MOECL_CONV narrow the field):
 *  - "clblast": im2col into workspace 0, CLBlast's GEMM into workspace 1, a
 *    permute (with the bias) to NCHW, here;
 *  - "own6x16" (each parameter set of ours): the column matrix packed
 *    straight into panels, NCHW in and out (conv2d_packed.c);
 *  - "own6x16-direct": no column matrix (conv2d_packed.c);
 *  - "winograd4", "winograd2": 3x3 stride-1 passes by Winograd's F(4x4, 3x3)
 *    or F(2x2, 3x3) (conv2d_winograd.c). */
#include "conv2d_packed.h"
#include "conv2d_winograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* conv2d_packed.c: the flipped kernel of the input gradient as a
     * convolution, the input with its zero border, dy with its border */
    MOECL_TRY(layer_add_scratch(l, 1, (size_t)c->filters * patch_size(l)));
    /* (stride 1: rows as wide as the direct kernels' panels reach) */
    bool unit = c->sh == 1 && c->sw == 1;
    size_t bordered_h = (size_t)(l->out.h - 1) * c->sh + c->kh,
           bordered_w = unit ? MOECL_CONV_DIRECT_MAX_WIDTH(l->out.w, c->kw)
                             : (size_t)(l->out.w - 1) * c->sw + c->kw;
    MOECL_TRY(layer_add_scratch(l, 2, (size_t)l->batch * l->in.c * bordered_h * bordered_w));
    if (unit)
        MOECL_TRY(layer_add_scratch(l, 3, (size_t)l->batch * c->filters * (l->in.h + c->kh - 1) *
                                              MOECL_CONV_DIRECT_MAX_WIDTH(l->in.w, c->kw)));
    if (conv_winograd_shape(l)) MOECL_TRY(conv_winograd_reserve(l));
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

/* CLBlast's GEMM directly: these are the "clblast" ways, not a choice. */
static moecl_status clblast_gemm(moecl_ctx *ctx, const moecl_gemm_args *g, size_t sa, size_t sb,
                                 size_t sc, size_t batch)
{
    return moecl_clblast_gemm(ctx, g, sa, sb, sc, batch);
}

static moecl_status clblast_forward(layer *l, const moecl_tensor *x, int n)
{
    moecl_ctx *ctx = l->ctx;
    size_t cols = (size_t)n * out_pixels(l);
    moecl_gemm_args g = {.m = (size_t)l->out.c, .n = cols, .k = patch_size(l), .alpha = 1,
                         .a = l->params[0].value->buf, .lda = patch_size(l),
                         .b = moecl_workspace(ctx, 0), .ldb = cols,
                         .c = moecl_workspace(ctx, 1), .ldc = cols};
    MOECL_TRY(im2col(l, x, n));
    MOECL_TRY(clblast_gemm(ctx, &g, 0, 0, 0, 1));
    cl_mem tmp = moecl_workspace(ctx, 1);
    cl_mem bias = l->cfg.use_bias ? l->params[1].value->buf : tmp;
    return MOECL_LAUNCH_3D(ctx, "cbp_to_bcp_bias_f32", out_pixels(l), (size_t)l->out.c, (size_t)n,
                           MOECL_ARG_MEM(tmp), MOECL_ARG_MEM(bias), MOECL_ARG_MEM(l->output->buf),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(l->out.c), MOECL_ARG_INT(out_pixels(l)),
                           MOECL_ARG_INT(l->cfg.use_bias), MOECL_ARG_INT(l->fused_relu));
}

/* dy ([n, F, P]) as [F, n*P] in workspace 1, for CLBlast. */
static moecl_status permuted_dy(layer *l, const moecl_tensor *dy, int n)
{
    cl_mem dyc = moecl_workspace(l->ctx, 1);
    return MOECL_LAUNCH_3D(l->ctx, "bcp_to_cbp_f32", out_pixels(l), (size_t)l->out.c, (size_t)n,
                           MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(dyc),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(l->out.c), MOECL_ARG_INT(out_pixels(l)));
}

/* dW = dy * cols^T through CLBlast, split along the columns when they are
 * many, and the bias gradient. */
static moecl_status clblast_weight_gradient(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                            int n)
{
    moecl_ctx *ctx = l->ctx;
    size_t m = (size_t)l->out.c, k = patch_size(l), cols = (size_t)n * out_pixels(l);
    cl_mem dyc = moecl_workspace(ctx, 1);
    MOECL_TRY(permuted_dy(l, dy, n));
    if (l->cfg.use_bias)
        MOECL_TRY(MOECL_LAUNCH(ctx, "row_sum_f32", m * 64, 64, MOECL_ARG_MEM(dyc),
                               MOECL_ARG_MEM(l->params[1].grad->buf), MOECL_ARG_INT(m),
                               MOECL_ARG_INT(cols), MOECL_ARG_FLOAT(0.0f)));
    MOECL_TRY(im2col(l, x, n));
    moecl_gemm_args g = {.trans_b = true, .m = m, .n = k, .k = cols, .alpha = 1,
                         .a = dyc, .lda = cols,
                         .b = moecl_workspace(ctx, 0), .ldb = cols,
                         .c = l->params[0].grad->buf, .ldc = k};
    if (!use_split(l, cols)) return clblast_gemm(ctx, &g, 0, 0, 0, 1);
    size_t chunk = split_k(l), full = cols / chunk, rest = cols - full * chunk;
    g.k = chunk;
    g.c = l->scratch[0]->buf;
    MOECL_TRY(clblast_gemm(ctx, &g, chunk, chunk, m * k, full));
    if (rest) {
        g.k = rest;
        g.a_offset = g.b_offset = full * chunk;
        g.c_offset = full * m * k;
        MOECL_TRY(clblast_gemm(ctx, &g, 0, 0, 0, 1));
    }
    return MOECL_LAUNCH(ctx, "sum_parts_f32", m * k, 0, MOECL_ARG_MEM(l->scratch[0]->buf),
                        MOECL_ARG_MEM(l->params[0].grad->buf), MOECL_ARG_INT(m * k),
                        MOECL_ARG_INT(full + (rest > 0)));
}

/* dcols = W^T * dy through CLBlast, then scattered back to the image
 * (col2im gathers). */
static moecl_status clblast_input_gradient(layer *l, const moecl_tensor *dy, int n)
{
    moecl_ctx *ctx = l->ctx;
    size_t cols = (size_t)n * out_pixels(l);
    MOECL_TRY(permuted_dy(l, dy, n));
    moecl_gemm_args g = {.trans_a = true, .m = patch_size(l), .n = cols, .k = (size_t)l->out.c,
                         .alpha = 1,
                         .a = l->params[0].value->buf, .lda = patch_size(l),
                         .b = moecl_workspace(ctx, 1), .ldb = cols,
                         .c = moecl_workspace(ctx, 0), .ldc = cols};
    MOECL_TRY(clblast_gemm(ctx, &g, 0, 0, 0, 1));
    cl_mem dcols = moecl_workspace(ctx, 0);
    return MOECL_LAUNCH_3D(ctx, "col2im_f32", (size_t)l->in.w, (size_t)l->in.c * l->in.h, (size_t)n,
                           MOECL_ARG_MEM(dcols), MOECL_ARG_MEM(l->grad_input->buf),
                           ARGS_GEOMETRY(l, n));
}

/* ---- choosing the way of a pass ------------------------------------------- */

typedef enum conv_pass { PASS_FORWARD, PASS_WEIGHTS, PASS_INPUT } conv_pass;
static const char *const PASS_NAMES[] = {"forward", "weights", "input"};
/* as the profile shows them (bench train --profile, bench conv) */
static const char *const PASS_LABELS[] = {"forward", "weight gradient", "input gradient"};

typedef struct pass_work {
    layer *l;
    const moecl_tensor *x, *dy;
    int n;
    conv_pass pass;
} pass_work;

/* Way 0 is CLBlast; way 1 + 2v our variant v through the column matrix,
 * 2 + 2v the same direct; after those, Winograd F(4x4) and F(2x2). */
static int own_ways(const moecl_ctx *ctx) { return 2 * ctx->gemm.variant_count; }
_Static_assert(3 + 2 * MOECL_GEMM_MAX_VARIANTS <= MOECL_CHOICE_MAX, "every way of a pass has a slot");

/* m of a Winograd way (0: another way). */
static int winograd_m(const moecl_ctx *ctx, int way)
{
    return way == 1 + own_ways(ctx) ? 4 : way == 2 + own_ways(ctx) ? 2 : 0;
}

static moecl_status run_way(moecl_ctx *ctx, int way, void *user)
{
    pass_work *w = user;
    layer *l = w->l;
    int v = (way - 1) / 2, m = winograd_m(ctx, way);
    bool direct = way > 0 && !m && (way - 1) % 2 == 1;
    size_t cols = (size_t)w->n * out_pixels(l);
    bool split = use_split(l, cols);
    switch (w->pass) {
    case PASS_FORWARD:
        if (m) return conv_winograd_forward(l, w->x, w->n, m);
        return way == 0 ? clblast_forward(l, w->x, w->n) : conv_packed_forward(l, w->x, w->n, v, direct);
    case PASS_WEIGHTS:
        if (m) return conv_winograd_weight_gradient(l, w->x, w->dy, w->n, m);
        return way == 0 ? clblast_weight_gradient(l, w->x, w->dy, w->n)
                        : conv_packed_weight_gradient(l, w->x, w->dy, w->n, v, direct,
                                                      split ? split_k(l) : cols,
                                                      split ? split_parts(l, cols) : 1);
    default:
        if (m) return conv_winograd_input_gradient(l, w->dy, w->n, m);
        return way == 0 ? clblast_input_gradient(l, w->dy, w->n)
                        : conv_packed_input_gradient(l, w->dy, w->n, v, direct);
    }
}

/* Whether the current --gemm and MOECL_CONV let way `way` run. */
static bool wanted(const moecl_ctx *ctx, int way)
{
    const char *spec = moecl_ctx_gemm(ctx), *conv = ctx->gemm.conv;
    int m = winograd_m(ctx, way);
    if (m) { /* its products on the GEMM --gemm picks; not under CLBlast alone */
        if (strcmp(spec, "clblast") == 0) return false;
        if (strcmp(conv, "auto") == 0 || strcmp(conv, "winograd") == 0) return true;
        return strncmp(conv, "winograd", 8) == 0 && atoi(conv + 8) == m;
    }
    if (way == 0) return strcmp(spec, "auto") == 0 || strcmp(spec, "clblast") == 0;
    int v = (way - 1) / 2;
    bool direct = (way - 1) % 2 == 1;
    if (strcmp(conv, "im2col") == 0 && direct) return false; /* "direct": see run_pass */
    if (strcmp(spec, "auto") == 0 || strcmp(spec, "own") == 0) return true;
    char slot[16];
    snprintf(slot, sizeof slot, "own%d", v + 1);
    return strcmp(spec, moecl_gemm_algorithm_name(ctx, v + 1)) == 0 || strcmp(spec, slot) == 0;
}

/* Our panels of the largest operand (the column matrix of the forward
 * pass or of the input gradient) within one allocation. */
static bool own_fits(const layer *l, int v, size_t cols)
{
    size_t k = patch_size(l), k_dx = (size_t)l->out.c * l->cfg.kh * l->cfg.kw;
    return moecl_own_packed_bytes(l->ctx, v, 1, cols, k > k_dx ? k : k_dx, 1) <=
           l->ctx->device.max_alloc_bytes;
}

static moecl_status run_pass(layer *l, conv_pass pass, const moecl_tensor *x, const moecl_tensor *dy,
                             int n)
{
    moecl_ctx *ctx = l->ctx;
    moecl_profile_scope(ctx, l->name, PASS_LABELS[pass]);
    pass_work work = {l, x, dy, n, pass};
    char names[MOECL_CHOICE_MAX][24];
    moecl_candidates cand = {.run = run_way, .user = &work};
    size_t cols = (size_t)n * out_pixels(l);
    cand.count = 3 + own_ways(ctx);
    for (int way = 0; way < cand.count; way++) {
        int v = (way - 1) / 2, m = winograd_m(ctx, way);
        bool own = way > 0 && !m, direct = own && (way - 1) % 2 == 1;
        bool fits = true;
        if (m) {
            snprintf(names[way], sizeof names[way], "winograd%d", m);
            fits = conv_winograd_fits(l);
        } else if (way == 0) {
            snprintf(names[way], sizeof names[way], "clblast");
        } else {
            snprintf(names[way], sizeof names[way], "%s%s", ctx->gemm.variants[v].name, direct ? "-direct" : "");
            fits = own_fits(l, v, cols);
            if (direct && pass == PASS_FORWARD) fits = conv_direct_fits(l, v, l->out.h, l->out.w);
            if (direct && pass == PASS_INPUT) fits = conv_direct_fits(l, v, l->in.h, l->in.w);
        }
        cand.names[way] = names[way];
        cand.wanted[way] = wanted(ctx, way);
        cand.applicable[way] = fits;
    }
    /* MOECL_CONV=direct: the direct way wherever it applies, else im2col;
     * winograd (or winograd2, winograd4): Winograd wherever it applies */
    if (strcmp(ctx->gemm.conv, "direct") == 0)
        for (int way = 1; way + 1 < 1 + own_ways(ctx); way += 2)
            if (cand.applicable[way + 1]) cand.wanted[way] = false;
    if (strncmp(ctx->gemm.conv, "winograd", 8) == 0 && conv_winograd_fits(l))
        for (int way = 0; way < 1 + own_ways(ctx); way++) cand.wanted[way] = false;
    char key[112];
    size_t bucket = 1;
    while (bucket < (size_t)n) bucket <<= 1;
    snprintf(key, sizeof key, "conv %s %dx%dx%d %d %dx%d s%dx%d p%dx%d n%zu", PASS_NAMES[pass], l->in.c,
             l->in.h, l->in.w, l->out.c, l->cfg.kh, l->cfg.kw, l->cfg.sh, l->cfg.sw, l->cfg.ph,
             l->cfg.pw, bucket);
    int way = -1;
    MOECL_TRY(moecl_choose_by_timing(ctx, key, &cand, &way));
    if (way < 0)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "conv2d '%s': no way to run its %s pass under --gemm %s "
                          "and MOECL_CONV=%s", l->name, PASS_NAMES[pass], moecl_ctx_gemm(ctx), ctx->gemm.conv);
    return run_way(ctx, way, &work);
}

static moecl_status conv_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    l->bordered_of = NULL; /* the input is new: its bordered copy must be made again */
    return run_pass(l, PASS_FORWARD, x, NULL, n);
}

static moecl_status conv_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                  bool need_dx)
{
    if (!l->frozen) MOECL_TRY(run_pass(l, PASS_WEIGHTS, x, dy, n));
    if (need_dx) MOECL_TRY(run_pass(l, PASS_INPUT, x, dy, n));
    return MOECL_OK;
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
