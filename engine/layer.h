/* Layers: one struct with the operations of its kind (darknet-style), NCHW
 * batched, a kernel launch or a CLBlast call per step of the batch.
 *
 * A layer is made by its constructor (which only records the config),
 * then layer_setup() fixes its shapes for an input shape and a largest
 * batch and allocates every buffer it will use, so that forward and
 * backward allocate nothing. */
#ifndef MOECL_LAYER_H
#define MOECL_LAYER_H

#include "moecl.h"

typedef enum layer_kind {
    LAYER_CONV2D,
    LAYER_DENSE,
    LAYER_MAXPOOL,
    LAYER_GLOBAL_AVGPOOL,
    LAYER_RELU,
    LAYER_FLATTEN,
    LAYER_DROPOUT,
    LAYER_BATCHNORM,
    LAYER_DENSE_MOE,
    LAYER_CONV2D_MOE,
    LAYER_GELU,
    LAYER_SCALE,
    LAYER_KIND_COUNT
} layer_kind;

const char *layer_kind_name(layer_kind kind);

/* The shape of one image (or feature vector: c features, h = w = 1). */
typedef struct shape3 {
    int c, h, w;
} shape3;

static inline size_t shape3_size(shape3 s) { return (size_t)s.c * (size_t)s.h * (size_t)s.w; }

/* A parameter tensor, its gradient and the optimiser's state. */
typedef struct moecl_param {
    char name[32];     /* "kernel", "bias", "gamma", "beta", "moving_mean", ... */
    int ndim;
    int shape[MOECL_MAX_DIMS];
    moecl_tensor *value;
    moecl_tensor *grad;    /* NULL for non-trainable state (running statistics) */
    moecl_tensor *slot[2]; /* optimiser state (Adam m and v, SGD velocity), lazily made */
    float lr_scale;        /* the learning rate is multiplied by this (its layer's; 0: 1) */
    bool borrowed;         /* value and grad belong to an inner layer, which frees them */
} moecl_param;

#define LAYER_MAX_PARAMS 4
#define LAYER_MAX_SCRATCH 6

/* What a forward pass needs to know beyond its input. */
typedef struct layer_run {
    bool training;     /* dropout active, batch statistics in batch norm */
    uint32_t seed;     /* dropout's generator: same seed and step, same mask */
    uint32_t step;
    int image_offset;  /* the batch's first image in the global batch (data parallel:
                        * random numbers are drawn by the image's global place) */
    bool sync_bn;      /* data parallel: batch norm's statistics over the global batch */
    int global_n;      /* with sync_bn: the global batch's images (every rank's n summed) */
} layer_run;

typedef enum layer_activation { ACT_LINEAR, ACT_RELU, ACT_SOFTMAX } layer_activation;

typedef struct layer_config {
    int filters, units;          /* conv2d, dense */
    int kh, kw, sh, sw, ph, pw;  /* conv2d and pooling windows */
    bool same;                   /* 'same' padding (else 'valid' or explicit ph/pw) */
    bool use_bias;
    float rate;                  /* dropout */
    float eps, momentum;         /* batch norm */
    bool bn_scale, bn_center;    /* batch norm: gamma, beta learn */
    float lr_scale;              /* the parameters' learning-rate multiplier (0: 1) */
    float factor;                /* scale: y = factor x */
    bool dirac;                  /* conv2d: identity initialisation (model file "init": "dirac") */
    bool whiten;                 /* conv2d: weights from the training images' patch statistics
                                  * (model file "init": "whiten"; whiten.c), and fixed */
    float whiten_eps;            /* added to each eigenvalue: how much the flattest (noisiest)
                                  * directions are damped (model file "whiten_eps") */
    bool fixed;                  /* the parameters never learn (a whitening convolution) */
    int split_k;                 /* conv2d: weight-gradient chunk (0: the default) */
    int n_experts;               /* dense_moe */
    layer_activation expert_act, gating_act; /* dense_moe */
    bool use_gating_bias;        /* dense_moe (use_bias is the experts') */
    float importance_weight;     /* dense_moe: w of the importance loss w CV^2(each expert's
                                  * gate weights summed over the batch) (0: none) */
} layer_config;

typedef struct layer layer;

typedef struct layer_ops {
    moecl_status (*setup)(layer *l, moecl_ctx *ctx);
    moecl_status (*forward)(layer *l, const moecl_tensor *x, int n, const layer_run *run);
    /* dy: gradient of the output; writes parameter gradients (unless frozen)
     * and, when need_dx, the gradient of the input into l->grad_input. */
    moecl_status (*backward)(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                             bool need_dx);
} layer_ops;

struct layer {
    layer_kind kind;
    char name[64];
    layer_config cfg;
    const layer_ops *ops;
    moecl_ctx *ctx;
    shape3 in, out;
    int batch;                /* the largest batch the buffers hold */
    bool frozen;              /* no parameter gradients */
    bool masked;              /* dropout: the last forward applied a mask */
    moecl_tensor *output;     /* [batch, out] */
    moecl_tensor *grad_input; /* [batch, in] */
    moecl_param params[LAYER_MAX_PARAMS];
    int n_params;
    moecl_tensor *scratch[LAYER_MAX_SCRATCH];
    uint64_t flops_per_image; /* forward multiply-adds x 2 */
    layer *inner;             /* a layer this one is built on (Conv2DMoE's convolution) */
    /* conv2d: scratch 2 holds this input with its zero border, copied by the
     * forward pass for bordered_n images, so the weight gradient need not
     * copy it again (NULL: nothing reusable; every forward resets it). */
    const moecl_tensor *bordered_of;
    int bordered_n;
    int bordered_w; /* its rows' width (at least the window's reach; see conv2d_packed.c) */
    /* A ReLU fused into the convolution before it (layer_fuse_relu): the
     * convolution stores max(0, .) and the ReLU layer shares its output. */
    bool fused_relu;    /* conv2d: applies the ReLU that follows it */
    int synced_n;       /* batch norm: the global batch of the last forward whose
                         * statistics were synchronised across ranks (0: not) */
    bool output_shared; /* relu: output is the convolution's (not freed here) */
};

/* Constructors record the config; nothing is allocated yet. */
layer *layer_conv2d(const char *name, int filters, int kh, int kw, int sh, int sw, bool same,
                    bool use_bias);
layer *layer_dense(const char *name, int units, bool use_bias);
layer *layer_maxpool(const char *name, int kh, int kw, int sh, int sw, bool same);
layer *layer_global_avgpool(const char *name);
layer *layer_relu(const char *name);
/* GELU, exact (with erf): y = x * Phi(x), Phi the standard normal CDF. */
layer *layer_gelu(const char *name);
/* y = factor * x (airbench's down-scaled logits: factor 1/9 before the loss). */
layer *layer_scale(const char *name, float factor);
layer *layer_flatten(const char *name);
layer *layer_dropout(const char *name, float rate);
/* scale / center (Keras's names): gamma / beta learn; off, they stay at 1
 * / 0 (batch norm without affine weights). */
layer *layer_batchnorm(const char *name, float eps, float momentum, bool scale, bool center);
/* DenseMoE (after eminorhan/mixture-of-experts): y = sum_k g_k(x) f(W_k x + b_k)
 * with expert kernel [in, units, K], expert bias [units, K], gating kernel
 * [in, K], gating bias [K]; expert activation linear or relu, gating
 * activation softmax, linear or relu. */
layer *layer_dense_moe(const char *name, int units, int n_experts, layer_activation expert_act,
                       layer_activation gating_act, bool use_expert_bias, bool use_gating_bias);
/* A DenseMoE layer's gate weights g[n, K] in its last forward (to the host). */
moecl_status dense_moe_read_gates(const layer *l, int n, float *gates);
/* Conv2DMoE (after eminorhan/mixture-of-experts): one convolution gives
 * filters x K maps; a gate maps the flattened input to (filters, K) weights
 * (softmax over the experts by default); y[f] = sum_k g[f, k] f(conv_k[f]). */
layer *layer_conv2d_moe(const char *name, int filters, int n_experts, int kh, int kw, int sh,
                        int sw, bool same, layer_activation expert_act, layer_activation gating_act,
                        bool use_expert_bias, bool use_gating_bias);

/* Fixes the shapes for an input shape and batch, allocates the buffers and
 * initialises the parameters (glorot-uniform weights, zero biases, as Keras)
 * from the generator state *rng. */
/* The output shape for an input shape, without allocating anything; false,
 * with why, where the layer cannot take that input (a window larger than
 * its input). The model-file parser checks every part with it. */
bool layer_out_shape(const layer *l, shape3 in, shape3 *out, char *why, size_t size);
moecl_status layer_setup(layer *l, moecl_ctx *ctx, shape3 in, int batch, uint64_t *rng);
void layer_free(layer *l);

static inline moecl_status layer_forward(layer *l, const moecl_tensor *x, int n,
                                         const layer_run *run)
{
    moecl_profile_scope(l->ctx, l->name, "forward");
    return l->ops->forward(l, x, n, run);
}
static inline moecl_status layer_backward(layer *l, const moecl_tensor *x,
                                          const moecl_tensor *dy, int n, bool need_dx)
{
    moecl_profile_scope(l->ctx, l->name, "backward");
    return l->ops->backward(l, x, dy, n, need_dx);
}

/* ---- helpers for the layer files --------------------------------------- */

layer *layer_new(layer_kind kind, const char *name, const layer_ops *ops);
/* Adds a parameter (with a gradient when trainable) of the given shape. */
moecl_status layer_add_param(layer *l, const char *name, int ndim, const int *shape,
                             bool trainable);
/* Allocates a float tensor [count] as scratch slot i. */
moecl_status layer_add_scratch(layer *l, int i, size_t count);
/* Output size of a window: 'same' -> ceil(in / stride), 'valid' -> floor((in - k) / s) + 1. */
int layer_window_out(int in, int k, int stride, bool same, int *pad_before);

/* ---- host random numbers (parameter init, shuffling) -------------------- */

/* splitmix64: small, seedable, good enough for initialisation and shuffles. */
uint64_t moecl_rng_next(uint64_t *state);
float moecl_rng_uniform(uint64_t *state); /* [0, 1) */

/* Fuses `relu`, the layer right after `l`, into l's forward pass when l can
 * apply it (conv2d): saves a pass over the activations. The ReLU's backward
 * pass is unchanged (it reads the shared output). False if not fusable. */
bool layer_fuse_relu(layer *l, layer *relu);

#endif
