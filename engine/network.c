/* Running a stack of layers: set-up, forward, backward, counting. */
#include "network.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

network *network_new(const char *name)
{
    network *net = calloc(1, sizeof *net);
    if (net) snprintf(net->name, sizeof net->name, "%s", name ? name : "");
    return net;
}

bool network_add_layer(network *net, layer *l)
{
    layer **grown = l ? realloc(net->layers, (size_t)(net->n_layers + 1) * sizeof *grown) : NULL;
    if (!grown) {
        layer_free(l);
        return false;
    }
    net->layers = grown;
    net->layers[net->n_layers++] = l;
    return true;
}

void network_free(network *net)
{
    if (!net) return;
    for (int i = 0; i < net->n_layers; i++) layer_free(net->layers[i]);
    free(net->layers);
    free(net);
}

/* A ReLU right after a convolution is applied in the convolution's
 * epilogue (MOECL_FUSE=0 keeps every layer on its own, for comparisons). */
static void fuse_layers(network *net)
{
    const char *fuse = getenv("MOECL_FUSE");
    if (fuse && strcmp(fuse, "0") == 0) return;
    for (int i = 1; i < net->n_layers; i++) layer_fuse_relu(net->layers[i - 1], net->layers[i]);
}

moecl_status network_setup(network *net, moecl_ctx *ctx, shape3 input, int batch, uint64_t *rng,
                           const moecl_tensor *input_tensor)
{
    net->ctx = ctx;
    net->batch = batch;
    net->input = input;
    net->input_tensor = input_tensor;
    shape3 s = input;
    for (int i = 0; i < net->n_layers; i++) {
        MOECL_TRY(layer_setup(net->layers[i], ctx, s, batch, rng));
        s = net->layers[i]->out;
    }
    fuse_layers(net);
    return MOECL_OK;
}

moecl_status network_forward(network *net, int n, const layer_run *run)
{
    const moecl_tensor *x = net->input_tensor;
    for (int i = 0; i < net->n_layers; i++) {
        MOECL_TRY(layer_forward(net->layers[i], x, n, run));
        x = net->layers[i]->output;
    }
    return MOECL_OK;
}

const moecl_tensor *network_output(const network *net)
{
    return net->layers[net->n_layers - 1]->output;
}

shape3 network_output_shape(const network *net) { return net->layers[net->n_layers - 1]->out; }

/* Whether a layer has parameters that take gradients now. */
static bool layer_learns(const layer *l)
{
    if (l->frozen) return false;
    for (int j = 0; j < l->n_params; j++)
        if (l->params[j].grad) return true;
    return false;
}

moecl_status network_backward(network *net, const moecl_tensor *dy, int n)
{
    /* the layers before the first that learns (a fixed whitening
     * convolution) need no gradient: the backward pass stops there */
    int first = 0;
    while (!net->input_grad && first < net->n_layers - 1 && !layer_learns(net->layers[first])) first++;
    for (int i = net->n_layers - 1; i >= first; i--) {
        layer *l = net->layers[i];
        const moecl_tensor *x = i > 0 ? net->layers[i - 1]->output : net->input_tensor;
        MOECL_TRY(layer_backward(l, x, dy, n, i > first || net->input_grad));
        dy = l->grad_input;
    }
    return MOECL_OK;
}

moecl_status network_zero_grads(network *net)
{
    for (int i = 0; i < net->n_layers; i++)
        for (int j = 0; j < net->layers[i]->n_params; j++)
            if (net->layers[i]->params[j].grad)
                MOECL_TRY(moecl_tensor_fill(net->layers[i]->params[j].grad, 0.0f));
    return MOECL_OK;
}

size_t network_param_count(const network *net)
{
    size_t n = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int j = 0; j < net->layers[i]->n_params; j++) /* a fixed layer's are not trained */
            if (net->layers[i]->params[j].grad && !net->layers[i]->cfg.fixed)
                n += net->layers[i]->params[j].value->count;
    return n;
}

uint64_t network_flops_per_image(const network *net)
{
    uint64_t f = 0;
    for (int i = 0; i < net->n_layers; i++) f += net->layers[i]->flops_per_image;
    return f;
}

void network_print(const network *net, FILE *out)
{
    for (int i = 0; i < net->n_layers; i++) {
        const layer *l = net->layers[i];
        size_t params = 0;
        for (int j = 0; j < l->n_params; j++)
            if (l->params[j].grad && !l->cfg.fixed) params += l->params[j].value->count;
        char shape[48], name[140];
        snprintf(shape, sizeof shape, "%dx%dx%d", l->out.c, l->out.h, l->out.w);
        snprintf(name, sizeof name, "%s%s%s", net->name, net->name[0] ? "." : "", l->name);
        fprintf(out, "%-28s %-15s %-14s %10zu\n", name, layer_kind_name(l->kind), shape, params);
    }
}
