/* Layers that act element by element: ReLU, GELU, scale, flatten (a copy
 * under a new shape) and dropout (inverted, with a seeded generator on the
 * device). */
#include "../internal.h"
#include "../layer.h"

static moecl_status same_shape_setup(layer *l, moecl_ctx *ctx)
{
    (void)ctx;
    l->flops_per_image = shape3_size(l->in);
    return MOECL_OK;
}

static moecl_status relu_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    if (l->output_shared) return MOECL_OK; /* the convolution before stored max(0, .) */
    size_t count = (size_t)n * shape3_size(l->in);
    return MOECL_LAUNCH_STREAM(l->ctx, "relu_forward_f32", count, MOECL_ARG_MEM(x->buf),
                        MOECL_ARG_MEM(l->output->buf), MOECL_ARG_INT(count));
}

static moecl_status relu_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                  bool need_dx)
{
    (void)x;
    if (!need_dx) return MOECL_OK;
    size_t count = (size_t)n * shape3_size(l->in);
    return MOECL_LAUNCH_STREAM(l->ctx, "relu_backward_f32", count, MOECL_ARG_MEM(l->output->buf),
                        MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(l->grad_input->buf),
                        MOECL_ARG_INT(count));
}

static const layer_ops RELU_OPS = {same_shape_setup, relu_forward, relu_backward};

layer *layer_relu(const char *name) { return layer_new(LAYER_RELU, name, &RELU_OPS); }

static moecl_status gelu_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    size_t count = (size_t)n * shape3_size(l->in);
    return MOECL_LAUNCH_STREAM(l->ctx, "gelu_forward_f32", count, MOECL_ARG_MEM(x->buf),
                               MOECL_ARG_MEM(l->output->buf), MOECL_ARG_INT(count));
}

/* From the input: dx = dy * (Phi(x) + x phi(x)). */
static moecl_status gelu_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                  bool need_dx)
{
    if (!need_dx) return MOECL_OK;
    size_t count = (size_t)n * shape3_size(l->in);
    return MOECL_LAUNCH_STREAM(l->ctx, "gelu_backward_f32", count, MOECL_ARG_MEM(x->buf),
                               MOECL_ARG_MEM(dy->buf), MOECL_ARG_MEM(l->grad_input->buf),
                               MOECL_ARG_INT(count));
}

static const layer_ops GELU_OPS = {same_shape_setup, gelu_forward, gelu_backward};

layer *layer_gelu(const char *name) { return layer_new(LAYER_GELU, name, &GELU_OPS); }

static moecl_status scale_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    size_t count = (size_t)n * shape3_size(l->in);
    return MOECL_LAUNCH_STREAM(l->ctx, "scale_copy_f32", count, MOECL_ARG_MEM(x->buf),
                               MOECL_ARG_MEM(l->output->buf), MOECL_ARG_FLOAT(l->cfg.factor),
                               MOECL_ARG_INT(count));
}

static moecl_status scale_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy, int n,
                                   bool need_dx)
{
    (void)x;
    if (!need_dx) return MOECL_OK;
    size_t count = (size_t)n * shape3_size(l->in);
    return MOECL_LAUNCH_STREAM(l->ctx, "scale_copy_f32", count, MOECL_ARG_MEM(dy->buf),
                               MOECL_ARG_MEM(l->grad_input->buf), MOECL_ARG_FLOAT(l->cfg.factor),
                               MOECL_ARG_INT(count));
}

static const layer_ops SCALE_OPS = {same_shape_setup, scale_forward, scale_backward};

layer *layer_scale(const char *name, float factor)
{
    layer *l = layer_new(LAYER_SCALE, name, &SCALE_OPS);
    if (l) l->cfg.factor = factor;
    return l;
}

static moecl_status flatten_setup(layer *l, moecl_ctx *ctx)
{
    (void)ctx;
    l->out = (shape3){(int)shape3_size(l->in), 1, 1};
    return MOECL_OK;
}

static moecl_status flatten_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    (void)run;
    return moecl_tensor_copy(x, l->output, (size_t)n * shape3_size(l->in));
}

static moecl_status flatten_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                     int n, bool need_dx)
{
    (void)x;
    if (!need_dx) return MOECL_OK;
    return moecl_tensor_copy(dy, l->grad_input, (size_t)n * shape3_size(l->in));
}

static const layer_ops FLATTEN_OPS = {flatten_setup, flatten_forward, flatten_backward};

layer *layer_flatten(const char *name) { return layer_new(LAYER_FLATTEN, name, &FLATTEN_OPS); }

static moecl_status dropout_setup(layer *l, moecl_ctx *ctx)
{
    (void)ctx;
    return layer_add_scratch(l, 0, (size_t)l->batch * shape3_size(l->in)); /* the mask */
}

static moecl_status dropout_forward(layer *l, const moecl_tensor *x, int n, const layer_run *run)
{
    size_t count = (size_t)n * shape3_size(l->in);
    l->masked = run && run->training && l->cfg.rate > 0.0f;
    if (!l->masked) return moecl_tensor_copy(x, l->output, count);
    /* Each layer draws its own stream: mix its name into the seed. */
    uint32_t seed = run->seed;
    for (const char *p = l->name; *p; p++) seed = seed * 31u + (unsigned char)*p;
    return MOECL_LAUNCH(l->ctx, "dropout_forward_f32", count, 0, MOECL_ARG_MEM(x->buf),
                        MOECL_ARG_MEM(l->output->buf), MOECL_ARG_MEM(l->scratch[0]->buf),
                        MOECL_ARG_FLOAT(l->cfg.rate), MOECL_ARG_UINT(seed),
                        MOECL_ARG_UINT(run->step),
                        MOECL_ARG_UINT((size_t)run->image_offset * shape3_size(l->in)),
                        MOECL_ARG_INT(count));
}

/* After an eval-mode forward (no mask) the gradient passes through. */
static moecl_status dropout_backward(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                     int n, bool need_dx)
{
    (void)x;
    if (!need_dx) return MOECL_OK;
    size_t count = (size_t)n * shape3_size(l->in);
    if (!l->masked) return moecl_tensor_copy(dy, l->grad_input, count);
    return MOECL_LAUNCH_STREAM(l->ctx, "mul_f32", count, MOECL_ARG_MEM(dy->buf),
                        MOECL_ARG_MEM(l->scratch[0]->buf), MOECL_ARG_MEM(l->grad_input->buf),
                        MOECL_ARG_INT(count));
}

static const layer_ops DROPOUT_OPS = {dropout_setup, dropout_forward, dropout_backward};

layer *layer_dropout(const char *name, float rate)
{
    layer *l = layer_new(LAYER_DROPOUT, name, &DROPOUT_OPS);
    if (!l) return NULL;
    l->cfg.rate = rate;
    return l;
}
