/* Convolution products on our packed GEMM (see conv2d_packed.h). Weights
 * are [F, C*KH*KW] row-major; images and outputs NCHW; P = OH * OW. */
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

moecl_status conv_packed_forward(layer *l, const moecl_tensor *x, int n, int variant)
{
    moecl_product p = {
        .m = (size_t)l->out.c, .n = (size_t)n * pixels(l), .k = patch(l), .batch = 1, .alpha = 1,
        .a = {.buf = l->params[0].value->buf, .rs = patch(l), .cs = 1},
        .b = {.buf = x->buf}, .b_source = MOECL_B_IM2COL, .conv = conv_shape(l),
        .c = nchw_as_channels(l->output->buf, l),
        .bias = l->cfg.use_bias ? l->params[1].value->buf : NULL, .bias_mode = 1,
    };
    return moecl_own_product(l->ctx, variant, &p);
}

moecl_status conv_packed_weight_gradient(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                         int n, int variant, size_t chunk, size_t parts)
{
    moecl_ctx *ctx = l->ctx;
    size_t m = (size_t)l->out.c, k = patch(l), cols = (size_t)n * pixels(l);
    if (l->cfg.use_bias)
        MOECL_TRY(MOECL_LAUNCH(ctx, "channel_sum_f32", m * 64, 64, MOECL_ARG_MEM(dy->buf),
                               MOECL_ARG_MEM(l->params[1].grad->buf), MOECL_ARG_INT(n),
                               MOECL_ARG_INT(l->out.c), MOECL_ARG_INT(pixels(l))));
    moecl_product p = {
        .m = m, .n = k, .k = cols, .batch = parts, .kc = parts > 1 ? chunk : 0, .alpha = 1,
        .a = nchw_as_channels(dy->buf, l),
        .b = {.buf = x->buf}, .b_source = MOECL_B_IM2COL_T, .conv = conv_shape(l),
        .c = {.buf = parts > 1 ? l->scratch[0]->buf : l->params[0].grad->buf,
              .batch_stride = m * k, .rs = k, .cs = 1},
    };
    if (parts == 1) p.kc = cols; /* one chunk: the transposed packer still walks K in chunks */
    p.batch = parts;
    MOECL_TRY(moecl_own_product(ctx, variant, &p));
    if (parts == 1) return MOECL_OK;
    return MOECL_LAUNCH(ctx, "sum_parts_f32", m * k, 0, MOECL_ARG_MEM(l->scratch[0]->buf),
                        MOECL_ARG_MEM(l->params[0].grad->buf), MOECL_ARG_INT(m * k),
                        MOECL_ARG_INT(parts));
}

/* At stride 1 the input gradient is itself a convolution: of dy ([n, F,
 * OH, OW]) with the flipped, transposed kernel, padded KH-1-PH before, whose
 * output has the input's size. */
static moecl_status input_gradient_as_convolution(layer *l, const moecl_tensor *dy, int n,
                                                  int variant)
{
    moecl_ctx *ctx = l->ctx;
    const layer_config *c = &l->cfg;
    int F = l->out.c, C = l->in.c;
    cl_mem wt = l->scratch[1]->buf;
    MOECL_TRY(MOECL_LAUNCH(ctx, "flip_weights_f32", (size_t)F * patch(l), 0,
                           MOECL_ARG_MEM(l->params[0].value->buf), MOECL_ARG_MEM(wt),
                           MOECL_ARG_INT(F), MOECL_ARG_INT(C), MOECL_ARG_INT(c->kh),
                           MOECL_ARG_INT(c->kw)));
    size_t k = (size_t)F * c->kh * c->kw, P = (size_t)l->in.h * l->in.w;
    moecl_product p = {
        .m = (size_t)C, .n = (size_t)n * P, .k = k, .batch = 1, .alpha = 1,
        .a = {.buf = wt, .rs = k, .cs = 1},
        .b = {.buf = dy->buf}, .b_source = MOECL_B_IM2COL,
        .conv = {F, l->out.h, l->out.w, c->kh, c->kw, 1, 1, c->kh - 1 - c->ph, c->kw - 1 - c->pw,
                 l->in.h, l->in.w},
        .c = {.buf = l->grad_input->buf, .rs = P, .cs = 1, .group = P, .gs = (size_t)C * P},
    };
    return moecl_own_product(ctx, variant, &p);
}

moecl_status conv_packed_input_gradient(layer *l, const moecl_tensor *dy, int n, int variant)
{
    moecl_ctx *ctx = l->ctx;
    if (l->cfg.sh == 1 && l->cfg.sw == 1) return input_gradient_as_convolution(l, dy, n, variant);
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
