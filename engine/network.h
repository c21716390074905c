/* A network: a stack of layers (a model's part), set up for a device, an
 * input shape and a largest batch, reading a tensor it does not own. */
#ifndef MOECL_NETWORK_H
#define MOECL_NETWORK_H

#include "layer.h"

#include <stdio.h>

typedef struct network {
    char name[64]; /* the part's name; "" for the only part of a plain model */
    layer **layers;
    int n_layers;
    /* after network_setup */
    moecl_ctx *ctx;
    int batch;
    shape3 input;
    const moecl_tensor *input_tensor; /* [batch, C*H*W], borrowed */
    bool input_grad; /* the backward pass gives the input's gradient too (layers[0]->grad_input):
                      * a part that reads a trunk's output */
} network;

network *network_new(const char *name);
/* Appends a layer (taking it); false when out of memory (the layer is freed). */
bool network_add_layer(network *net, layer *l);
void network_free(network *net);

/* Sets every layer up in turn from the input shape, initialising weights
 * from *rng (glorot-uniform, zero biases). */
moecl_status network_setup(network *net, moecl_ctx *ctx, shape3 input, int batch, uint64_t *rng,
                           const moecl_tensor *input_tensor);
moecl_status network_forward(network *net, int n, const layer_run *run);
/* Backward from dy (the gradient of the last layer's output); parameter
 * gradients of every layer that is not frozen. The input gets none unless
 * input_grad is set. */
moecl_status network_backward(network *net, const moecl_tensor *dy, int n);
const moecl_tensor *network_output(const network *net);
shape3 network_output_shape(const network *net);

/* Zeroes every parameter gradient (a part that saw no image this step). */
moecl_status network_zero_grads(network *net);
size_t network_param_count(const network *net);
uint64_t network_flops_per_image(const network *net);
/* One line per layer: name, kind, output shape, parameters. */
void network_print(const network *net, FILE *out);

#endif
