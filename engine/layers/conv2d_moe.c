/* Conv2DMoE: K convolutional experts mixed per filter by a gate on the
 * flattened input (after the Keras layer of eminorhan/mixture-of-experts):
 *   e[n, f*K + k] = act(conv(x, W)[n, f*K + k] + b)     one conv, F*K maps
 *   g[n, f, :]    = gate_act(flatten(x)[n] . G + c) reshaped to (F, K)
 *   y[n, f]       = sum_k g[n, f, k] e[n, f*K + k]
 * The convolution is an inner conv2d layer whose kernel and bias this
 * layer shows as "expert_kernel" and "expert_bias".
 * Scratch: 0 g [batch, F*K], 1 de [batch, F*K*P], 2 dg [batch, F*K]. */
#include "../internal.h"
#include "../layer.h"

#include <stdio.h>
#include <string.h>

enum { G, DE, DG };

static int F(const layer *l) { return l->cfg.filters; }
static int K(const layer *l) { return l->cfg.n_experts; }
static size_t P(const layer *l) { return (size_t)l->out.h * l->out.w; }
static moecl_param *gate_kernel(layer *l) { return &l->params[l->cfg.use_bias ? 2 : 1]; }
static moecl_param *gate_bias(layer *l)
{
    return l->cfg.use_gating_bias ? &l->params[l->cfg.use_bias ? 3 : 2] : NULL;
}

static moecl_status cmoe_setup(layer *l, moecl_ctx *ctx)
{
    layer_config *c = &l->cfg;
    char name[80];
    snprintf(name, sizeof name, "%s_conv", l->name);
    l->inner = layer_conv2d(name, F(l) * K(l), c->kh, c->kw, c->sh, c->sw, c->same, c->use_bias);
    if (!l->inner) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    uint64_t unused = 1; /* the inner weights are initialised again as this layer's */
    MOECL_TRY(layer_setup(l->inner, ctx, l->in, l->batch, &unused));
    l->out = (shape3){F(l), l->inner->out.h, l->inner->out.w};
    c->ph = l->inner->cfg.ph; /* the padding 'same' worked out */
    c->pw = l->inner->cfg.pw;
    /* the inner conv's parameters, shown under this layer's names */
    for (int i = 0; i < l->inner->n_params; i++) {
        moecl_param *p = &l->params[l->n_params++];
        *p = l->inner->params[i];
        p->borrowed = true;
        snprintf(p->name, sizeof p->name, "%s", i == 0 ? "expert_kernel" : "expert_bias");
    }
    int in = (int)shape3_size(l->in), fk = F(l) * K(l);
    int wg[2] = {in, fk};
    MOECL_TRY(layer_add_param(l, "gating_kernel", 2, wg, true));
    if (c->use_gating_bias) MOECL_TRY(layer_add_param(l, "gating_bias", 1, &fk, true));
    size_t b = (size_t)l->batch;
    MOECL_TRY(layer_add_scratch(l, G, b * (size_t)fk));
    MOECL_TRY(layer_add_scratch(l, DE, b * (size_t)fk * P(l)));
    MOECL_TRY(layer_add_scratch(l, DG, b * (size_t)fk));
    l->flops_per_image = l->inner->flops_per_image + 2ull * (size_t)in * (size_t)fk +
                         2ull * (size_t)fk * P(l);
    return MOECL_OK;
}

static moecl_status cmoe_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    moecl_ctx *ctx = l->ctx;
    size_t fk = (size_t)F(l) * K(l), in = shape3_size(l->in);
    MOECL_TRY(layer_forward(l->inner, x, n, run));
    cl_mem e = l->inner->output->buf, g = l->scratch[G]->buf;
    if (l->cfg.expert_act == ACT_RELU)
        MOECL_TRY(MOECL_LAUNCH(ctx, "relu_inplace_f32", (size_t)n * fk * P(l), 0, MOECL_ARG_MEM(e),
                               MOECL_ARG_INT((size_t)n * fk * P(l))));
    moecl_gemm_args gg = {.m = (size_t)n, .n = fk, .k = in, .alpha = 1, .a = x->buf, .lda = in,
                          .b = gate_kernel(l)->value->buf, .ldb = fk, .c = g, .ldc = fk};
    MOECL_TRY(moecl_gemm(ctx, &gg));
    if (gate_bias(l)) {
        cl_mem bias = gate_bias(l)->value->buf;
        MOECL_TRY(MOECL_LAUNCH(ctx, "add_row_bias_f32", (size_t)n * fk, 0, MOECL_ARG_MEM(g),
                               MOECL_ARG_MEM(bias), MOECL_ARG_INT(n), MOECL_ARG_INT(fk)));
    }
    if (l->cfg.gating_act == ACT_SOFTMAX) /* over the experts of each filter */
        MOECL_TRY(MOECL_LAUNCH(ctx, "softmax_rows_f32", (size_t)n * F(l), 0, MOECL_ARG_MEM(g),
                               MOECL_ARG_INT(n * F(l)), MOECL_ARG_INT(K(l))));
    else if (l->cfg.gating_act == ACT_RELU)
        MOECL_TRY(MOECL_LAUNCH(ctx, "relu_inplace_f32", (size_t)n * fk, 0, MOECL_ARG_MEM(g),
                               MOECL_ARG_INT((size_t)n * fk)));
    return MOECL_LAUNCH(ctx, "conv_moe_combine_forward_f32", (size_t)n * F(l) * P(l), 0,
                        MOECL_ARG_MEM(e), MOECL_ARG_MEM(g), MOECL_ARG_MEM(l->output->buf),
                        MOECL_ARG_INT(n), MOECL_ARG_INT(F(l)), MOECL_ARG_INT(K(l)),
                        MOECL_ARG_INT(P(l)));
}

static moecl_status cmoe_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                  bool need_dx)
{
    moecl_ctx *ctx = l->ctx;
    size_t fk = (size_t)F(l) * K(l), in = shape3_size(l->in);
    cl_mem e = l->inner->output->buf, g = l->scratch[G]->buf;
    moecl_tensor *de = l->scratch[DE];
    cl_mem dg = l->scratch[DG]->buf;
    MOECL_TRY(MOECL_LAUNCH(ctx, "conv_moe_backward_experts_f32", (size_t)n * fk * P(l), 0,
                           MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(g), MOECL_ARG_MEM(de->buf),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(F(l)), MOECL_ARG_INT(K(l)),
                           MOECL_ARG_INT(P(l))));
    MOECL_TRY(MOECL_LAUNCH(ctx, "conv_moe_backward_gates_f32", (size_t)n * fk, 0,
                           MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(e), MOECL_ARG_MEM(dg),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(F(l)), MOECL_ARG_INT(K(l)),
                           MOECL_ARG_INT(P(l))));
    if (l->cfg.expert_act == ACT_RELU)
        MOECL_TRY(MOECL_LAUNCH(ctx, "relu_mask_f32", (size_t)n * fk * P(l), 0, MOECL_ARG_MEM(e),
                               MOECL_ARG_MEM(de->buf), MOECL_ARG_INT((size_t)n * fk * P(l))));
    if (l->cfg.gating_act == ACT_SOFTMAX)
        MOECL_TRY(MOECL_LAUNCH(ctx, "softmax_rows_backward_f32", (size_t)n * F(l), 0,
                               MOECL_ARG_MEM(g), MOECL_ARG_MEM(dg), MOECL_ARG_INT(n * F(l)),
                               MOECL_ARG_INT(K(l))));
    else if (l->cfg.gating_act == ACT_RELU)
        MOECL_TRY(MOECL_LAUNCH(ctx, "relu_mask_f32", (size_t)n * fk, 0, MOECL_ARG_MEM(g),
                               MOECL_ARG_MEM(dg), MOECL_ARG_INT((size_t)n * fk)));
    l->inner->frozen = l->frozen;
    MOECL_TRY(layer_backward(l->inner, x, de, n, need_dx));
    if (!l->frozen) {
        moecl_gemm_args gw = {.trans_a = true, .m = in, .n = fk, .k = (size_t)n, .alpha = 1,
                              .a = x->buf, .lda = in, .b = dg, .ldb = fk,
                              .c = gate_kernel(l)->grad->buf, .ldc = fk};
        MOECL_TRY(moecl_gemm(ctx, &gw));
        if (gate_bias(l)) {
            cl_mem db = gate_bias(l)->grad->buf;
            MOECL_TRY(MOECL_LAUNCH(ctx, "col_sum_f32", fk, 0, MOECL_ARG_MEM(dg), MOECL_ARG_MEM(db),
                                   MOECL_ARG_INT(n), MOECL_ARG_INT(fk)));
        }
    }
    if (!need_dx) return MOECL_OK;
    /* dx = the convolution's input gradient + dg G^T */
    MOECL_TRY(moecl_tensor_copy(l->inner->grad_input, l->grad_input, (size_t)n * in));
    moecl_gemm_args gx = {.trans_b = true, .m = (size_t)n, .n = in, .k = fk, .alpha = 1, .beta = 1,
                          .a = dg, .lda = fk, .b = gate_kernel(l)->value->buf, .ldb = fk,
                          .c = l->grad_input->buf, .ldc = in};
    return moecl_gemm(ctx, &gx);
}

static const layer_ops CMOE_OPS = {cmoe_setup, cmoe_forward, cmoe_backward};

layer *layer_conv2d_moe(const char *name, int filters, int n_experts, int kh, int kw, int sh,
                        int sw, bool same, layer_activation expert_act, layer_activation gating_act,
                        bool use_expert_bias, bool use_gating_bias)
{
    layer *l = layer_new(LAYER_CONV2D_MOE, name, &CMOE_OPS);
    if (!l) return NULL;
    l->cfg.filters = filters;
    l->cfg.n_experts = n_experts;
    l->cfg.kh = kh, l->cfg.kw = kw, l->cfg.sh = sh, l->cfg.sw = sw;
    l->cfg.same = same;
    l->cfg.expert_act = expert_act;
    l->cfg.gating_act = gating_act;
    l->cfg.use_bias = use_expert_bias;
    l->cfg.use_gating_bias = use_gating_bias;
    return l;
}
