/* Fully connected layer: y[n, units] = x[n, in] * W[in, units] + b (the
 * Keras kernel layout, so checkpoints match Keras weights). */
#include "../internal.h"
#include "../layer.h"

static moecl_status dense_setup(layer *l, moecl_ctx *ctx)
{
    (void)ctx;
    int in = (int)shape3_size(l->in);
    l->out = (shape3){l->cfg.units, 1, 1};
    int wshape[2] = {in, l->cfg.units};
    MOECL_TRY(layer_add_param(l, "kernel", 2, wshape, true));
    if (l->cfg.use_bias) MOECL_TRY(layer_add_param(l, "bias", 1, &l->cfg.units, true));
    l->flops_per_image = 2ull * (size_t)in * (size_t)l->cfg.units;
    return MOECL_OK;
}

static moecl_status dense_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    size_t in = shape3_size(l->in), units = (size_t)l->cfg.units;
    moecl_gemm_args g = {.m = (size_t)n, .n = units, .k = in, .alpha = 1,
                         .a = x->buf, .lda = in,
                         .b = l->params[0].value->buf, .ldb = units,
                         .c = l->output->buf, .ldc = units};
    MOECL_TRY(moecl_gemm(l->ctx, &g));
    if (!l->cfg.use_bias) return MOECL_OK;
    return MOECL_LAUNCH(l->ctx, "add_row_bias_f32", (size_t)n * units, 0,
                        MOECL_ARG_MEM(l->output->buf), MOECL_ARG_MEM(l->params[1].value->buf),
                        MOECL_ARG_INT(n), MOECL_ARG_INT(units));
}

static moecl_status dense_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                   bool need_dx)
{
    size_t in = shape3_size(l->in), units = (size_t)l->cfg.units;
    if (!l->frozen) {
        moecl_gemm_args g = {.trans_a = true, .m = in, .n = units, .k = (size_t)n, .alpha = 1,
                             .a = x->buf, .lda = in,
                             .b = dy->buf, .ldb = units,
                             .c = l->params[0].grad->buf, .ldc = units};
        MOECL_TRY(moecl_gemm(l->ctx, &g));
        if (l->cfg.use_bias)
            MOECL_TRY(MOECL_LAUNCH(l->ctx, "col_sum_f32", units, 0, MOECL_ARG_MEM(dy->buf),
                                   MOECL_ARG_MEM(l->params[1].grad->buf), MOECL_ARG_INT(n),
                                   MOECL_ARG_INT(units)));
    }
    if (!need_dx) return MOECL_OK;
    moecl_gemm_args g = {.trans_b = true, .m = (size_t)n, .n = in, .k = units, .alpha = 1,
                         .a = dy->buf, .lda = units,
                         .b = l->params[0].value->buf, .ldb = units,
                         .c = l->grad_input->buf, .ldc = in};
    return moecl_gemm(l->ctx, &g);
}

static const layer_ops DENSE_OPS = {dense_setup, dense_forward, dense_backward};

layer *layer_dense(const char *name, int units, bool use_bias)
{
    layer *l = layer_new(LAYER_DENSE, name, &DENSE_OPS);
    if (!l) return NULL;
    l->cfg.units = units;
    l->cfg.use_bias = use_bias;
    return l;
}
