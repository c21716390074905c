/* Convolution passes on our kernels (see conv2d_packed.h). Weights are
 * [F, C*KH*KW] row-major; images and outputs NCHW; P = OH * OW. */
#include "conv2d_packed.h"

static size_t patch(const layer *l) { return (size_t)l->in.c * l->cfg.kh * l->cfg.kw; }
static size_t pixels(const layer *l) { return (size_t)l->out.h * l->out.w; }

static moecl_conv_shape conv_shape(const layer *l)
{
    const layer_config *c = &l->cfg;
    return (moecl_conv_shape){l->in.c, l->in.h, l->in.w, c->kh, c->kw, c->sh, c->sw,
                              c->ph, c->pw, l->out.h, l->out.w};
}

/* The NCHW tensor buf [n, F, P] as the matrix [F, n * P]. */
static moecl_view nchw_as_channels(cl_mem buf, const layer *l)
{
    size_t P = pixels(l);
    return (moecl_view){.buf = buf, .rs = P, .cs = 1, .group = P, .gs = (size_t)l->out.c * P};
}

/* dst = src ([n, C, H, W]) with a zero border: PH, PW before, Hp x Wp in all. */
static moecl_status add_border(moecl_ctx *ctx, cl_mem src, cl_mem dst, int n, int C, int H, int W,
                               int PH, int PW, int Hp, int Wp)
{
    return MOECL_LAUNCH(ctx, "conv_pad_f32", (size_t)n * C * Hp, ctx->cpu_shaped ? 16 : 0,
                        MOECL_ARG_MEM(src), MOECL_ARG_MEM(dst), MOECL_ARG_INT(n), MOECL_ARG_INT(C),
                        MOECL_ARG_INT(H), MOECL_ARG_INT(W), MOECL_ARG_INT(PH), MOECL_ARG_INT(PW),
                        MOECL_ARG_INT(Hp), MOECL_ARG_INT(Wp));
}

/* The input with the border every output pixel's window needs (scratch 2),
 * rows at least `width` wide (zeros past the border); the backward pass
 * reuses the forward pass's copy of the same input where it is wide enough.
 * The width made: l->bordered_w. */
static moecl_status bordered_input(layer *l, const moecl_tensor *x, int n, int width, bool reuse)
{
    if (reuse && l->bordered_of == x && l->bordered_n == n && l->bordered_w >= width) return MOECL_OK;
    l->bordered_of = x;
    l->bordered_n = n;
    l->bordered_w = width;
    const layer_config *c = &l->cfg;
    int Hp = (l->out.h - 1) * c->sh + c->kh;
    return add_border(l->ctx, x->buf, l->scratch[2]->buf, n, l->in.c, l->in.h, l->in.w, c->ph, c->pw,
                      Hp, width);
}

bool conv_direct_fits(const layer *l, int variant, int out_h, int out_w)
{
    return l->cfg.sh == 1 && l->cfg.sw == 1 && moecl_own_conv_direct_fits(l->ctx, variant, out_h, out_w);
}

moecl_status conv_packed_forward(layer *l, const moecl_tensor *x, int n, int variant, bool direct)
{
    cl_mem bias = l->cfg.use_bias ? l->params[1].value->buf : NULL;
    if (direct) {
        moecl_conv_shape s = conv_shape(l);
        int width = moecl_own_conv_direct_width(l->ctx, variant, l->out.h, l->out.w, l->cfg.kw);
        MOECL_TRY(bordered_input(l, x, n, width, false));
        return moecl_own_conv_forward(l->ctx, variant, l->scratch[2]->buf, l->bordered_w,
                                      l->params[0].value->buf, bias, l->fused_relu, l->output->buf,
                                      l->out.c, &s, n);
    }
    moecl_product p = {
        .m = (size_t)l->out.c, .n = (size_t)n * pixels(l), .k = patch(l), .batch = 1, .alpha = 1,
        .a = {.buf = l->params[0].value->buf, .rs = patch(l), .cs = 1},
        .b = {.buf = x->buf}, .b_source = MOECL_B_IM2COL, .conv = conv_shape(l),
        .c = nchw_as_channels(l->output->buf, l), .bias = bias, .bias_mode = 1,
        .relu = l->fused_relu,
    };
    return moecl_own_product(l->ctx, variant, &p);
}

moecl_status conv_bias_gradient(layer *l, const moecl_tensor *dy, int n)
{
    moecl_ctx *ctx = l->ctx;
    size_t m = (size_t)l->out.c;
    if (!l->cfg.use_bias) return MOECL_OK;
    return MOECL_LAUNCH(ctx, ctx->cpu_shaped ? "channel_sum_rows_f32" : "channel_sum_f32",
                        ctx->cpu_shaped ? m : m * 64, ctx->cpu_shaped ? 1 : 64,
                        MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(l->params[1].grad->buf),
                        MOECL_ARG_INT(n), MOECL_ARG_INT(l->out.c), MOECL_ARG_INT(pixels(l)));
}

moecl_status conv_packed_weight_gradient(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                         int n, int variant, bool direct, size_t chunk, size_t parts)
{
    moecl_ctx *ctx = l->ctx;
    size_t m = (size_t)l->out.c, k = patch(l), cols = (size_t)n * pixels(l);
    MOECL_TRY(conv_bias_gradient(l, dy, n));
    cl_mem dw = parts > 1 ? l->scratch[0]->buf : l->params[0].grad->buf;
    if (parts == 1) chunk = cols;
    if (direct) {
        moecl_conv_shape s = conv_shape(l);
        MOECL_TRY(bordered_input(l, x, n, (l->out.w - 1) * l->cfg.sw + l->cfg.kw, true));
        MOECL_TRY(moecl_own_conv_weight_grad(ctx, variant, l->scratch[2]->buf, l->bordered_w, dy->buf,
                                             dw, l->out.c, &s, n, chunk, parts));
    } else {
        moecl_product p = {
            .m = m, .n = k, .k = cols, .batch = parts, .kc = chunk, .alpha = 1,
            .a = nchw_as_channels(dy->buf, l),
            .b = {.buf = x->buf}, .b_source = MOECL_B_IM2COL_T, .conv = conv_shape(l),
            .c = {.buf = dw, .batch_stride = m * k, .rs = k, .cs = 1},
        };
        MOECL_TRY(moecl_own_product(ctx, variant, &p));
    }
    if (parts == 1) return MOECL_OK;
    return MOECL_LAUNCH(ctx, "sum_parts_f32", m * k, 0, MOECL_ARG_MEM(l->scratch[0]->buf),
                        MOECL_ARG_MEM(l->params[0].grad->buf), MOECL_ARG_INT(m * k),
                        MOECL_ARG_INT(parts));
}

/* At stride 1 the input gradient is itself a convolution: of dy ([n, F,
 * OH, OW]) with the flipped, transposed kernel, padded KH-1-PH before, whose
 * output has the input's size. */
static moecl_status input_gradient_as_convolution(layer *l, const moecl_tensor *dy, int n,
                                                  int variant, bool direct)
{
    moecl_ctx *ctx = l->ctx;
    const layer_config *c = &l->cfg;
    int F = l->out.c, C = l->in.c;
    cl_mem wt = l->scratch[1]->buf;
    MOECL_TRY(MOECL_LAUNCH(ctx, "flip_weights_f32", (size_t)F * patch(l), 0,
                           MOECL_ARG_MEM(l->params[0].value->buf), MOECL_ARG_MEM(wt),
                           MOECL_ARG_INT(F), MOECL_ARG_INT(C), MOECL_ARG_INT(c->kh),
                           MOECL_ARG_INT(c->kw)));
    moecl_conv_shape s = {F, l->out.h, l->out.w, c->kh, c->kw, 1, 1, c->kh - 1 - c->ph,
                          c->kw - 1 - c->pw, l->in.h, l->in.w};
    if (direct) {
        int width = moecl_own_conv_direct_width(ctx, variant, l->in.h, l->in.w, c->kw);
        MOECL_TRY(add_border(ctx, dy->buf, l->scratch[3]->buf, n, F, l->out.h, l->out.w, s.ph, s.pw,
                             l->in.h + c->kh - 1, width));
        s.ph = s.pw = 0;
        return moecl_own_conv_forward(ctx, variant, l->scratch[3]->buf, width, wt, NULL, false,
                                      l->grad_input->buf, C, &s, n);
    }
    size_t k = (size_t)F * c->kh * c->kw, P = (size_t)l->in.h * l->in.w;
    moecl_product p = {
        .m = (size_t)C, .n = (size_t)n * P, .k = k, .batch = 1, .alpha = 1,
        .a = {.buf = wt, .rs = k, .cs = 1},
        .b = {.buf = dy->buf}, .b_source = MOECL_B_IM2COL, .conv = s,
        .c = {.buf = l->grad_input->buf, .rs = P, .cs = 1, .group = P, .gs = (size_t)C * P},
    };
    return moecl_own_product(ctx, variant, &p);
}

moecl_status conv_packed_input_gradient(layer *l, const moecl_tensor *dy, int n, int variant,
                                        bool direct)
{
    moecl_ctx *ctx = l->ctx;
    if (l->cfg.sh == 1 && l->cfg.sw == 1) return input_gradient_as_convolution(l, dy, n, variant, direct);
    size_t k = patch(l), cols = (size_t)n * pixels(l);
    cl_mem dcols = moecl_workspace(ctx, 0);
    moecl_product p = {
        .m = k, .n = cols, .k = (size_t)l->out.c, .batch = 1, .alpha = 1,
        .a = {.buf = l->params[0].value->buf, .rs = 1, .cs = k},
        .b = nchw_as_channels(dy->buf, l),
        .c = {.buf = dcols, .rs = cols, .cs = 1},
    };
    MOECL_TRY(moecl_own_product(ctx, variant, &p));
    const layer_config *c = &l->cfg;
    return MOECL_LAUNCH_3D(ctx, "col2im_f32", (size_t)l->in.w, (size_t)l->in.c * l->in.h, (size_t)n,
                           MOECL_ARG_MEM(dcols), MOECL_ARG_MEM(l->grad_input->buf), MOECL_ARG_INT(n),
                           MOECL_ARG_INT(l->in.c), MOECL_ARG_INT(l->in.h), MOECL_ARG_INT(l->in.w),
                           MOECL_ARG_INT(c->kh), MOECL_ARG_INT(c->kw), MOECL_ARG_INT(c->sh),
                           MOECL_ARG_INT(c->sw), MOECL_ARG_INT(c->ph), MOECL_ARG_INT(c->pw),
                           MOECL_ARG_INT(l->out.h), MOECL_ARG_INT(l->out.w));
}
