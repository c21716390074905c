/* A network: a stack of layers read from a JSON model file, set up for a
 * device and a largest batch, with a fused softmax-cross-entropy loss. */
#ifndef MOECL_NETWORK_H
#define MOECL_NETWORK_H

#include "layer.h"
#include "loss.h"

#include <stdio.h>

typedef struct network {
    char name[64];
    char description[256];
    shape3 input;
    int classes;
    layer **layers;
    int n_layers;
    /* after network_setup */
    moecl_ctx *ctx;
    int batch;
    moecl_tensor *input_tensor; /* [batch, C*H*W], filled by the caller */
    moecl_tensor *grad_scratch; /* unused dy for a first layer */
    softmax_ce loss;
} network;

/* Parses a model file (see README, "Model files"). Errors name the file,
 * the layer and the field. */
moecl_status network_load(const char *spec, network **out);
/* The text of a model: a file path, else the name of a built-in preset
 * (assets/models/NAME.json, embedded at build time). Free with free(). */
moecl_status model_source(const char *spec, char **text);
int model_preset_count(void);
const char *model_preset_name(int i);
moecl_status network_parse(const char *json, const char *origin, network **out);
void network_free(network *net);

/* Allocates every buffer for the largest batch and initialises the weights
 * from seed (glorot-uniform, zero biases). */
moecl_status network_setup(network *net, moecl_ctx *ctx, int batch, uint64_t seed);

/* Forward from net->input_tensor over n examples; logits in the last
 * layer's output. */
moecl_status network_forward(network *net, int n, const layer_run *run);
/* Loss forward (labels set with softmax_ce_set_labels) and backward
 * through every layer, writing parameter gradients. */
moecl_status network_backward(network *net, int n);
const moecl_tensor *network_logits(const network *net);

size_t network_param_count(const network *net);
uint64_t network_flops_per_image(const network *net);
/* Prints one line per layer: name, kind, output shape, parameters. */
void network_print(const network *net, FILE *out);

#endif
