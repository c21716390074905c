/* Batch normalisation per channel over [n, C, H*W] (per feature for
 * vectors). Training uses the batch's statistics and updates the running
 * ones (Keras: momentum 0.99, epsilon 1e-3); eval uses the running ones.
 * Scratch: 0 mean, 1 invstd, 2 sum, 3 sum of squares, 4 xhat.
 *
 * Synchronised (data parallel with --sync-bn): the channel sums are summed
 * across ranks, so every rank normalises with the global batch's statistics,
 * and the backward pass sums its two channel sums likewise, each rank's
 * weighted by its share of the batch (its dy is of its own share's mean
 * loss), which gives what one device computes for the whole batch. */
#include "../dist.h"
#include "../internal.h"
#include "../layer.h"

#include <stdlib.h>

enum { MEAN, INVSTD, SUM, SUMSQ, XHAT };
enum { GAMMA, BETA, MOVING_MEAN, MOVING_VAR };

static moecl_status bn_setup(layer *l, moecl_ctx *ctx)
{
    (void)ctx;
    int c = l->in.c;
    MOECL_TRY(layer_add_param(l, "gamma", 1, &c, l->cfg.bn_scale));
    MOECL_TRY(layer_add_param(l, "beta", 1, &c, l->cfg.bn_center));
    MOECL_TRY(layer_add_param(l, "moving_mean", 1, &c, false));
    MOECL_TRY(layer_add_param(l, "moving_variance", 1, &c, false));
    for (int i = MEAN; i <= SUMSQ; i++) MOECL_TRY(layer_add_scratch(l, i, (size_t)c));
    MOECL_TRY(layer_add_scratch(l, XHAT, (size_t)l->batch * shape3_size(l->in)));
    l->flops_per_image = 4 * shape3_size(l->in);
    return MOECL_OK;
}

/* a and b (C floats each) summed across ranks, each rank's scaled by
 * weight, the sums written back scaled by back. */
static moecl_status sum_across_ranks(layer *l, const moecl_tensor *a, const moecl_tensor *b,
                                     float weight, float back)
{
    size_t C = (size_t)l->in.c;
    float *h = malloc(2 * C * sizeof *h);
    if (!h) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    moecl_status st = moecl_tensor_download(a, h, C);
    if (st == MOECL_OK) st = moecl_tensor_download(b, h + C, C);
    for (size_t i = 0; i < 2 * C; i++) h[i] *= weight;
    if (st == MOECL_OK) st = dist_sum(h, 2 * C);
    for (size_t i = 0; i < 2 * C; i++) h[i] *= back;
    if (st == MOECL_OK) st = moecl_tensor_upload((moecl_tensor *)a, h, C);
    if (st == MOECL_OK) st = moecl_tensor_upload((moecl_tensor *)b, h + C, C);
    free(h);
    return st;
}

static moecl_status bn_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    moecl_ctx *ctx = l->ctx;
    int C = l->in.c, P = l->in.h * l->in.w;
    moecl_tensor **s = l->scratch;
    moecl_param *p = l->params;
    cl_mem mean;
    l->synced_n = 0;
    if (run && run->training) {
        MOECL_TRY(MOECL_LAUNCH(ctx, "channel_sums_f32", (size_t)C * 64, 64, MOECL_ARG_MEM(x->buf),
                               MOECL_ARG_MEM(x->buf), MOECL_ARG_MEM(s[SUM]->buf),
                               MOECL_ARG_MEM(s[SUMSQ]->buf), MOECL_ARG_INT(n), MOECL_ARG_INT(C),
                               MOECL_ARG_INT(P)));
        int count = n;
        if (run->sync_bn && dist_size() > 1) {
            MOECL_TRY(sum_across_ranks(l, s[SUM], s[SUMSQ], 1.0f, 1.0f));
            count = l->synced_n = run->global_n;
        }
        MOECL_TRY(MOECL_LAUNCH(ctx, "bn_stats_f32", (size_t)C, 0, MOECL_ARG_MEM(s[SUM]->buf),
                               MOECL_ARG_MEM(s[SUMSQ]->buf), MOECL_ARG_MEM(s[MEAN]->buf),
                               MOECL_ARG_MEM(s[INVSTD]->buf), MOECL_ARG_MEM(p[MOVING_MEAN].value->buf),
                               MOECL_ARG_MEM(p[MOVING_VAR].value->buf), MOECL_ARG_INT(C),
                               MOECL_ARG_INT(count * P), MOECL_ARG_FLOAT(l->cfg.eps),
                               MOECL_ARG_FLOAT(l->cfg.momentum)));
        mean = s[MEAN]->buf;
    } else {
        MOECL_TRY(MOECL_LAUNCH(ctx, "bn_eval_stats_f32", (size_t)C, 0,
                               MOECL_ARG_MEM(p[MOVING_VAR].value->buf),
                               MOECL_ARG_MEM(s[INVSTD]->buf), MOECL_ARG_INT(C),
                               MOECL_ARG_FLOAT(l->cfg.eps)));
        mean = p[MOVING_MEAN].value->buf;
    }
    return MOECL_LAUNCH(ctx, "bn_forward_f32", (size_t)n * C * P, 0, MOECL_ARG_MEM(x->buf),
                        MOECL_ARG_MEM(mean), MOECL_ARG_MEM(s[INVSTD]->buf),
                        MOECL_ARG_MEM(p[GAMMA].value->buf), MOECL_ARG_MEM(p[BETA].value->buf),
                        MOECL_ARG_MEM(s[XHAT]->buf), MOECL_ARG_MEM(l->output->buf),
                        MOECL_ARG_INT(n), MOECL_ARG_INT(C), MOECL_ARG_INT(P));
}

static moecl_status bn_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                bool need_dx)
{
    (void)x;
    moecl_ctx *ctx = l->ctx;
    int C = l->in.c, P = l->in.h * l->in.w;
    moecl_tensor **s = l->scratch;
    moecl_param *p = l->params;
    /* dbeta = sum dy, dgamma = sum dy * xhat; into the gradients, or into
     * scratch when frozen or fixed (dx needs them either way). */
    bool learn_beta = !l->frozen && p[BETA].grad, learn_gamma = !l->frozen && p[GAMMA].grad;
    cl_mem dbeta = learn_beta ? p[BETA].grad->buf : s[SUM]->buf;
    cl_mem dgamma = learn_gamma ? p[GAMMA].grad->buf : s[SUMSQ]->buf;
    MOECL_TRY(MOECL_LAUNCH(ctx, "channel_sums_f32", (size_t)C * 64, 64, MOECL_ARG_MEM(dy->buf),
                           MOECL_ARG_MEM(s[XHAT]->buf), MOECL_ARG_MEM(dbeta),
                           MOECL_ARG_MEM(dgamma), MOECL_ARG_INT(n), MOECL_ARG_INT(C),
                           MOECL_ARG_INT(P)));
    if (!need_dx) return MOECL_OK; /* (every rank skips alike: the same layer) */
    float count = (float)n * (float)P;
    if (l->synced_n > 0) {
        /* the global sums (each rank's dy weighted by its share n / N), in
         * this rank's scale (N / n), into scratch: the parameter gradients
         * stay this rank's own, for the step's exchange to sum */
        if (learn_beta) MOECL_TRY(moecl_tensor_copy(p[BETA].grad, s[SUM], (size_t)C));
        if (learn_gamma) MOECL_TRY(moecl_tensor_copy(p[GAMMA].grad, s[SUMSQ], (size_t)C));
        float share = (float)n / (float)l->synced_n;
        MOECL_TRY(sum_across_ranks(l, s[SUM], s[SUMSQ], share, 1.0f / share));
        dbeta = s[SUM]->buf;
        dgamma = s[SUMSQ]->buf;
        count = (float)l->synced_n * (float)P;
    }
    return MOECL_LAUNCH(ctx, "bn_backward_f32", (size_t)n * C * P, 0, MOECL_ARG_MEM(dy->buf),
                        MOECL_ARG_MEM(s[XHAT]->buf), MOECL_ARG_MEM(p[GAMMA].value->buf),
                        MOECL_ARG_MEM(s[INVSTD]->buf), MOECL_ARG_MEM(dbeta),
                        MOECL_ARG_MEM(dgamma), MOECL_ARG_MEM(l->grad_input->buf),
                        MOECL_ARG_INT(n), MOECL_ARG_INT(C), MOECL_ARG_INT(P),
                        MOECL_ARG_FLOAT(count));
}

static const layer_ops BN_OPS = {bn_setup, bn_forward, bn_backward};

layer *layer_batchnorm(const char *name, float eps, float momentum, bool scale, bool center)
{
    layer *l = layer_new(LAYER_BATCHNORM, name, &BN_OPS);
    if (!l) return NULL;
    l->cfg.eps = eps;
    l->cfg.momentum = momentum;
    l->cfg.bn_scale = scale;
    l->cfg.bn_center = center;
    return l;
}
