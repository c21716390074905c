/* The model-file parser's typed JSON getters (see model_file_parse.h). */
#include "model_file_parse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


moecl_status mf_bad(const parse_ctx *p, const char *fmt, const char *field, const char *detail)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, field, detail);
    return moecl_fail(MOECL_ERR_FORMAT, "model file '%s': %s%s%s", p->origin, p->where,
                      p->where[0] ? ": " : "", msg);
}

moecl_status mf_get_int_range(const parse_ctx *p, const cJSON *obj, const char *key, int def,
                              int min, int max, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (def < min) return mf_bad(p, "'%s' is required%s", key, "");
        *out = def;
        return MOECL_OK;
    }
    char detail[96];
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        snprintf(detail, sizeof detail, " (a whole number from %d to %d)", min, max);
        return mf_bad(p, "'%s' must be a whole number%s", key, detail);
    }
    if (v->valuedouble < min) {
        snprintf(detail, sizeof detail, "%.0f: it must be at least %d", v->valuedouble, min);
        return mf_bad(p, "'%s' is %s", key, detail);
    }
    if (v->valuedouble > max) {
        snprintf(detail, sizeof detail, "%.0f: too large, the limit is %d", v->valuedouble, max);
        return mf_bad(p, "'%s' is %s", key, detail);
    }
    *out = (int)v->valuedouble;
    return MOECL_OK;
}

moecl_status mf_get_int(const parse_ctx *p, const cJSON *obj, const char *key, int def, int min,
                        int *out)
{
    return mf_get_int_range(p, obj, key, def, min, MF_COUNT_MAX, out);
}

moecl_status mf_get_size(const parse_ctx *p, const cJSON *obj, const char *key, int def, int min,
                         int *out)
{
    return mf_get_int_range(p, obj, key, def, min, MF_SIZE_MAX, out);
}

/* An int or a pair [h, w]. */
moecl_status mf_get_pair(const parse_ctx *p, const cJSON *obj, const char *key, int def,
                         int *a, int *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v && cJSON_IsArray(v)) {
        const cJSON *x = cJSON_GetArrayItem(v, 0), *y = cJSON_GetArrayItem(v, 1);
        if (cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(x) || !cJSON_IsNumber(y) ||
            x->valuedouble != floor(x->valuedouble) || y->valuedouble != floor(y->valuedouble) ||
            x->valuedouble < 1 || y->valuedouble < 1 || x->valuedouble > MF_SIZE_MAX ||
            y->valuedouble > MF_SIZE_MAX) {
            char detail[64];
            snprintf(detail, sizeof detail, " (each from 1 to %d)", MF_SIZE_MAX);
            return mf_bad(p, "'%s' must be a whole number or a pair [h, w]%s", key, detail);
        }
        *a = x->valueint;
        *b = y->valueint;
        return MOECL_OK;
    }
    MOECL_TRY(mf_get_size(p, obj, key, def, 1, a));
    *b = *a;
    return MOECL_OK;
}

moecl_status mf_get_float(const parse_ctx *p, const cJSON *obj, const char *key, float def,
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
        return mf_bad(p, "'%s' must be a number%s", key, detail);
    }
    *out = (float)v->valuedouble;
    return MOECL_OK;
}

moecl_status mf_get_bool(const parse_ctx *p, const cJSON *obj, const char *key, bool def,
                         bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return MOECL_OK;
    }
    if (!cJSON_IsBool(v)) return mf_bad(p, "'%s' must be true or false%s", key, "");
    *out = cJSON_IsTrue(v);
    return MOECL_OK;
}

moecl_status mf_get_string(const parse_ctx *p, const cJSON *obj, const char *key,
                           const char *def, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return MOECL_OK;
    }
    if (!cJSON_IsString(v)) return mf_bad(p, "'%s' must be a string%s", key, "");
    *out = v->valuestring;
    return MOECL_OK;
}

moecl_status mf_get_text(const parse_ctx *p, const cJSON *obj, const char *key, const char *def,
                         size_t size, const char **out)
{
    MOECL_TRY(mf_get_string(p, obj, key, def, out));
    if (*out && strlen(*out) >= size) {
        char limit[32];
        snprintf(limit, sizeof limit, "%d", (int)size - 1);
        return mf_bad(p, "'%s' is longer than %s characters", key, limit);
    }
    return MOECL_OK;
}

/* Every key of obj must be in the allowed list: typos are errors. */
moecl_status mf_check_keys(const parse_ctx *p, const cJSON *obj, const char *const *allowed)
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
            return mf_bad(p, "unknown field '%s' (known: %s)", k->string, list);
        }
    }
    return MOECL_OK;
}
