/* Model files (JSON): parsing with errors that name the file, the part,
 * the layer and the field. The format is in the README, "Model files". */
#include "model_file_parse.h"
#include "checkpoint.h"

#include <stdlib.h>
#include <string.h>

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
        return mf_bad(p, "'%s' must name a part, not '%s'", field, cJSON_IsString(v) ? v->valuestring : "?");
    return MOECL_OK;
}

/* An array of part names into indices. */
static moecl_status named_parts(const model *m, parse_ctx *p, const cJSON *arr, const char *field,
                                int *out, int *count)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > MODEL_MAX_PARTS)
        return mf_bad(p, "'%s' must be an array of part names%s", field, "");
    *count = 0;
    for (const cJSON *e = arr->child; e; e = e->next) MOECL_TRY(named_part(m, p, e, field, &out[(*count)++]));
    return MOECL_OK;
}

/* The outputs each part must end in, by its role in the mixture. */
static int part_units(const model *m, int i, const char **what)
{
    *what = "one per class";
    if (i == m->trunk) return 0; /* any shape: the gate and the experts read it */
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
    if (subgates != m->n_experts) return mf_bad(p, "'%s' must give one sub-gate per expert%s", "subgates", "");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(mix, "groups");
    if (!cJSON_IsArray(groups) || cJSON_GetArraySize(groups) != m->n_experts)
        return mf_bad(p, "'%s' must give one array of classes per expert%s", "groups", "");
    for (int c = 0; c < m->classes; c++) m->group_of_class[c] = -1;
    int g = 0;
    for (const cJSON *grp = groups->child; grp; grp = grp->next, g++) {
        if (!cJSON_IsArray(grp)) return mf_bad(p, "'%s' must hold arrays of classes%s", "groups", "");
        for (const cJSON *c = grp->child; c; c = c->next) {
            if (!cJSON_IsNumber(c) || c->valueint < 0 || c->valueint >= m->classes ||
                m->group_of_class[c->valueint] >= 0)
                return mf_bad(p, "'%s' must hold each class 0..classes-1 at most once%s", "groups", "");
            m->group_of_class[c->valueint] = g;
        }
    }
    for (int c = 0; c < m->classes; c++)
        if (m->group_of_class[c] < 0) return mf_bad(p, "'%s' leaves a class without an expert%s", "groups", "");
    return MOECL_OK;
}

/* "parts": [{"name": ..., "layers": [...]}, ...] joined by "mixture":
 * soft {"gate", "experts"} or hierarchical (see parse_hierarchical). */
static moecl_status parse_mixture(model *m, parse_ctx *p, const cJSON *parts, const cJSON *mix)
{
    if (!cJSON_IsArray(parts) || cJSON_GetArraySize(parts) < 2)
        return mf_bad(p, "'%s' must be an array of at least two parts%s", "parts", "");
    if (!cJSON_IsObject(mix)) return mf_bad(p, "a model with parts needs a '%s' object%s", "mixture", "");
    for (const cJSON *part = parts->child; part; part = part->next) {
        if (m->n_parts == MODEL_MAX_PARTS) {
            char limit[16];
            snprintf(limit, sizeof limit, "%d", MODEL_MAX_PARTS);
            return mf_bad(p, "more than %s parts%s", limit, "");
        }
        snprintf(p->where, sizeof p->where, "part %d", m->n_parts + 1);
        if (!cJSON_IsObject(part)) return mf_bad(p, "each of '%s' must be an object%s", "parts", "");
        static const char *const keys[] = {"name", "layers", NULL};
        MOECL_TRY(mf_check_keys(p, part, keys));
        const char *name = NULL;
        MOECL_TRY(mf_get_text(p, part, "name", NULL, sizeof m->parts[0]->name, &name));
        if (!name || !*name) return mf_bad(p, "every part needs a '%s'%s", "name", "");
        if (part_index(m, name) >= 0) return mf_bad(p, "two parts are named '%s'%s", name, "");
        if (!(m->parts[m->n_parts] = network_new(name)))
            return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
        m->n_parts++;
    }
    snprintf(p->where, sizeof p->where, "mixture");
    const char *type = NULL;
    MOECL_TRY(mf_get_string(p, mix, "type", "soft", &type));
    bool hier = strcmp(type, "hierarchical") == 0, sw = strcmp(type, "switch") == 0;
    bool topk = strcmp(type, "topk") == 0;
    if (!hier && !sw && !topk && strcmp(type, "soft") != 0)
        return mf_bad(p, "'type' must be 'soft', 'hierarchical', 'switch' or 'topk', not '%s'%s", type, "");
    static const char *const topk_keys[] = {"type", "gate", "experts", "trunk", "k", "noise",
                                            "importance_loss", "load_loss", NULL};
    static const char *const soft_keys[] = {"type", "gate", "experts", "importance_loss", NULL};
    static const char *const hier_keys[] = {"type", "gate", "experts", "baseline", "subgates",
                                            "groups", NULL};
    static const char *const switch_keys[] = {"type", "gate", "experts", "trunk", "capacity_factor",
                                              "eval_capacity_factor", "aux_loss", "z_loss", NULL};
    MOECL_TRY(mf_check_keys(p, mix, hier ? hier_keys : sw ? switch_keys : topk ? topk_keys : soft_keys));
    MOECL_TRY(named_part(m, p, cJSON_GetObjectItemCaseSensitive(mix, "gate"), "gate", &m->gate));
    MOECL_TRY(named_parts(m, p, cJSON_GetObjectItemCaseSensitive(mix, "experts"), "experts",
                          m->experts, &m->n_experts));
    if (m->n_experts > MODEL_MAX_EXPERTS) {
        char detail[96];
        snprintf(detail, sizeof detail, " (%d here; the routing kernels hold at most %d)", m->n_experts,
                 MODEL_MAX_EXPERTS);
        return mf_bad(p, "too many '%s'%s", "experts", detail);
    }
    for (int k = 0; k < m->n_experts; k++)
        if (m->experts[k] == m->gate) return mf_bad(p, "the gate cannot be an %s%s", "expert", "");
    /* switch and top-k: a trunk runs on every image; the gate and the
     * experts read its output (experts as blocks of one network) */
    const cJSON *trunk = cJSON_GetObjectItemCaseSensitive(mix, "trunk");
    if (trunk) MOECL_TRY(named_part(m, p, trunk, "trunk", &m->trunk));
    for (int k = 0; trunk && k < m->n_experts; k++)
        if (m->experts[k] == m->trunk || m->gate == m->trunk)
            return mf_bad(p, "the trunk cannot be the gate or an %s%s", "expert", "");
    if (trunk && m->n_parts != m->n_experts + 2)
        return mf_bad(p, "with a trunk every part must be the trunk, the gate or an %s%s", "expert", "");
    m->head = HEAD_SOFT_MIXTURE;
    if (!hier && !sw && !topk) /* soft: an optional CV^2 balance of the gate's weights */
        MOECL_TRY(mf_get_float(p, mix, "importance_loss", 0.0f, 0.0f, 100.0f, &m->importance_weight));
    if (hier) MOECL_TRY(parse_hierarchical(m, p, mix));
    if (topk) {
        m->head = HEAD_TOPK;
        MOECL_TRY(mf_get_int(p, mix, "k", 2, 1, &m->topk));
        if (m->topk > m->n_experts) return mf_bad(p, "'%s' must be at most the number of experts%s", "k", "");
        MOECL_TRY(mf_get_bool(p, mix, "noise", true, &m->noisy));
        MOECL_TRY(mf_get_float(p, mix, "importance_loss", 0.1f, 0.0f, 100.0f, &m->importance_weight));
        MOECL_TRY(mf_get_float(p, mix, "load_loss", 0.1f, 0.0f, 100.0f, &m->load_weight));
    }
    if (sw) {
        m->head = HEAD_SWITCH;
        MOECL_TRY(mf_get_float(p, mix, "capacity_factor", 1.25f, 0.01f, 64.0f, &m->capacity_factor));
        MOECL_TRY(mf_get_float(p, mix, "eval_capacity_factor", 0.0f, 0.0f, 64.0f, &m->eval_capacity_factor));
        MOECL_TRY(mf_get_float(p, mix, "aux_loss", 0.01f, 0.0f, 100.0f, &m->aux_weight));
        MOECL_TRY(mf_get_float(p, mix, "z_loss", 0.001f, 0.0f, 100.0f, &m->z_weight));
    }
    p->where[0] = '\0';
    /* the trunk first: its output is what the other parts take */
    shape3 input = m->input;
    int i = 0;
    for (const cJSON *part = parts->child; part && m->trunk >= 0; part = part->next, i++)
        if (i == m->trunk)
            MOECL_TRY(mf_parse_layers(m->parts[i], p, cJSON_GetObjectItemCaseSensitive(part, "layers"),
                                      m->input, 0, "", &input));
    i = 0;
    for (const cJSON *part = parts->child; part; part = part->next, i++) {
        if (i == m->trunk) continue;
        const char *what = NULL;
        int units = part_units(m, i, &what);
        MOECL_TRY(mf_parse_layers(m->parts[i], p, cJSON_GetObjectItemCaseSensitive(part, "layers"),
                                  input, units, what, NULL));
        if (m->trunk >= 0 && m->parts[i]->layers[0]->cfg.whiten) {
            snprintf(p->where, sizeof p->where, "part %s", m->parts[i]->name);
            return mf_bad(p, "a whitening convolution reads the image: it belongs in the %s%s", "trunk", "");
        }
    }
    return MOECL_OK;
}

/* "stages": [{"name", "train": [parts], "classes": [..], "epochs", "patience"}] */
static moecl_status parse_stages(model *m, parse_ctx *p, const cJSON *stages)
{
    if (!stages) {
        if (m->head == HEAD_HIERARCHICAL)
            return mf_bad(p, "a hierarchical mixture needs '%s': its gate is a hard switch that "
                          "learns only alone%s", "stages", "");
        return MOECL_OK;
    }
    if (m->trunk >= 0) /* its parts are one network: they learn together */
        return mf_bad(p, "a mixture with a trunk trains whole: it takes no '%s'%s", "stages", "");
    if (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) < 1 ||
        cJSON_GetArraySize(stages) > MODEL_MAX_STAGES)
        return mf_bad(p, "'%s' must be an array of 1 to 8 stages%s", "stages", "");
    for (const cJSON *st = stages->child; st; st = st->next) {
        model_stage *s = &m->stages[m->n_stages++];
        snprintf(p->where, sizeof p->where, "stage %d", m->n_stages);
        if (!cJSON_IsObject(st)) return mf_bad(p, "must be an object%s%s", "", "");
        static const char *const keys[] = {"name", "train", "classes", "epochs", "patience", NULL};
        MOECL_TRY(mf_check_keys(p, st, keys));
        const char *name = NULL;
        MOECL_TRY(mf_get_text(p, st, "name", "", sizeof s->name, &name));
        if (*name) snprintf(s->name, sizeof s->name, "%s", name);
        else snprintf(s->name, sizeof s->name, "stage_%d", m->n_stages);
        int idx[MODEL_MAX_PARTS], n = 0;
        MOECL_TRY(named_parts(m, p, cJSON_GetObjectItemCaseSensitive(st, "train"), "train", idx, &n));
        for (int i = 0; i < n; i++) s->train_parts[idx[i]] = true;
        MOECL_TRY(mf_get_int(p, st, "epochs", 0, 0, &s->epochs));
        MOECL_TRY(mf_get_int(p, st, "patience", -1, -1, &s->patience));
        const cJSON *classes = cJSON_GetObjectItemCaseSensitive(st, "classes");
        if (!classes) s->classes = m->classes >= 32 ? ~0u : (1u << m->classes) - 1;
        else if (!cJSON_IsArray(classes) || cJSON_GetArraySize(classes) < 2)
            return mf_bad(p, "'%s' must be an array of at least two classes%s", "classes", "");
        for (const cJSON *c = classes ? classes->child : NULL; c; c = c->next) {
            if (!cJSON_IsNumber(c) || c->valueint < 0 || c->valueint >= m->classes)
                return mf_bad(p, "'%s' holds a class outside 0..classes-1%s", "classes", "");
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
    if (!cJSON_IsObject(root)) return mf_bad(p, "the file must hold a JSON object%s%s", "", "");
    static const char *const keys[] = {"name", "description", "input", "classes", "layers",
                                       "parts", "mixture", "stages", "format", "recipe", NULL};
    MOECL_TRY(mf_check_keys(p, root, keys));
    /* the training options it was measured with: kept as text, checked by
     * the training side (train_recipe_apply) */
    const cJSON *recipe = cJSON_GetObjectItemCaseSensitive(root, "recipe");
    if (recipe && !cJSON_IsObject(recipe))
        return mf_bad(p, "'%s' must be an object of training options%s", "recipe", "");
    if (recipe && !(m->recipe = cJSON_PrintUnformatted(recipe)))
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    const char *name = NULL, *desc = NULL;
    MOECL_TRY(mf_get_text(p, root, "name", "model", sizeof m->name, &name));
    MOECL_TRY(mf_get_text(p, root, "description", "", sizeof m->description, &desc));
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->description, sizeof m->description, "%s", desc);
    MOECL_TRY(mf_get_int(p, root, "classes", 10, 2, &m->classes));
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    m->input = (shape3){3, 32, 32};
    if (in) {
        if (!cJSON_IsArray(in) || cJSON_GetArraySize(in) != 3)
            return mf_bad(p, "'%s' must be [channels, height, width]%s", "input", "");
        int v[3];
        for (int i = 0; i < 3; i++) {
            const cJSON *x = cJSON_GetArrayItem(in, i);
            if (!cJSON_IsNumber(x) || !(x->valuedouble >= 1 && x->valuedouble <= MF_SIZE_MAX) ||
                x->valuedouble != (double)(int)x->valuedouble) {
                char detail[64];
                snprintf(detail, sizeof detail, " (whole numbers from 1 to %d)", MF_SIZE_MAX);
                return mf_bad(p, "'%s' must be [channels, height, width]%s", "input", detail);
            }
            v[i] = x->valueint;
        }
        m->input = (shape3){v[0], v[1], v[2]};
    }
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(root, "parts");
    if (layers && parts) return mf_bad(p, "give either '%s' or 'parts', not both%s", "layers", "");
    if (m->classes > 32) return mf_bad(p, "'%s' must be at most 32%s", "classes", "");
    if (parts) {
        MOECL_TRY(parse_mixture(m, p, parts, cJSON_GetObjectItemCaseSensitive(root, "mixture")));
        return parse_stages(m, p, cJSON_GetObjectItemCaseSensitive(root, "stages"));
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "mixture"))
        return mf_bad(p, "'%s' needs 'parts'%s", "mixture", "");
    if (!(m->parts[0] = network_new("")))
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    m->n_parts = 1;
    m->head = HEAD_SINGLE;
    MOECL_TRY(mf_parse_layers(m->parts[0], p, layers, m->input, m->classes, "one per class", NULL));
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
    m->trunk = -1;
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
        size_t len = strlen(spec), ext = strlen(".safetensors");
        if (len < ext || strcmp(spec + len - ext, ".safetensors") != 0)
            return moecl_read_file(spec, text, NULL);
        /* a checkpoint: the model it was trained as, kept in its metadata */
        MOECL_TRY(safetensors_meta(spec, "model", text));
        if ((*text)[0]) return MOECL_OK;
        free(*text);
        *text = NULL;
        return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' has no model in its metadata (not "
                          "written by moecl train?)", spec);
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

