/* DenseMoE: a dense layer of K experts mixed by a gate that looks at the
 * same input (after the Keras layer of eminorhan/mixture-of-experts):
 *   e[n, u, k] = f(sum_i x[n, i] W[i, u, k] + b[u, k])
 *   g[n, k]    = h(sum_i x[n, i] G[i, k] + c[k])
 *   y[n, u]    = sum_k g[n, k] e[n, u, k]
 * Two GEMMs forward (experts, gate), a combine kernel; backward splits dy
 * into the experts' and the gate's gradients. An optional importance loss
 * w CV^2(I), I_k = sum_n g[n, k] (Shazeer et al. 2017), keeps a softmax gate
 * from settling on one expert: its gradient joins the gate's in backward
 * (the reported loss leaves it out). Scratch: 0 e, 1 g, 2 de, 3 dg, 4 the
 * importance loss's d/dI, 5 its value. */
#include "../internal.h"
#include "../layer.h"

enum { E, G, DE, DG, COEF, AUX };
enum { W_EXPERT, B_EXPERT, W_GATE, B_GATE };

static int param_index(const layer *l, int which)
{
    /* expert kernel, [expert bias], gating kernel, [gating bias] */
    if (which == W_EXPERT) return 0;
    if (which == B_EXPERT) return l->cfg.use_bias ? 1 : -1;
    if (which == W_GATE) return l->cfg.use_bias ? 2 : 1;
    return l->cfg.use_gating_bias ? (l->cfg.use_bias ? 3 : 2) : -1;
}

static cl_mem value(const layer *l, int which) { return l->params[param_index(l, which)].value->buf; }
static cl_mem grad(const layer *l, int which) { return l->params[param_index(l, which)].grad->buf; }

static moecl_status moe_setup(layer *l, moecl_ctx *ctx)
{
    (void)ctx;
    int in = (int)shape3_size(l->in), U = l->cfg.units, K = l->cfg.n_experts;
    l->out = (shape3){U, 1, 1};
    int we[3] = {in, U, K}, be[2] = {U, K}, wg[2] = {in, K};
    MOECL_TRY(layer_add_param(l, "expert_kernel", 3, we, true));
    if (l->cfg.use_bias) MOECL_TRY(layer_add_param(l, "expert_bias", 2, be, true));
    MOECL_TRY(layer_add_param(l, "gating_kernel", 2, wg, true));
    if (l->cfg.use_gating_bias) MOECL_TRY(layer_add_param(l, "gating_bias", 1, &K, true));
    size_t b = (size_t)l->batch;
    MOECL_TRY(layer_add_scratch(l, E, b * (size_t)U * K));
    MOECL_TRY(layer_add_scratch(l, G, b * (size_t)K));
    MOECL_TRY(layer_add_scratch(l, DE, b * (size_t)U * K));
    MOECL_TRY(layer_add_scratch(l, DG, b * (size_t)K));
    if (l->cfg.importance_weight > 0) {
        MOECL_TRY(layer_add_scratch(l, COEF, (size_t)K));
        MOECL_TRY(layer_add_scratch(l, AUX, 1));
    }
    l->flops_per_image = 2ull * (size_t)in * (size_t)K * (size_t)(U + 1) + 2ull * U * K;
    return MOECL_OK;
}

/* out[n, cols] = x * W (+ bias), then the activation. */
static moecl_status affine(layer *l, const moecl_tensor *x, int n, cl_mem w, int bias_which,
                           cl_mem out, size_t cols, layer_activation act)
{
    size_t in = shape3_size(l->in);
    moecl_gemm_args g = {.m = (size_t)n, .n = cols, .k = in, .alpha = 1,
                         .a = x->buf, .lda = in, .b = w, .ldb = cols, .c = out, .ldc = cols};
    MOECL_TRY(moecl_gemm(l->ctx, &g));
    if (param_index(l, bias_which) >= 0) {
        cl_mem bias = value(l, bias_which);
        MOECL_TRY(MOECL_LAUNCH(l->ctx, "add_row_bias_f32", (size_t)n * cols, 0, MOECL_ARG_MEM(out),
                               MOECL_ARG_MEM(bias), MOECL_ARG_INT(n), MOECL_ARG_INT(cols)));
    }
    if (act == ACT_RELU)
        return MOECL_LAUNCH(l->ctx, "relu_inplace_f32", (size_t)n * cols, 0, MOECL_ARG_MEM(out),
                            MOECL_ARG_INT((size_t)n * cols));
    if (act == ACT_SOFTMAX)
        return MOECL_LAUNCH(l->ctx, "softmax_rows_f32", (size_t)n, 0, MOECL_ARG_MEM(out),
                            MOECL_ARG_INT(n), MOECL_ARG_INT(cols));
    return MOECL_OK;
}

static moecl_status moe_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    int U = l->cfg.units, K = l->cfg.n_experts;
    cl_mem e = l->scratch[E]->buf, g = l->scratch[G]->buf;
    MOECL_TRY(affine(l, x, n, value(l, W_EXPERT), B_EXPERT, e, (size_t)U * K, l->cfg.expert_act));
    MOECL_TRY(affine(l, x, n, value(l, W_GATE), B_GATE, g, (size_t)K, l->cfg.gating_act));
    return MOECL_LAUNCH(l->ctx, "moe_combine_forward_f32", (size_t)n * U, 0, MOECL_ARG_MEM(e),
                        MOECL_ARG_MEM(g), MOECL_ARG_MEM(l->output->buf), MOECL_ARG_INT(n),
                        MOECL_ARG_INT(U), MOECL_ARG_INT(K));
}

/* The gradient through an activation, in place on d (y: the activated values). */
static moecl_status activation_backward(layer *l, layer_activation act, cl_mem y, cl_mem d, int n,
                                        size_t cols)
{
    if (act == ACT_RELU)
        return MOECL_LAUNCH(l->ctx, "relu_mask_f32", (size_t)n * cols, 0, MOECL_ARG_MEM(y),
                            MOECL_ARG_MEM(d), MOECL_ARG_INT((size_t)n * cols));
    if (act == ACT_SOFTMAX)
        return MOECL_LAUNCH(l->ctx, "softmax_rows_backward_f32", (size_t)n, 0, MOECL_ARG_MEM(y),
                            MOECL_ARG_MEM(d), MOECL_ARG_INT(n), MOECL_ARG_INT(cols));
    return MOECL_OK;
}

/* dW = x^T d, dbias = column sums of d. */
static moecl_status param_grads(layer *l, const moecl_tensor *x, int n, cl_mem d, size_t cols,
                                int w_which, int b_which)
{
    size_t in = shape3_size(l->in);
    moecl_gemm_args g = {.trans_a = true, .m = in, .n = cols, .k = (size_t)n, .alpha = 1,
                         .a = x->buf, .lda = in, .b = d, .ldb = cols,
                         .c = grad(l, w_which), .ldc = cols};
    MOECL_TRY(moecl_gemm(l->ctx, &g));
    if (param_index(l, b_which) < 0) return MOECL_OK;
    cl_mem db = grad(l, b_which);
    return MOECL_LAUNCH(l->ctx, "col_sum_f32", cols, 0, MOECL_ARG_MEM(d), MOECL_ARG_MEM(db),
                        MOECL_ARG_INT(n), MOECL_ARG_INT(cols));
}

static moecl_status moe_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                 bool need_dx)
{
    moecl_ctx *ctx = l->ctx;
    int U = l->cfg.units, K = l->cfg.n_experts;
    size_t uk = (size_t)U * K, in = shape3_size(l->in);
    cl_mem e = l->scratch[E]->buf, g = l->scratch[G]->buf;
    cl_mem de = l->scratch[DE]->buf, dg = l->scratch[DG]->buf;
    MOECL_TRY(MOECL_LAUNCH(ctx, "moe_combine_backward_experts_f32", (size_t)n * uk, 0,
                           MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(g), MOECL_ARG_MEM(de),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(U), MOECL_ARG_INT(K)));
    MOECL_TRY(MOECL_LAUNCH(ctx, "moe_combine_backward_gates_f32", (size_t)n * K, 0,
                           MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(e), MOECL_ARG_MEM(dg),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(U), MOECL_ARG_INT(K)));
    MOECL_TRY(activation_backward(l, l->cfg.expert_act, e, de, n, uk));
    MOECL_TRY(activation_backward(l, l->cfg.gating_act, g, dg, n, (size_t)K));
    if (l->cfg.importance_weight > 0) { /* through the softmax, into the gate's logits */
        cl_mem coef = l->scratch[COEF]->buf;
        MOECL_TRY(MOECL_LAUNCH(ctx, "soft_importance_f32", 1, 0, MOECL_ARG_MEM(g), MOECL_ARG_MEM(coef),
                               MOECL_ARG_MEM(l->scratch[AUX]->buf), MOECL_ARG_INT(n), MOECL_ARG_INT(K),
                               MOECL_ARG_FLOAT(l->cfg.importance_weight)));
        MOECL_TRY(MOECL_LAUNCH(ctx, "soft_importance_backward_f32", (size_t)n, 0, MOECL_ARG_MEM(g),
                               MOECL_ARG_MEM(coef), MOECL_ARG_MEM(dg), MOECL_ARG_INT(n), MOECL_ARG_INT(K)));
    }
    if (!l->frozen) {
        MOECL_TRY(param_grads(l, x, n, de, uk, W_EXPERT, B_EXPERT));
        MOECL_TRY(param_grads(l, x, n, dg, (size_t)K, W_GATE, B_GATE));
    }
    if (!need_dx) return MOECL_OK;
    /* dx = de W_e^T + dg W_g^T */
    moecl_gemm_args a = {.trans_b = true, .m = (size_t)n, .n = in, .k = uk, .alpha = 1,
                         .a = de, .lda = uk, .b = value(l, W_EXPERT), .ldb = uk,
                         .c = l->grad_input->buf, .ldc = in};
    MOECL_TRY(moecl_gemm(ctx, &a));
    moecl_gemm_args b = {.trans_b = true, .m = (size_t)n, .n = in, .k = (size_t)K, .alpha = 1,
                         .beta = 1, .a = dg, .lda = (size_t)K, .b = value(l, W_GATE),
                         .ldb = (size_t)K, .c = l->grad_input->buf, .ldc = in};
    return moecl_gemm(ctx, &b);
}

moecl_status dense_moe_read_gates(const layer *l, int n, float *gates)
{
    size_t bytes = (size_t)n * l->cfg.n_experts * sizeof *gates;
    MOECL_CL_CHECK(&l->ctx->device, clEnqueueReadBuffer(l->ctx->queue, l->scratch[G]->buf, CL_TRUE, 0,
                                                        bytes, gates, 0, NULL, NULL));
    return MOECL_OK;
}

static const layer_ops MOE_OPS = {moe_setup, moe_forward, moe_backward};

layer *layer_dense_moe(const char *name, int units, int n_experts, layer_activation expert_act,
                       layer_activation gating_act, bool use_expert_bias, bool use_gating_bias)
{
    layer *l = layer_new(LAYER_DENSE_MOE, name, &MOE_OPS);
    if (!l) return NULL;
    l->cfg.units = units;
    l->cfg.n_experts = n_experts;
    l->cfg.expert_act = expert_act;
    l->cfg.gating_act = gating_act;
    l->cfg.use_bias = use_expert_bias;
    l->cfg.use_gating_bias = use_gating_bias;
    return l;
}
