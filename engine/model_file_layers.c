/* Model files: the layers of a part (conv2d, dense, pooling, dropout,
 * batchnorm, dense_moe, conv2d_moe ...), by their names here or Keras's. */
#include "model_file_parse.h"
#include "whiten.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>


static const struct {
    const char *name, *keras;
    layer_kind kind;
} TYPES[] = {
    {"conv2d", "Conv2D", LAYER_CONV2D},
    {"dense", "Dense", LAYER_DENSE},
    {"maxpool", "MaxPooling2D", LAYER_MAXPOOL},
    {"global_avgpool", "GlobalAveragePooling2D", LAYER_GLOBAL_AVGPOOL},
    {"relu", "ReLU", LAYER_RELU},
    {"gelu", "GELU", LAYER_GELU},
    {"scale", "Rescaling", LAYER_SCALE},
    {"flatten", "Flatten", LAYER_FLATTEN},
    {"dropout", "Dropout", LAYER_DROPOUT},
    {"batchnorm", "BatchNormalization", LAYER_BATCHNORM},
    {"dense_moe", "DenseMoE", LAYER_DENSE_MOE},
    {"conv2d_moe", "Conv2DMoE", LAYER_CONV2D_MOE},
};

/* Reads "activation": linear (default), relu or gelu (adds that layer,
 * *add: LAYER_RELU or LAYER_GELU, else -1), softmax (only on the last layer:
 * the loss's own softmax). */
static moecl_status parse_activation(parse_ctx *p, const cJSON *spec, bool is_last, int *add)
{
    const char *act = NULL;
    MOECL_TRY(mf_get_string(p, spec, "activation", "linear", &act));
    *add = strcmp(act, "relu") == 0 ? LAYER_RELU : strcmp(act, "gelu") == 0 ? LAYER_GELU : -1;
    if (*add >= 0 || strcmp(act, "linear") == 0) return MOECL_OK;
    if (strcmp(act, "softmax") == 0) {
        if (is_last) return MOECL_OK;
        return mf_bad(p, "'%s' softmax is only allowed on the last layer%s", "activation", "");
    }
    return mf_bad(p, "'activation' must be relu, gelu, linear or softmax, not '%s'%s", act, "");
}

/* linear, relu, or (where allowed) softmax. */
static moecl_status get_activation(parse_ctx *p, const cJSON *spec, const char *key,
                                   layer_activation def, bool softmax_ok, layer_activation *out)
{
    const char *name = NULL;
    MOECL_TRY(mf_get_string(p, spec, key, NULL, &name));
    if (!name) {
        *out = def;
        return MOECL_OK;
    }
    if (strcmp(name, "linear") == 0) *out = ACT_LINEAR;
    else if (strcmp(name, "relu") == 0) *out = ACT_RELU;
    else if (softmax_ok && strcmp(name, "softmax") == 0) *out = ACT_SOFTMAX;
    else
        return mf_bad(p, "'%s' must be linear, relu%s", key, softmax_ok ? " or softmax" : "");
    return MOECL_OK;
}

static moecl_status parse_padding(parse_ctx *p, const cJSON *spec, bool *same)
{
    const char *pad = NULL;
    MOECL_TRY(mf_get_string(p, spec, "padding", "valid", &pad));
    if (strcmp(pad, "same") != 0 && strcmp(pad, "valid") != 0)
        return mf_bad(p, "'padding' must be 'same' or 'valid', not '%s'%s", pad, "");
    *same = strcmp(pad, "same") == 0;
    return MOECL_OK;
}

static moecl_status parse_layer(network *net, parse_ctx *p, const cJSON *spec, int index,
                                bool is_last)
{
    const char *type = NULL, *name = NULL;
    snprintf(p->where, sizeof p->where, "%s%s%slayer %d", net->name[0] ? "part " : "", net->name,
             net->name[0] ? ", " : "", index);
    if (!cJSON_IsObject(spec)) return mf_bad(p, "must be an object%s%s", "", "");
    MOECL_TRY(mf_get_string(p, spec, "type", NULL, &type));
    if (!type) return mf_bad(p, "'%s' is required%s", "type", "");
    int t = -1;
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcasecmp(type, TYPES[i].name) == 0 || strcmp(type, TYPES[i].keras) == 0) t = (int)i;
    if (t < 0)
        return mf_bad(p, "unknown layer type '%s'%s", type,
                      " (known: conv2d, conv2d_moe, dense, dense_moe, maxpool, global_avgpool, "
                      "relu, gelu, scale, flatten, dropout, batchnorm)");
    snprintf(p->where, sizeof p->where, "%s%s%slayer %d (%s)", net->name[0] ? "part " : "",
             net->name, net->name[0] ? ", " : "", index, TYPES[t].name);
    char default_name[64];
    snprintf(default_name, sizeof default_name, "%s_%d", TYPES[t].name, index);
    MOECL_TRY(mf_get_text(p, spec, "name", default_name, sizeof default_name, &name));

    layer *l = NULL;
    int relu = -1; /* the activation layer to add after it, if any */
    switch (TYPES[t].kind) {
    case LAYER_CONV2D: {
        static const char *const keys[] = {"type", "name", "filters", "kernel_size", "strides",
                                           "padding", "use_bias", "activation", "lr_scale", "init",
                                           "whiten_eps", NULL};
        MOECL_TRY(mf_check_keys(p, spec, keys));
        int filters = 0, kh = 0, kw = 0, sh = 0, sw = 0;
        bool same = false, bias = true;
        MOECL_TRY(mf_get_size(p, spec, "filters", -1, 1, &filters));
        MOECL_TRY(mf_get_pair(p, spec, "kernel_size", 3, &kh, &kw));
        MOECL_TRY(mf_get_pair(p, spec, "strides", 1, &sh, &sw));
        MOECL_TRY(parse_padding(p, spec, &same));
        MOECL_TRY(mf_get_bool(p, spec, "use_bias", true, &bias));
        MOECL_TRY(parse_activation(p, spec, is_last, &relu));
        const char *init = NULL;
        MOECL_TRY(mf_get_string(p, spec, "init", "glorot_uniform", &init));
        if (strcmp(init, "glorot_uniform") != 0 && strcmp(init, "dirac") != 0 &&
            strcmp(init, "whiten") != 0)
            return mf_bad(p, "'init' must be glorot_uniform, dirac or whiten, not '%s'%s", init, "");
        l = layer_conv2d(name, filters, kh, kw, sh, sw, same, bias);
        if (l) l->cfg.dirac = strcmp(init, "dirac") == 0;
        if (l) l->cfg.whiten = l->cfg.fixed = strcmp(init, "whiten") == 0;
        float eps = WHITEN_EPS;
        MOECL_TRY(mf_get_float(p, spec, "whiten_eps", WHITEN_EPS, 0.0f, 1000.0f, &eps));
        if (l) l->cfg.whiten_eps = eps;
        break;
    }
    case LAYER_DENSE: {
        static const char *const keys[] = {"type", "name", "units", "use_bias", "activation",
                                           "lr_scale", NULL};
        MOECL_TRY(mf_check_keys(p, spec, keys));
        int units = 0;
        bool bias = true;
        MOECL_TRY(mf_get_size(p, spec, "units", -1, 1, &units));
        MOECL_TRY(mf_get_bool(p, spec, "use_bias", true, &bias));
        MOECL_TRY(parse_activation(p, spec, is_last, &relu));
        l = layer_dense(name, units, bias);
        break;
    }
    case LAYER_DENSE_MOE: {
        static const char *const keys[] = {"type", "name", "units", "n_experts",
                                           "expert_activation", "gating_activation",
                                           "use_expert_bias", "use_gating_bias", "lr_scale",
                                           "importance_loss", NULL};
        MOECL_TRY(mf_check_keys(p, spec, keys));
        int units = 0, experts = 0;
        float importance = 0;
        bool ebias = true, gbias = true;
        layer_activation eact = ACT_LINEAR, gact = ACT_SOFTMAX;
        MOECL_TRY(mf_get_size(p, spec, "units", -1, 1, &units));
        MOECL_TRY(mf_get_size(p, spec, "n_experts", -1, 1, &experts));
        if (experts > 64) return mf_bad(p, "'%s' must be at most 64%s", "n_experts", "");
        MOECL_TRY(get_activation(p, spec, "expert_activation", ACT_LINEAR, false, &eact));
        MOECL_TRY(get_activation(p, spec, "gating_activation", ACT_SOFTMAX, true, &gact));
        MOECL_TRY(mf_get_bool(p, spec, "use_expert_bias", true, &ebias));
        MOECL_TRY(mf_get_bool(p, spec, "use_gating_bias", true, &gbias));
        MOECL_TRY(mf_get_float(p, spec, "importance_loss", 0.0f, 0.0f, 100.0f, &importance));
        if (importance > 0 && gact != ACT_SOFTMAX)
            return mf_bad(p, "'%s' needs a softmax gate (gating_activation)%s", "importance_loss", "");
        l = layer_dense_moe(name, units, experts, eact, gact, ebias, gbias);
        if (l) l->cfg.importance_weight = importance;
        break;
    }
    case LAYER_CONV2D_MOE: {
        static const char *const keys[] = {"type", "name", "filters", "n_experts", "kernel_size",
                                           "strides", "padding", "expert_activation",
                                           "gating_activation", "use_expert_bias",
                                           "use_gating_bias", "lr_scale", NULL};
        MOECL_TRY(mf_check_keys(p, spec, keys));
        int filters = 0, experts = 0, kh = 0, kw = 0, sh = 0, sw = 0;
        bool same = false, ebias = true, gbias = true;
        layer_activation eact = ACT_LINEAR, gact = ACT_SOFTMAX;
        MOECL_TRY(mf_get_size(p, spec, "filters", -1, 1, &filters));
        MOECL_TRY(mf_get_size(p, spec, "n_experts", -1, 1, &experts));
        MOECL_TRY(mf_get_pair(p, spec, "kernel_size", 3, &kh, &kw));
        MOECL_TRY(mf_get_pair(p, spec, "strides", 1, &sh, &sw));
        MOECL_TRY(parse_padding(p, spec, &same));
        MOECL_TRY(get_activation(p, spec, "expert_activation", ACT_LINEAR, false, &eact));
        MOECL_TRY(get_activation(p, spec, "gating_activation", ACT_SOFTMAX, true, &gact));
        MOECL_TRY(mf_get_bool(p, spec, "use_expert_bias", true, &ebias));
        MOECL_TRY(mf_get_bool(p, spec, "use_gating_bias", true, &gbias));
        l = layer_conv2d_moe(name, filters, experts, kh, kw, sh, sw, same, eact, gact, ebias, gbias);
        break;
    }
    case LAYER_MAXPOOL: {
        static const char *const keys[] = {"type", "name", "pool_size", "strides", "padding", NULL};
        MOECL_TRY(mf_check_keys(p, spec, keys));
        int kh = 0, kw = 0, sh = 0, sw = 0;
        bool same = false;
        MOECL_TRY(mf_get_pair(p, spec, "pool_size", 2, &kh, &kw));
        MOECL_TRY(mf_get_pair(p, spec, "strides", kh, &sh, &sw));
        if (!cJSON_GetObjectItemCaseSensitive(spec, "strides")) sw = kw;
        MOECL_TRY(parse_padding(p, spec, &same));
        l = layer_maxpool(name, kh, kw, sh, sw, same);
        break;
    }
    case LAYER_DROPOUT: {
        static const char *const keys[] = {"type", "name", "rate", NULL};
        MOECL_TRY(mf_check_keys(p, spec, keys));
        float rate = 0;
        MOECL_TRY(mf_get_float(p, spec, "rate", 0.5f, 0.0f, 0.95f, &rate));
        l = layer_dropout(name, rate);
        break;
    }
    case LAYER_SCALE: {
        static const char *const keys[] = {"type", "name", "factor", NULL};
        MOECL_TRY(mf_check_keys(p, spec, keys));
        float factor = 1.0f;
        MOECL_TRY(mf_get_float(p, spec, "factor", 1.0f, -1e6f, 1e6f, &factor));
        l = layer_scale(name, factor);
        break;
    }
    case LAYER_BATCHNORM: {
        static const char *const keys[] = {"type", "name", "epsilon", "momentum", "scale",
                                           "center", "lr_scale", NULL};
        MOECL_TRY(mf_check_keys(p, spec, keys));
        float eps = 0, momentum = 0;
        bool scale = true, center = true;
        MOECL_TRY(mf_get_float(p, spec, "epsilon", 1e-3f, 1e-12f, 1.0f, &eps));
        MOECL_TRY(mf_get_float(p, spec, "momentum", 0.99f, 0.0f, 1.0f, &momentum));
        MOECL_TRY(mf_get_bool(p, spec, "scale", true, &scale));
        MOECL_TRY(mf_get_bool(p, spec, "center", true, &center));
        l = layer_batchnorm(name, eps, momentum, scale, center);
        break;
    }
    default: {
        static const char *const keys[] = {"type", "name", NULL};
        MOECL_TRY(mf_check_keys(p, spec, keys));
        l = TYPES[t].kind == LAYER_RELU      ? layer_relu(name)
            : TYPES[t].kind == LAYER_GELU    ? layer_gelu(name)
            : TYPES[t].kind == LAYER_FLATTEN ? layer_flatten(name)
                                             : layer_global_avgpool(name);
    }
    }
    /* a learning-rate multiplier for the layer's parameters (only the
     * layers with parameters list the field; elsewhere it was refused above) */
    float lr_scale = 1.0f;
    moecl_status st = mf_get_float(p, spec, "lr_scale", 1.0f, 1e-6f, 1e6f, &lr_scale);
    if (st != MOECL_OK) {
        layer_free(l);
        return st;
    }
    if (l) l->cfg.lr_scale = lr_scale;
    if (!network_add_layer(net, l)) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    if (relu >= 0) {
        char rname[80];
        snprintf(rname, sizeof rname, "%s_%s", name, relu == LAYER_RELU ? "relu" : "gelu");
        if (!network_add_layer(net, relu == LAYER_RELU ? layer_relu(rname) : layer_gelu(rname)))
            return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return MOECL_OK;
}

/* The layers of one part; its last layer must give `units` outputs (dense
 * or dense_moe) when units > 0. */
/* Every layer's output shape from the part's input, so that a layer that
 * cannot take what reaches it is refused here, named, and not when the
 * device allocates an empty tensor. */
static moecl_status check_shapes(const network *net, parse_ctx *p, shape3 input, shape3 *output)
{
    shape3 s = input;
    for (int i = 0; i < net->n_layers; i++) {
        const layer *l = net->layers[i];
        shape3 out;
        char why[200];
        /* a whitening convolution measures the image's patches, a direction
         * and its negative per filter */
        bool misplaced = l->cfg.whiten && (i > 0 || l->cfg.filters != 2 * s.c * l->cfg.kh * l->cfg.kw);
        if (misplaced)
            snprintf(why, sizeof why, "a whitening convolution (\"init\": \"whiten\") must be its "
                     "part's first layer, reading the image, with 2 x channels x window = %d "
                     "filters (each whitened direction and its negative)",
                     2 * s.c * l->cfg.kh * l->cfg.kw);
        if (misplaced || !layer_out_shape(l, s, &out, why, sizeof why)) {
            snprintf(p->where, sizeof p->where, "%s%s%slayer %d (%s)", net->name[0] ? "part " : "",
                     net->name, net->name[0] ? ", " : "", i, layer_kind_name(l->kind));
            return mf_bad(p, "%s%s", why, "");
        }
        s = out;
    }
    *output = s;
    return MOECL_OK;
}

moecl_status mf_parse_layers(network *net, parse_ctx *p, const cJSON *layers, shape3 input,
                             int units, const char *what, shape3 *output)
{
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0)
        return mf_bad(p, "'%s' must be a non-empty array of layers%s", "layers", "");
    int count = cJSON_GetArraySize(layers), i = 0;
    for (const cJSON *spec = layers->child; spec; spec = spec->next, i++)
        MOECL_TRY(parse_layer(net, p, spec, i, i == count - 1));
    shape3 out;
    MOECL_TRY(check_shapes(net, p, input, &out));
    if (output) *output = out;
    snprintf(p->where, sizeof p->where, "%s%s", net->name[0] ? "part " : "", net->name);
    layer *last = net->layers[net->n_layers - 1];
    /* a scale after the last dense layer (scaled logits) counts as part of it */
    if (last->kind == LAYER_SCALE && net->n_layers > 1) last = net->layers[net->n_layers - 2];
    if (units > 0 && ((last->kind != LAYER_DENSE && last->kind != LAYER_DENSE_MOE) ||
                      last->cfg.units != units)) {
        char detail[96];
        snprintf(detail, sizeof detail, " %d units (%s)", units, what);
        return mf_bad(p, "the last layer must be %s with%s", "dense or dense_moe", detail);
    }
    p->where[0] = '\0';
    return MOECL_OK;
}
