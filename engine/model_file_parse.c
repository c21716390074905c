/* The model-file parser's typed JSON getters (see model_file_parse.h). */
#include "model_file_parse.h"

#include <stdlib.h>
#include <string.h>


moecl_status mf_bad(const parse_ctx *p, const char *fmt, const char *field, const char *detail)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, field, detail);
    return moecl_fail(MOECL_ERR_FORMAT, "model file '%s': %s%s%s", p->origin, p->where,
                      p->where[0] ? ": " : "", msg);
}

moecl_status mf_get_int(const parse_ctx *p, const cJSON *obj, const char *key, int def,
                        int min, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (def < min) return mf_bad(p, "'%s' is required%s", key, "");
        *out = def;
        return MOECL_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble ||
        v->valuedouble < min || v->valuedouble > 1e8) {
        char detail[48];
        snprintf(detail, sizeof detail, " (a whole number >= %d)", min);
        return mf_bad(p, "'%s' must be a whole number%s", key, detail);
    }
    *out = v->valueint;
    return MOECL_OK;
}

/* An int or a pair [h, w]. */
moecl_status mf_get_pair(const parse_ctx *p, const cJSON *obj, const char *key, int def,
                         int *a, int *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v && cJSON_IsArray(v)) {
        const cJSON *x = cJSON_GetArrayItem(v, 0), *y = cJSON_GetArrayItem(v, 1);
        if (cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(x) || !cJSON_IsNumber(y) ||
            x->valueint < 1 || y->valueint < 1)
            return mf_bad(p, "'%s' must be a positive number or a pair [h, w]%s", key, "");
        *a = x->valueint;
        *b = y->valueint;
        return MOECL_OK;
    }
    MOECL_TRY(mf_get_int(p, obj, key, def, 1, a));
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
