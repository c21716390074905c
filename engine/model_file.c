/* Model files (JSON): parsing with errors that name the file, the part,
 * the layer and the field. The format is in the README, "Model files". */
#include "internal.h"
#include "model.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- parsing helpers ---------------------------------------------------- */

typedef struct parse_ctx {
    const char *origin; /* file name for messages */
    char where[192];    /* "part gate, layer 3 (conv2d)" */
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
    {"conv2d_moe", "Conv2DMoE", LAYER_CONV2D_MOE},
};

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
    snprintf(p->where, sizeof p->where, "%s%s%slayer %d", net->name[0] ? "part " : "", net->name,
             net->name[0] ? ", " : "", index);
    if (!cJSON_IsObject(spec)) return bad(p, "must be an object%s%s", "", "");
    MOECL_TRY(get_string(p, spec, "type", NULL, &type));
    if (!type) return bad(p, "'%s' is required%s", "type", "");
    int t = -1;
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcasecmp(type, TYPES[i].name) == 0 || strcmp(type, TYPES[i].keras) == 0) t = (int)i;
    if (t < 0)
        return bad(p, "unknown layer type '%s'%s", type,
                   " (known: conv2d, conv2d_moe, dense, dense_moe, maxpool, global_avgpool, "
                   "relu, flatten, dropout, batchnorm)");
    snprintf(p->where, sizeof p->where, "%s%s%slayer %d (%s)", net->name[0] ? "part " : "",
             net->name, net->name[0] ? ", " : "", index, TYPES[t].name);
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
    case LAYER_CONV2D_MOE: {
        static const char *const keys[] = {"type", "name", "filters", "n_experts", "kernel_size",
                                           "strides", "padding", "expert_activation",
                                           "gating_activation", "use_expert_bias",
                                           "use_gating_bias", NULL};
        MOECL_TRY(check_keys(p, spec, keys));
        int filters = 0, experts = 0, kh = 0, kw = 0, sh = 0, sw = 0;
        bool same = false, ebias = true, gbias = true;
        layer_activation eact = ACT_LINEAR, gact = ACT_SOFTMAX;
        MOECL_TRY(get_int(p, spec, "filters", -1, 1, &filters));
        MOECL_TRY(get_int(p, spec, "n_experts", -1, 1, &experts));
        MOECL_TRY(get_pair(p, spec, "kernel_size", 3, &kh, &kw));
        MOECL_TRY(get_pair(p, spec, "strides", 1, &sh, &sw));
        MOECL_TRY(parse_padding(p, spec, &same));
        MOECL_TRY(get_activation(p, spec, "expert_activation", ACT_LINEAR, false, &eact));
        MOECL_TRY(get_activation(p, spec, "gating_activation", ACT_SOFTMAX, true, &gact));
        MOECL_TRY(get_bool(p, spec, "use_expert_bias", true, &ebias));
        MOECL_TRY(get_bool(p, spec, "use_gating_bias", true, &gbias));
        l = layer_conv2d_moe(name, filters, experts, kh, kw, sh, sw, same, eact, gact, ebias, gbias);
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
    if (!network_add_layer(net, l)) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    if (relu) {
        char rname[80];
        snprintf(rname, sizeof rname, "%s_relu", name);
        if (!network_add_layer(net, layer_relu(rname)))
            return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return MOECL_OK;
}

/* The layers of one part; its last layer must give `units` outputs (dense
 * or dense_moe) when units > 0. */
static moecl_status parse_layers(network *net, parse_ctx *p, const cJSON *layers, int units,
                                 const char *what)
{
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0)
        return bad(p, "'%s' must be a non-empty array of layers%s", "layers", "");
    int count = cJSON_GetArraySize(layers), i = 0;
    for (const cJSON *spec = layers->child; spec; spec = spec->next, i++)
        MOECL_TRY(parse_layer(net, p, spec, i, i == count - 1));
    snprintf(p->where, sizeof p->where, "%s%s", net->name[0] ? "part " : "", net->name);
    layer *last = net->layers[net->n_layers - 1];
    if ((last->kind != LAYER_DENSE && last->kind != LAYER_DENSE_MOE) || last->cfg.units != units) {
        char detail[96];
        snprintf(detail, sizeof detail, " %d units (%s)", units, what);
        return bad(p, "the last layer must be %s with%s", "dense or dense_moe", detail);
    }
    p->where[0] = '\0';
    return MOECL_OK;
}

static int part_index(const model *m, const char *name)
{
    for (int i = 0; i < m->n_parts; i++)
        if (strcmp(m->parts[i]->name, name) == 0) return i;
    return -1;
}

/* A part named by a field of the mixture (or an element of an array). */
static moecl_status named_part(const model *m, parse_ctx *p, const cJSON *v, const char *field,
                               int *index)
{
    *index = cJSON_IsString(v) ? part_index(m, v->valuestring) : -1;
    if (*index < 0)
        return bad(p, "'%s' must name a part, not '%s'", field, cJSON_IsString(v) ? v->valuestring : "?");
    return MOECL_OK;
}

/* An array of part names into indices. */
static moecl_status named_parts(const model *m, parse_ctx *p, const cJSON *arr, const char *field,
                                int *out, int *count)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > MODEL_MAX_PARTS)
        return bad(p, "'%s' must be an array of part names%s", field, "");
    *count = 0;
    for (const cJSON *e = arr->child; e; e = e->next) MOECL_TRY(named_part(m, p, e, field, &out[(*count)++]));
    return MOECL_OK;
}

/* The outputs each part must end in, by its role in the mixture. */
static int part_units(const model *m, int i, const char **what)
{
    *what = "one per class";
    if (i == m->gate) {
        bool wide = m->head == HEAD_TOPK && m->noisy;
        *what = wide ? "two per expert: clean logits, then raw noise scales" : "one per expert";
        return wide ? 2 * m->n_experts : m->n_experts;
    }
    for (int k = 0; m->head == HEAD_HIERARCHICAL && k < m->n_experts; k++)
        if (m->subgates[k] == i) {
            *what = "two per class: baseline and expert weights, reshaped to classes x 2";
            return 2 * m->classes;
        }
    return m->classes;
}

/* "mixture": {"type": "hierarchical", "baseline": B, "gate": G, "experts": [...],
 *             "subgates": [...], "groups": [[classes], ...]} */
static moecl_status parse_hierarchical(model *m, parse_ctx *p, const cJSON *mix)
{
    m->head = HEAD_HIERARCHICAL;
    MOECL_TRY(named_part(m, p, cJSON_GetObjectItemCaseSensitive(mix, "baseline"), "baseline", &m->baseline));
    int subgates = 0;
    MOECL_TRY(named_parts(m, p, cJSON_GetObjectItemCaseSensitive(mix, "subgates"), "subgates",
                          m->subgates, &subgates));
    if (subgates != m->n_experts) return bad(p, "'%s' must give one sub-gate per expert%s", "subgates", "");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(mix, "groups");
    if (!cJSON_IsArray(groups) || cJSON_GetArraySize(groups) != m->n_experts)
        return bad(p, "'%s' must give one array of classes per expert%s", "groups", "");
    for (int c = 0; c < m->classes; c++) m->group_of_class[c] = -1;
    int g = 0;
    for (const cJSON *grp = groups->child; grp; grp = grp->next, g++) {
        if (!cJSON_IsArray(grp)) return bad(p, "'%s' must hold arrays of classes%s", "groups", "");
        for (const cJSON *c = grp->child; c; c = c->next) {
            if (!cJSON_IsNumber(c) || c->valueint < 0 || c->valueint >= m->classes ||
                m->group_of_class[c->valueint] >= 0)
                return bad(p, "'%s' must hold each class 0..classes-1 at most once%s", "groups", "");
            m->group_of_class[c->valueint] = g;
        }
    }
    for (int c = 0; c < m->classes; c++)
        if (m->group_of_class[c] < 0) return bad(p, "'%s' leaves a class without an expert%s", "groups", "");
    return MOECL_OK;
}

/* "parts": [{"name": ..., "layers": [...]}, ...] joined by "mixture":
 * soft {"gate", "experts"} or hierarchical (see parse_hierarchical). */
static moecl_status parse_mixture(model *m, parse_ctx *p, const cJSON *parts, const cJSON *mix)
{
    if (!cJSON_IsArray(parts) || cJSON_GetArraySize(parts) < 2)
        return bad(p, "'%s' must be an array of at least two parts%s", "parts", "");
    if (!cJSON_IsObject(mix)) return bad(p, "a model with parts needs a '%s' object%s", "mixture", "");
    for (const cJSON *part = parts->child; part; part = part->next) {
        if (m->n_parts == MODEL_MAX_PARTS) return bad(p, "more than %s parts%s", "16", "");
        if (!cJSON_IsObject(part)) return bad(p, "each of '%s' must be an object%s", "parts", "");
        static const char *const keys[] = {"name", "layers", NULL};
        MOECL_TRY(check_keys(p, part, keys));
        const char *name = NULL;
        MOECL_TRY(get_string(p, part, "name", NULL, &name));
        if (!name || !*name) return bad(p, "every part needs a '%s'%s", "name", "");
        if (part_index(m, name) >= 0) return bad(p, "two parts are named '%s'%s", name, "");
        if (!(m->parts[m->n_parts] = network_new(name)))
            return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
        m->n_parts++;
    }
    snprintf(p->where, sizeof p->where, "mixture");
    const char *type = NULL;
    MOECL_TRY(get_string(p, mix, "type", "soft", &type));
    bool hier = strcmp(type, "hierarchical") == 0, sw = strcmp(type, "switch") == 0;
    bool topk = strcmp(type, "topk") == 0;
    if (!hier && !sw && !topk && strcmp(type, "soft") != 0)
        return bad(p, "'type' must be 'soft', 'hierarchical', 'switch' or 'topk', not '%s'%s", type, "");
    static const char *const topk_keys[] = {"type", "gate", "experts", "k", "noise",
                                            "importance_loss", "load_loss", NULL};
    static const char *const soft_keys[] = {"type", "gate", "experts", "importance_loss", NULL};
    static const char *const hier_keys[] = {"type", "gate", "experts", "baseline", "subgates",
                                            "groups", NULL};
    static const char *const switch_keys[] = {"type", "gate", "experts", "capacity_factor",
                                              "eval_capacity_factor", "aux_loss", "z_loss", NULL};
    MOECL_TRY(check_keys(p, mix, hier ? hier_keys : sw ? switch_keys : topk ? topk_keys : soft_keys));
    MOECL_TRY(named_part(m, p, cJSON_GetObjectItemCaseSensitive(mix, "gate"), "gate", &m->gate));
    MOECL_TRY(named_parts(m, p, cJSON_GetObjectItemCaseSensitive(mix, "experts"), "experts",
                          m->experts, &m->n_experts));
    for (int k = 0; k < m->n_experts; k++)
        if (m->experts[k] == m->gate) return bad(p, "the gate cannot be an %s%s", "expert", "");
    m->head = HEAD_SOFT_MIXTURE;
    if (!hier && !sw && !topk) /* soft: an optional CV^2 balance of the gate's weights */
        MOECL_TRY(get_float(p, mix, "importance_loss", 0.0f, 0.0f, 100.0f, &m->importance_weight));
    if (hier) MOECL_TRY(parse_hierarchical(m, p, mix));
    if (topk) {
        m->head = HEAD_TOPK;
        MOECL_TRY(get_int(p, mix, "k", 2, 1, &m->topk));
        if (m->topk > m->n_experts) return bad(p, "'%s' must be at most the number of experts%s", "k", "");
        MOECL_TRY(get_bool(p, mix, "noise", true, &m->noisy));
        MOECL_TRY(get_float(p, mix, "importance_loss", 0.1f, 0.0f, 100.0f, &m->importance_weight));
        MOECL_TRY(get_float(p, mix, "load_loss", 0.1f, 0.0f, 100.0f, &m->load_weight));
    }
    if (sw) {
        m->head = HEAD_SWITCH;
        MOECL_TRY(get_float(p, mix, "capacity_factor", 1.25f, 0.01f, 64.0f, &m->capacity_factor));
        MOECL_TRY(get_float(p, mix, "eval_capacity_factor", 0.0f, 0.0f, 64.0f, &m->eval_capacity_factor));
        MOECL_TRY(get_float(p, mix, "aux_loss", 0.01f, 0.0f, 100.0f, &m->aux_weight));
        MOECL_TRY(get_float(p, mix, "z_loss", 0.001f, 0.0f, 100.0f, &m->z_weight));
    }
    p->where[0] = '\0';
    int i = 0;
    for (const cJSON *part = parts->child; part; part = part->next, i++) {
        const char *what = NULL;
        int units = part_units(m, i, &what);
        MOECL_TRY(parse_layers(m->parts[i], p, cJSON_GetObjectItemCaseSensitive(part, "layers"),
                               units, what));
    }
    return MOECL_OK;
}

/* "stages": [{"name", "train": [parts], "classes": [..], "epochs", "patience"}] */
static moecl_status parse_stages(model *m, parse_ctx *p, const cJSON *stages)
{
    if (!stages) {
        if (m->head == HEAD_HIERARCHICAL)
            return bad(p, "a hierarchical mixture needs '%s': its gate is a hard switch that "
                          "learns only alone%s", "stages", "");
        return MOECL_OK;
    }
    if (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) < 1 ||
        cJSON_GetArraySize(stages) > MODEL_MAX_STAGES)
        return bad(p, "'%s' must be an array of 1 to 8 stages%s", "stages", "");
    for (const cJSON *st = stages->child; st; st = st->next) {
        model_stage *s = &m->stages[m->n_stages++];
        snprintf(p->where, sizeof p->where, "stage %d", m->n_stages);
        if (!cJSON_IsObject(st)) return bad(p, "must be an object%s%s", "", "");
        static const char *const keys[] = {"name", "train", "classes", "epochs", "patience", NULL};
        MOECL_TRY(check_keys(p, st, keys));
        const char *name = NULL;
        MOECL_TRY(get_string(p, st, "name", "", &name));
        if (*name) snprintf(s->name, sizeof s->name, "%s", name);
        else snprintf(s->name, sizeof s->name, "stage_%d", m->n_stages);
        int idx[MODEL_MAX_PARTS], n = 0;
        MOECL_TRY(named_parts(m, p, cJSON_GetObjectItemCaseSensitive(st, "train"), "train", idx, &n));
        for (int i = 0; i < n; i++) s->train_parts |= 1u << idx[i];
        MOECL_TRY(get_int(p, st, "epochs", 0, 0, &s->epochs));
        MOECL_TRY(get_int(p, st, "patience", -1, -1, &s->patience));
        const cJSON *classes = cJSON_GetObjectItemCaseSensitive(st, "classes");
        if (!classes) s->classes = (1u << m->classes) - 1;
        else if (!cJSON_IsArray(classes) || cJSON_GetArraySize(classes) < 2)
            return bad(p, "'%s' must be an array of at least two classes%s", "classes", "");
        for (const cJSON *c = classes ? classes->child : NULL; c; c = c->next) {
            if (!cJSON_IsNumber(c) || c->valueint < 0 || c->valueint >= m->classes)
                return bad(p, "'%s' holds a class outside 0..classes-1%s", "classes", "");
            s->classes |= 1u << c->valueint;
        }
        /* one part other than a sub-gate (or a soft gate) trains alone */
        s->alone = -1;
        bool subgate = false;
        for (int k = 0; k < m->n_experts && m->head == HEAD_HIERARCHICAL; k++)
            subgate |= idx[0] == m->subgates[k];
        if (n == 1 && !subgate && !(m->head == HEAD_SOFT_MIXTURE && idx[0] == m->gate))
            s->alone = idx[0];
    }
    p->where[0] = '\0';
    return MOECL_OK;
}

static moecl_status parse_root(model *m, parse_ctx *p, const cJSON *root)
{
    if (!cJSON_IsObject(root)) return bad(p, "the file must hold a JSON object%s%s", "", "");
    static const char *const keys[] = {"name", "description", "input", "classes", "layers",
                                       "parts", "mixture", "stages", "format", NULL};
    MOECL_TRY(check_keys(p, root, keys));
    const char *name = NULL, *desc = NULL;
    MOECL_TRY(get_string(p, root, "name", "model", &name));
    MOECL_TRY(get_string(p, root, "description", "", &desc));
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->description, sizeof m->description, "%s", desc);
    MOECL_TRY(get_int(p, root, "classes", 10, 2, &m->classes));
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    m->input = (shape3){3, 32, 32};
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
        m->input = (shape3){v[0], v[1], v[2]};
    }
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(root, "parts");
    if (layers && parts) return bad(p, "give either '%s' or 'parts', not both%s", "layers", "");
    if (m->classes > 32) return bad(p, "'%s' must be at most 32%s", "classes", "");
    if (parts) {
        MOECL_TRY(parse_mixture(m, p, parts, cJSON_GetObjectItemCaseSensitive(root, "mixture")));
        return parse_stages(m, p, cJSON_GetObjectItemCaseSensitive(root, "stages"));
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "mixture"))
        return bad(p, "'%s' needs 'parts'%s", "mixture", "");
    if (!(m->parts[0] = network_new("")))
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    m->n_parts = 1;
    m->head = HEAD_SINGLE;
    MOECL_TRY(parse_layers(m->parts[0], p, layers, m->classes, "one per class"));
    return parse_stages(m, p, cJSON_GetObjectItemCaseSensitive(root, "stages"));
}

moecl_status model_parse(const char *json, const char *origin, model **out)
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
    model *m = calloc(1, sizeof *m);
    if (!m) {
        cJSON_Delete(root);
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    moecl_status st = parse_root(m, &p, root);
    cJSON_Delete(root);
    if (st != MOECL_OK) {
        model_free(m);
        return st;
    }
    *out = m;
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

moecl_status model_load(const char *spec, model **out)
{
    char *text = NULL;
    MOECL_TRY(model_source(spec, &text));
    moecl_status st = model_parse(text, spec, out);
    free(text);
    return st;
}

