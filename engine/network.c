/* Networks from JSON model files: parsing with errors that name the file,
 * the layer and the field; set-up; forward and backward passes. */
#include "network.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- parsing helpers ---------------------------------------------------- */

typedef struct parse_ctx {
    const char *origin; /* file name for messages */
    char where[96];     /* "layer 3 (conv2d)" */
} parse_ctx;

static moecl_status bad(const parse_ctx *p, const char *fmt, const char *field, const char *detail)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, field, detail);
    return moecl_fail(MOECL_ERR_FORMAT, "model file '%s': %s%s%s", p->origin, p->where,
                      p->where[0] ? ": " : "", msg);
}

static moecl_status get_int(const parse_ctx *p, const cJSON *obj, const char *key, int def,
                            int min, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (def < min) return bad(p, "'%s' is required%s", key, "");
        *out = def;
        return MOECL_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble ||
        v->valuedouble < min || v->valuedouble > 1e8) {
        char detail[48];
        snprintf(detail, sizeof detail, " (a whole number >= %d)", min);
        return bad(p, "'%s' must be a whole number%s", key, detail);
    }
    *out = v->valueint;
    return MOECL_OK;
}

/* An int or a pair [h, w]. */
static moecl_status get_pair(const parse_ctx *p, const cJSON *obj, const char *key, int def,
                             int *a, int *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v && cJSON_IsArray(v)) {
        const cJSON *x = cJSON_GetArrayItem(v, 0), *y = cJSON_GetArrayItem(v, 1);
        if (cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(x) || !cJSON_IsNumber(y) ||
            x->valueint < 1 || y->valueint < 1)
            return bad(p, "'%s' must be a positive number or a pair [h, w]%s", key, "");
        *a = x->valueint;
        *b = y->valueint;
        return MOECL_OK;
    }
    MOECL_TRY(get_int(p, obj, key, def, 1, a));
    *b = *a;
    return MOECL_OK;
}

static moecl_status get_float(const parse_ctx *p, const cJSON *obj, const char *key, float def,
                              float lo, float hi, float *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return MOECL_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi) {
        char detail[64];
        snprintf(detail, sizeof detail, " between %g and %g", lo, hi);
        return bad(p, "'%s' must be a number%s", key, detail);
    }
    *out = (float)v->valuedouble;
    return MOECL_OK;
}

static moecl_status get_bool(const parse_ctx *p, const cJSON *obj, const char *key, bool def,
                             bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return MOECL_OK;
    }
    if (!cJSON_IsBool(v)) return bad(p, "'%s' must be true or false%s", key, "");
    *out = cJSON_IsTrue(v);
    return MOECL_OK;
}

static moecl_status get_string(const parse_ctx *p, const cJSON *obj, const char *key,
                               const char *def, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return MOECL_OK;
    }
    if (!cJSON_IsString(v)) return bad(p, "'%s' must be a string%s", key, "");
    *out = v->valuestring;
    return MOECL_OK;
}

/* Every key of obj must be in the allowed list: typos are errors. */
static moecl_status check_keys(const parse_ctx *p, const cJSON *obj, const char *const *allowed)
{
    for (const cJSON *k = obj->child; k; k = k->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(k->string, *a) == 0;
        if (!ok) {
            char list[256] = "";
            for (const char *const *a = allowed; *a; a++) {
                strncat(list, *a, sizeof list - strlen(list) - 3);
                if (a[1]) strncat(list, ", ", sizeof list - strlen(list) - 1);
            }
            return bad(p, "unknown field '%s' (known: %s)", k->string, list);
        }
    }
    return MOECL_OK;
}

/* ---- layers ------------------------------------------------------------- */

static const struct {
    const char *name, *keras;
    layer_kind kind;
} TYPES[] = {
    {"conv2d", "Conv2D", LAYER_CONV2D},
    {"dense", "Dense", LAYER_DENSE},
    {"maxpool", "MaxPooling2D", LAYER_MAXPOOL},
    {"global_avgpool", "GlobalAveragePooling2D", LAYER_GLOBAL_AVGPOOL},
    {"relu", "ReLU", LAYER_RELU},
    {"flatten", "Flatten", LAYER_FLATTEN},
    {"dropout", "Dropout", LAYER_DROPOUT},
    {"batchnorm", "BatchNormalization", LAYER_BATCHNORM},
    {"dense_moe", "DenseMoE", LAYER_DENSE_MOE},
};

static int add_layer(network *net, layer *l)
{
    layer **grown = realloc(net->layers, (size_t)(net->n_layers + 1) * sizeof *grown);
    if (!grown || !l) {
        layer_free(l);
        if (grown) net->layers = grown;
        return -1;
    }
    net->layers = grown;
    net->layers[net->n_layers++] = l;
    return 0;
}

/* Reads "activation": linear (default), relu (adds a ReLU layer), softmax
 * (only on the last layer: the loss's own softmax). */
static moecl_status parse_activation(parse_ctx *p, const cJSON *spec, bool is_last,
                                     bool *add_relu)
{
    const char *act = NULL;
    MOECL_TRY(get_string(p, spec, "activation", "linear", &act));
    *add_relu = strcmp(act, "relu") == 0;
    if (*add_relu || strcmp(act, "linear") == 0) return MOECL_OK;
    if (strcmp(act, "softmax") == 0) {
        if (is_last) return MOECL_OK;
        return bad(p, "'%s' softmax is only allowed on the last layer%s", "activation", "");
    }
    return bad(p, "'activation' must be relu, linear or softmax, not '%s'%s", act, "");
}

/* linear, relu, or (where allowed) softmax. */
static moecl_status get_activation(parse_ctx *p, const cJSON *spec, const char *key,
                                   layer_activation def, bool softmax_ok, layer_activation *out)
{
    const char *name = NULL;
    MOECL_TRY(get_string(p, spec, key, NULL, &name));
    if (!name) {
        *out = def;
        return MOECL_OK;
    }
    if (strcmp(name, "linear") == 0) *out = ACT_LINEAR;
    else if (strcmp(name, "relu") == 0) *out = ACT_RELU;
    else if (softmax_ok && strcmp(name, "softmax") == 0) *out = ACT_SOFTMAX;
    else
        return bad(p, "'%s' must be linear, relu%s", key, softmax_ok ? " or softmax" : "");
    return MOECL_OK;
}

static moecl_status parse_padding(parse_ctx *p, const cJSON *spec, bool *same)
{
    const char *pad = NULL;
    MOECL_TRY(get_string(p, spec, "padding", "valid", &pad));
    if (strcmp(pad, "same") != 0 && strcmp(pad, "valid") != 0)
        return bad(p, "'padding' must be 'same' or 'valid', not '%s'%s", pad, "");
    *same = strcmp(pad, "same") == 0;
    return MOECL_OK;
}

static moecl_status parse_layer(network *net, parse_ctx *p, const cJSON *spec, int index,
                                bool is_last)
{
    const char *type = NULL, *name = NULL;
    snprintf(p->where, sizeof p->where, "layer %d", index);
    if (!cJSON_IsObject(spec)) return bad(p, "must be an object%s%s", "", "");
    MOECL_TRY(get_string(p, spec, "type", NULL, &type));
    if (!type) return bad(p, "'%s' is required%s", "type", "");
    int t = -1;
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcasecmp(type, TYPES[i].name) == 0 || strcmp(type, TYPES[i].keras) == 0) t = (int)i;
    if (t < 0)
        return bad(p, "unknown layer type '%s'%s", type,
                   " (known: conv2d, dense, dense_moe, maxpool, global_avgpool, relu, flatten, "
                   "dropout, batchnorm)");
    snprintf(p->where, sizeof p->where, "layer %d (%s)", index, TYPES[t].name);
    char default_name[64];
    snprintf(default_name, sizeof default_name, "%s_%d", TYPES[t].name, index);
    MOECL_TRY(get_string(p, spec, "name", default_name, &name));

    layer *l = NULL;
    bool relu = false;
    switch (TYPES[t].kind) {
    case LAYER_CONV2D: {
        static const char *const keys[] = {"type", "name", "filters", "kernel_size", "strides",
                                           "padding", "use_bias", "activation", NULL};
        MOECL_TRY(check_keys(p, spec, keys));
        int filters = 0, kh = 0, kw = 0, sh = 0, sw = 0;
        bool same = false, bias = true;
        MOECL_TRY(get_int(p, spec, "filters", -1, 1, &filters));
        MOECL_TRY(get_pair(p, spec, "kernel_size", 3, &kh, &kw));
        MOECL_TRY(get_pair(p, spec, "strides", 1, &sh, &sw));
        MOECL_TRY(parse_padding(p, spec, &same));
        MOECL_TRY(get_bool(p, spec, "use_bias", true, &bias));
        MOECL_TRY(parse_activation(p, spec, is_last, &relu));
        l = layer_conv2d(name, filters, kh, kw, sh, sw, same, bias);
        break;
    }
    case LAYER_DENSE: {
        static const char *const keys[] = {"type", "name", "units", "use_bias", "activation", NULL};
        MOECL_TRY(check_keys(p, spec, keys));
        int units = 0;
        bool bias = true;
        MOECL_TRY(get_int(p, spec, "units", -1, 1, &units));
        MOECL_TRY(get_bool(p, spec, "use_bias", true, &bias));
        MOECL_TRY(parse_activation(p, spec, is_last, &relu));
        l = layer_dense(name, units, bias);
        break;
    }
    case LAYER_DENSE_MOE: {
        static const char *const keys[] = {"type", "name", "units", "n_experts",
                                           "expert_activation", "gating_activation",
                                           "use_expert_bias", "use_gating_bias", NULL};
        MOECL_TRY(check_keys(p, spec, keys));
        int units = 0, experts = 0;
        bool ebias = true, gbias = true;
        layer_activation eact = ACT_LINEAR, gact = ACT_SOFTMAX;
        MOECL_TRY(get_int(p, spec, "units", -1, 1, &units));
        MOECL_TRY(get_int(p, spec, "n_experts", -1, 1, &experts));
        if (experts > 64) return bad(p, "'%s' must be at most 64%s", "n_experts", "");
        MOECL_TRY(get_activation(p, spec, "expert_activation", ACT_LINEAR, false, &eact));
        MOECL_TRY(get_activation(p, spec, "gating_activation", ACT_SOFTMAX, true, &gact));
        MOECL_TRY(get_bool(p, spec, "use_expert_bias", true, &ebias));
        MOECL_TRY(get_bool(p, spec, "use_gating_bias", true, &gbias));
        l = layer_dense_moe(name, units, experts, eact, gact, ebias, gbias);
        break;
    }
    case LAYER_MAXPOOL: {
        static const char *const keys[] = {"type", "name", "pool_size", "strides", "padding", NULL};
        MOECL_TRY(check_keys(p, spec, keys));
        int kh = 0, kw = 0, sh = 0, sw = 0;
        bool same = false;
        MOECL_TRY(get_pair(p, spec, "pool_size", 2, &kh, &kw));
        MOECL_TRY(get_pair(p, spec, "strides", kh, &sh, &sw));
        if (!cJSON_GetObjectItemCaseSensitive(spec, "strides")) sw = kw;
        MOECL_TRY(parse_padding(p, spec, &same));
        l = layer_maxpool(name, kh, kw, sh, sw, same);
        break;
    }
    case LAYER_DROPOUT: {
        static const char *const keys[] = {"type", "name", "rate", NULL};
        MOECL_TRY(check_keys(p, spec, keys));
        float rate = 0;
        MOECL_TRY(get_float(p, spec, "rate", 0.5f, 0.0f, 0.95f, &rate));
        l = layer_dropout(name, rate);
        break;
    }
    case LAYER_BATCHNORM: {
        static const char *const keys[] = {"type", "name", "epsilon", "momentum", NULL};
        MOECL_TRY(check_keys(p, spec, keys));
        float eps = 0, momentum = 0;
        MOECL_TRY(get_float(p, spec, "epsilon", 1e-3f, 1e-12f, 1.0f, &eps));
        MOECL_TRY(get_float(p, spec, "momentum", 0.99f, 0.0f, 1.0f, &momentum));
        l = layer_batchnorm(name, eps, momentum);
        break;
    }
    default: {
        static const char *const keys[] = {"type", "name", NULL};
        MOECL_TRY(check_keys(p, spec, keys));
        l = TYPES[t].kind == LAYER_RELU      ? layer_relu(name)
            : TYPES[t].kind == LAYER_FLATTEN ? layer_flatten(name)
                                             : layer_global_avgpool(name);
    }
    }
    if (add_layer(net, l) != 0) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    if (relu) {
        char rname[80];
        snprintf(rname, sizeof rname, "%s_relu", name);
        if (add_layer(net, layer_relu(rname)) != 0)
            return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return MOECL_OK;
}

static moecl_status parse_root(network *net, parse_ctx *p, const cJSON *root)
{
    if (!cJSON_IsObject(root)) return bad(p, "the file must hold a JSON object%s%s", "", "");
    static const char *const keys[] = {"name", "description", "input", "classes", "layers",
                                       "format", NULL};
    MOECL_TRY(check_keys(p, root, keys));
    const char *name = NULL, *desc = NULL;
    MOECL_TRY(get_string(p, root, "name", "model", &name));
    MOECL_TRY(get_string(p, root, "description", "", &desc));
    snprintf(net->name, sizeof net->name, "%s", name);
    snprintf(net->description, sizeof net->description, "%s", desc);
    MOECL_TRY(get_int(p, root, "classes", 10, 2, &net->classes));
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    net->input = (shape3){3, 32, 32};
    if (in) {
        if (!cJSON_IsArray(in) || cJSON_GetArraySize(in) != 3)
            return bad(p, "'%s' must be [channels, height, width]%s", "input", "");
        int v[3];
        for (int i = 0; i < 3; i++) {
            const cJSON *x = cJSON_GetArrayItem(in, i);
            if (!cJSON_IsNumber(x) || x->valueint < 1)
                return bad(p, "'%s' must be [channels, height, width]%s", "input", "");
            v[i] = x->valueint;
        }
        net->input = (shape3){v[0], v[1], v[2]};
    }
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0)
        return bad(p, "'%s' must be a non-empty array of layers%s", "layers", "");
    int count = cJSON_GetArraySize(layers), i = 0;
    for (const cJSON *spec = layers->child; spec; spec = spec->next, i++)
        MOECL_TRY(parse_layer(net, p, spec, i, i == count - 1));
    p->where[0] = '\0';
    layer *last = net->layers[net->n_layers - 1];
    if ((last->kind != LAYER_DENSE && last->kind != LAYER_DENSE_MOE) ||
        last->cfg.units != net->classes) {
        char detail[96];
        snprintf(detail, sizeof detail, " %d units (one per class)", net->classes);
        return bad(p, "the last layer must be %s with%s", "dense or dense_moe", detail);
    }
    return MOECL_OK;
}

moecl_status network_parse(const char *json, const char *origin, network **out)
{
    *out = NULL;
    parse_ctx p = {.origin = origin};
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *c = json; at && c < at && *c; c++) line += *c == '\n';
        return moecl_fail(MOECL_ERR_FORMAT, "model file '%s': not valid JSON (near line %d)",
                          origin, line);
    }
    network *net = calloc(1, sizeof *net);
    if (!net) {
        cJSON_Delete(root);
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    moecl_status st = parse_root(net, &p, root);
    cJSON_Delete(root);
    if (st != MOECL_OK) {
        network_free(net);
        return st;
    }
    *out = net;
    return MOECL_OK;
}

int model_preset_count(void) { return moecl_embedded_models_count; }
const char *model_preset_name(int i) { return moecl_embedded_models[i].name; }

moecl_status model_source(const char *spec, char **text)
{
    *text = NULL;
    FILE *f = fopen(spec, "rb");
    if (f) {
        fclose(f);
        return moecl_read_file(spec, text, NULL);
    }
    for (int i = 0; i < moecl_embedded_models_count; i++)
        if (strcmp(spec, moecl_embedded_models[i].name) == 0) {
            *text = strdup(moecl_embedded_models[i].source);
            return *text ? MOECL_OK : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
        }
    char names[512] = "";
    for (int i = 0; i < moecl_embedded_models_count; i++) {
        strncat(names, moecl_embedded_models[i].name, sizeof names - strlen(names) - 3);
        if (i + 1 < moecl_embedded_models_count) strncat(names, ", ", sizeof names - strlen(names) - 1);
    }
    return moecl_fail(MOECL_ERR_INVALID_ARG, "model '%s' is neither a file nor a preset "
                      "(presets: %s)", spec, names);
}

moecl_status network_load(const char *spec, network **out)
{
    char *text = NULL;
    MOECL_TRY(model_source(spec, &text));
    moecl_status st = network_parse(text, spec, out);
    free(text);
    return st;
}

void network_free(network *net)
{
    if (!net) return;
    for (int i = 0; i < net->n_layers; i++) layer_free(net->layers[i]);
    free(net->layers);
    moecl_tensor_destroy(net->input_tensor);
    moecl_tensor_destroy(net->grad_scratch);
    if (net->ctx) softmax_ce_free(&net->loss);
    free(net);
}

/* ---- running ------------------------------------------------------------ */

moecl_status network_setup(network *net, moecl_ctx *ctx, int batch, uint64_t seed)
{
    net->ctx = ctx;
    net->batch = batch;
    int ishape[2] = {batch, (int)shape3_size(net->input)};
    MOECL_TRY(moecl_tensor_create(ctx, 2, ishape, &net->input_tensor));
    shape3 s = net->input;
    uint64_t rng = seed;
    for (int i = 0; i < net->n_layers; i++) {
        MOECL_TRY(layer_setup(net->layers[i], ctx, s, batch, &rng));
        s = net->layers[i]->out;
    }
    return softmax_ce_init(&net->loss, ctx, batch, net->classes);
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

const moecl_tensor *network_logits(const network *net)
{
    return net->layers[net->n_layers - 1]->output;
}

moecl_status network_backward(network *net, int n)
{
    MOECL_TRY(softmax_ce_backward(&net->loss, n));
    const moecl_tensor *dy = net->loss.grad;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        layer *l = net->layers[i];
        const moecl_tensor *x = i > 0 ? net->layers[i - 1]->output : net->input_tensor;
        MOECL_TRY(layer_backward(l, x, dy, n, i > 0));
        dy = l->grad_input;
    }
    return MOECL_OK;
}

size_t network_param_count(const network *net)
{
    size_t n = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int j = 0; j < net->layers[i]->n_params; j++)
            if (net->layers[i]->params[j].grad) n += net->layers[i]->params[j].value->count;
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
    fprintf(out, "%-22s %-15s %-14s %10s\n", "layer", "kind", "output", "params");
    for (int i = 0; i < net->n_layers; i++) {
        const layer *l = net->layers[i];
        size_t params = 0;
        for (int j = 0; j < l->n_params; j++)
            if (l->params[j].grad) params += l->params[j].value->count;
        char shape[48];
        snprintf(shape, sizeof shape, "%dx%dx%d", l->out.c, l->out.h, l->out.w);
        fprintf(out, "%-22s %-15s %-14s %10zu\n", l->name, layer_kind_name(l->kind), shape, params);
    }
    fprintf(out, "total: %zu trainable parameters, %.1f MFLOPs per image forward\n",
            network_param_count(net), (double)network_flops_per_image(net) / 1e6);
}
