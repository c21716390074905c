/* The parts every layer shares: construction, set-up, parameters, freeing. */
#include "layer.h"
#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[] = {
    [LAYER_CONV2D] = "conv2d",       [LAYER_DENSE] = "dense",
    [LAYER_MAXPOOL] = "maxpool",     [LAYER_GLOBAL_AVGPOOL] = "global_avgpool",
    [LAYER_RELU] = "relu",           [LAYER_FLATTEN] = "flatten",
    [LAYER_DROPOUT] = "dropout",     [LAYER_BATCHNORM] = "batchnorm",
    [LAYER_DENSE_MOE] = "dense_moe", [LAYER_CONV2D_MOE] = "conv2d_moe",
    [LAYER_GELU] = "gelu",           [LAYER_SCALE] = "scale",
};
_Static_assert(sizeof KIND_NAMES / sizeof KIND_NAMES[0] == LAYER_KIND_COUNT,
               "every layer kind needs a name");

const char *layer_kind_name(layer_kind kind)
{
    return (int)kind >= 0 && kind < LAYER_KIND_COUNT ? KIND_NAMES[kind] : "?";
}

uint64_t moecl_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float moecl_rng_uniform(uint64_t *state)
{
    return (float)(moecl_rng_next(state) >> 40) * (1.0f / 16777216.0f);
}

layer *layer_new(layer_kind kind, const char *name, const layer_ops *ops)
{
    layer *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->kind = kind;
    l->ops = ops;
    snprintf(l->name, sizeof l->name, "%s", name && *name ? name : layer_kind_name(kind));
    l->cfg.use_bias = true;
    return l;
}

int layer_window_out(int in, int k, int stride, bool same, int *pad_before)
{
    if (same) {
        int out = (in + stride - 1) / stride;
        int total = (out - 1) * stride + k - in;
        if (total < 0) total = 0;
        *pad_before = total / 2; /* as TensorFlow: the extra pixel goes after */
        return out;
    }
    *pad_before = 0;
    return in >= k ? (in - k) / stride + 1 : 0;
}

moecl_status layer_add_param(layer *l, const char *name, int ndim, const int *shape,
                             bool trainable)
{
    if (l->n_params >= LAYER_MAX_PARAMS)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "layer %s: too many parameters", l->name);
    moecl_param *p = &l->params[l->n_params++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->lr_scale = l->cfg.lr_scale > 0 ? l->cfg.lr_scale : 1.0f;
    p->ndim = ndim;
    memcpy(p->shape, shape, (size_t)ndim * sizeof *shape);
    MOECL_TRY(moecl_tensor_create(l->ctx, ndim, shape, &p->value));
    if (trainable) MOECL_TRY(moecl_tensor_create(l->ctx, ndim, shape, &p->grad));
    return MOECL_OK;
}

moecl_status layer_add_scratch(layer *l, int i, size_t count)
{
    int shape[1] = {(int)count};
    return moecl_tensor_create(l->ctx, 1, shape, &l->scratch[i]);
}

/* Glorot-uniform for the kernels (fan in/out from the shape and the
 * receptive field), zeros for biases and betas, ones for gammas and
 * running variances: the Keras defaults. The DenseMoE kernels use
 * variance scaling on fan-in (uniform, limit sqrt(3 / fan_in)), as its
 * Keras layer does. */
static moecl_status init_params(layer *l, uint64_t *rng)
{
    for (int i = 0; i < l->n_params; i++) {
        moecl_param *p = &l->params[i];
        size_t n = p->value->count;
        float *host = malloc(n * sizeof *host);
        if (!host) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
        if (strcmp(p->name, "expert_kernel") == 0 || strcmp(p->name, "gating_kernel") == 0) {
            /* fan-in: the first dimension, or a conv kernel's in x kh x kw */
            double fan_in = p->ndim == 4 ? (double)p->shape[1] * p->shape[2] * p->shape[3]
                                         : (double)p->shape[0];
            float limit = (float)sqrt(3.0 / fan_in);
            for (size_t j = 0; j < n; j++) host[j] = (2.0f * moecl_rng_uniform(rng) - 1.0f) * limit;
        } else if (strcmp(p->name, "kernel") == 0) {
            double fan_in, fan_out;
            if (l->kind == LAYER_CONV2D) { /* [filters, in_c, kh, kw] */
                double field = (double)p->shape[2] * p->shape[3];
                fan_in = p->shape[1] * field;
                fan_out = p->shape[0] * field;
            } else { /* dense [in, units] */
                fan_in = p->shape[0];
                fan_out = p->shape[1];
            }
            float limit = (float)sqrt(6.0 / (fan_in + fan_out));
            for (size_t j = 0; j < n; j++) host[j] = (2.0f * moecl_rng_uniform(rng) - 1.0f) * limit;
            if (l->kind == LAYER_CONV2D && l->cfg.dirac) {
                /* identity: filter f passes input channel f through the window's
                 * centre (the first min(F, C) filters; any others keep glorot) */
                int F = p->shape[0], C = p->shape[1], kh = p->shape[2], kw = p->shape[3];
                for (int f = 0; f < F && f < C; f++)
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < kh * kw; i++)
                            host[((size_t)f * C + c) * kh * kw + i] =
                                c == f && i == (kh / 2) * kw + kw / 2 ? 1.0f : 0.0f;
            }
        } else {
            float v = (strcmp(p->name, "gamma") == 0 || strcmp(p->name, "moving_variance") == 0)
                          ? 1.0f
                          : 0.0f;
            for (size_t j = 0; j < n; j++) host[j] = v;
        }
        moecl_status st = moecl_tensor_upload(p->value, host, n);
        free(host);
        MOECL_TRY(st);
    }
    return MOECL_OK;
}

bool layer_out_shape(const layer *l, shape3 in, shape3 *out, char *why, size_t size)
{
    const layer_config *c = &l->cfg;
    why[0] = '\0';
    *out = in;
    switch (l->kind) {
    case LAYER_CONV2D:
    case LAYER_CONV2D_MOE:
    case LAYER_MAXPOOL:
    {
        int pad = 0;
        out->c = l->kind == LAYER_MAXPOOL ? in.c : c->filters;
        out->h = layer_window_out(in.h, c->kh, c->sh, c->same, &pad);
        out->w = layer_window_out(in.w, c->kw, c->sw, c->same, &pad);
        if (out->h < 1 || out->w < 1) {
            snprintf(why, size, "its %dx%d window is larger than its %dx%dx%d input (padding "
                     "'valid' takes whole windows only; 'same' pads the border)", c->kh, c->kw,
                     in.c, in.h, in.w);
            return false;
        }
        break;
    }
    case LAYER_DENSE:
    case LAYER_DENSE_MOE: *out = (shape3){c->units, 1, 1}; break;
    case LAYER_FLATTEN: *out = (shape3){(int)shape3_size(in), 1, 1}; break;
    case LAYER_GLOBAL_AVGPOOL: *out = (shape3){in.c, 1, 1}; break;
    default: break;
    }
    /* tensors index with int: a batch of 1 must fit */
    if (shape3_size(*out) > (size_t)INT_MAX / 2) {
        snprintf(why, size, "its output %dx%dx%d holds %zu values an image, more than %d", out->c,
                 out->h, out->w, shape3_size(*out), INT_MAX / 2);
        return false;
    }
    return true;
}

moecl_status layer_setup(layer *l, moecl_ctx *ctx, shape3 in, int batch, uint64_t *rng)
{
    if (batch < 1) return moecl_fail(MOECL_ERR_INVALID_ARG, "layer %s: batch %d", l->name, batch);
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "layer %s: input shape %dx%dx%d", l->name, in.c,
                          in.h, in.w);
    l->ctx = ctx;
    l->in = in;
    l->out = in;
    l->batch = batch;
    l->frozen = l->cfg.fixed;
    MOECL_TRY(l->ops->setup(l, ctx));
    if (l->out.c < 1 || l->out.h < 1 || l->out.w < 1)
        return moecl_fail(MOECL_ERR_INVALID_ARG,
                          "layer %s (%s): input %dx%dx%d gives an empty output %dx%dx%d", l->name,
                          layer_kind_name(l->kind), in.c, in.h, in.w, l->out.c, l->out.h,
                          l->out.w);
    int oshape[2] = {batch, (int)shape3_size(l->out)};
    int ishape[2] = {batch, (int)shape3_size(l->in)};
    MOECL_TRY(moecl_tensor_create(ctx, 2, oshape, &l->output));
    MOECL_TRY(moecl_tensor_create(ctx, 2, ishape, &l->grad_input));
    return init_params(l, rng);
}

bool layer_fuse_relu(layer *l, layer *relu)
{
    if (l->kind != LAYER_CONV2D || relu->kind != LAYER_RELU || l->fused_relu ||
        relu->output_shared || !l->output || l->batch != relu->batch)
        return false;
    moecl_tensor_destroy(relu->output);
    relu->output = l->output;
    relu->output_shared = true;
    l->fused_relu = true;
    return true;
}

void layer_free(layer *l)
{
    if (!l) return;
    if (!l->output_shared) moecl_tensor_destroy(l->output);
    moecl_tensor_destroy(l->grad_input);
    layer_free(l->inner);
    for (int i = 0; i < l->n_params; i++) {
        if (!l->params[i].borrowed) {
            moecl_tensor_destroy(l->params[i].value);
            moecl_tensor_destroy(l->params[i].grad);
        }
        moecl_tensor_destroy(l->params[i].slot[0]);
        moecl_tensor_destroy(l->params[i].slot[1]);
    }
    for (int i = 0; i < LAYER_MAX_SCRATCH; i++) moecl_tensor_destroy(l->scratch[i]);
    free(l);
}
