/* Tuned CLBlast GEMM parameters: the tuner's JSON in, a small JSON file of
 * our own per device out, CLBlastOverrideParameters to apply. */
#include "tuning.h"
#include "internal.h"

#include <clblast_c.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUNING_FORMAT "moecl-gemm-tuning-1"

void moecl_device_key(const moecl_device_info *dev, char hex[65])
{
    moecl_sha256 s;
    unsigned char digest[32];
    moecl_sha256_init(&s);
    const char *parts[3] = {dev->name, dev->driver_version, dev->platform_version};
    for (int i = 0; i < 3; i++) moecl_sha256_update(&s, parts[i], strlen(parts[i]) + 1);
    moecl_sha256_final(&s, digest);
    moecl_sha256_hex(digest, hex);
}

const char *const moecl_tuned_kernels[MOECL_TUNED_KERNELS] = {"Xgemm", "XgemmDirect"};

void moecl_tuning_path(const char *cache_dir, const moecl_device_info *dev, const char *kernel,
                       char *out, size_t size)
{
    char hex[65];
    moecl_device_key(dev, hex);
    snprintf(out, size, "%s/gemm-%stuning-%.16s.json", cache_dir,
             strcmp(kernel, "XgemmDirect") == 0 ? "direct-" : "", hex);
}

/* Parses "GEMMK=0 KREG=1 ..." (PRECISION is not a kernel parameter). */
static bool parse_pairs(const char *text, moecl_tuning *t)
{
    t->count = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        char name[16];
        unsigned long value;
        int used = 0;
        if (sscanf(p, "%15[A-Z_0-9]=%lu%n", name, &value, &used) != 2 || used == 0) return false;
        p += used;
        if (strcmp(name, "PRECISION") == 0) continue;
        if (t->count == MOECL_TUNING_MAX_PARAMS) return false;
        snprintf(t->names[t->count], sizeof t->names[0], "%s", name);
        t->values[t->count++] = value;
    }
    return t->count > 0;
}

void moecl_tuning_describe(const moecl_tuning *t, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < t->count && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s=%zu", i ? " " : "", t->names[i], t->values[i]);
}

/* The JSON in a file; a file that reads but does not parse gives NULL. */
static moecl_status read_json(const char *path, cJSON **root)
{
    char *text = NULL;
    size_t size = 0;
    MOECL_TRY(moecl_read_file(path, &text, &size));
    *root = cJSON_Parse(text);
    free(text);
    return MOECL_OK;
}

static const char *json_string(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

moecl_status moecl_tuning_from_tuner(const char *path, moecl_tuning *t)
{
    memset(t, 0, sizeof *t);
    cJSON *root = NULL;
    MOECL_TRY(read_json(path, &root));
    const char *kernel = root ? json_string(root, "best_kernel") : NULL;
    const char *params = root ? json_string(root, "best_parameters") : NULL;
    const char *ms = root ? json_string(root, "best_time") : NULL;
    moecl_status st = MOECL_OK;
    if (!kernel || !params || !ms || !parse_pairs(params, t))
        st = moecl_fail(MOECL_ERR_FORMAT, "%s: not a CLBlast tuner result (no best_kernel, "
                        "best_parameters and best_time)", path);
    if (st == MOECL_OK) {
        /* the direct tuner names the variant it timed (XgemmDirectTN...);
         * CLBlast takes parameters for the family */
        snprintf(t->kernel, sizeof t->kernel, "%s",
                 strncmp(kernel, "XgemmDirect", 11) == 0 ? "XgemmDirect" : kernel);
        t->tuner_ms = atof(ms);
        const char *m = json_string(root, "arg_m"), *n = json_string(root, "arg_n"), *k = json_string(root, "arg_k");
        t->m = m ? atoi(m) : 0, t->n = n ? atoi(n) : 0, t->k = k ? atoi(k) : 0;
    }
    cJSON_Delete(root);
    return st;
}

moecl_status moecl_tuning_save(const char *path, const moecl_device_info *dev, const moecl_tuning *t)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", TUNING_FORMAT);
    cJSON_AddStringToObject(root, "device", dev->name);
    cJSON_AddStringToObject(root, "driver_version", dev->driver_version);
    cJSON_AddStringToObject(root, "platform_version", dev->platform_version);
    cJSON_AddStringToObject(root, "kernel", t->kernel);
    cJSON *p = cJSON_AddObjectToObject(root, "parameters");
    for (int i = 0; i < t->count; i++) cJSON_AddNumberToObject(p, t->names[i], (double)t->values[i]);
    cJSON_AddNumberToObject(root, "tuner_ms", t->tuner_ms);
    cJSON *sizes = cJSON_AddArrayToObject(root, "tuned_at_mnk");
    cJSON_AddItemToArray(sizes, cJSON_CreateNumber(t->m));
    cJSON_AddItemToArray(sizes, cJSON_CreateNumber(t->n));
    cJSON_AddItemToArray(sizes, cJSON_CreateNumber(t->k));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    const void *parts[2] = {text, "\n"};
    size_t sizes_[2] = {strlen(text), 1};
    moecl_status st = moecl_write_file_atomic(path, parts, sizes_, 2);
    free(text);
    return st;
}

moecl_status moecl_tuning_load(const char *path, const moecl_device_info *dev, moecl_tuning *t)
{
    memset(t, 0, sizeof *t);
    cJSON *root = NULL;
    MOECL_TRY(read_json(path, &root));
    moecl_status st = MOECL_OK;
    const char *format = root ? json_string(root, "format") : NULL;
    const char *device = root ? json_string(root, "device") : NULL;
    const char *kernel = root ? json_string(root, "kernel") : NULL;
    const cJSON *params = root ? cJSON_GetObjectItemCaseSensitive(root, "parameters") : NULL;
    if (!root || !format || strcmp(format, TUNING_FORMAT) != 0)
        st = moecl_fail(MOECL_ERR_FORMAT, "%s: not a moecl GEMM tuning file (%s)", path,
                        root ? "no \"format\": \"" TUNING_FORMAT "\"" : "malformed JSON");
    else if (!device || strcmp(device, dev->name) != 0)
        st = moecl_fail(MOECL_ERR_FORMAT, "%s: tuned for device '%s', not '%s'", path,
                        device ? device : "?", dev->name);
    else if (!kernel || (strcmp(kernel, "Xgemm") != 0 && strcmp(kernel, "XgemmDirect") != 0))
        st = moecl_fail(MOECL_ERR_FORMAT, "%s: \"kernel\" must be Xgemm or XgemmDirect", path);
    else if (!cJSON_IsObject(params) || !params->child)
        st = moecl_fail(MOECL_ERR_FORMAT, "%s: no \"parameters\"", path);
    if (st == MOECL_OK) {
        snprintf(t->kernel, sizeof t->kernel, "%s", kernel);
        for (const cJSON *p = params->child; p && st == MOECL_OK; p = p->next) {
            if (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble > 1e6 ||
                p->valuedouble != (double)(size_t)p->valuedouble || strlen(p->string) >= sizeof t->names[0])
                st = moecl_fail(MOECL_ERR_FORMAT, "%s: parameter '%s' is not a small whole number", path, p->string);
            else if (t->count == MOECL_TUNING_MAX_PARAMS)
                st = moecl_fail(MOECL_ERR_FORMAT, "%s: too many parameters", path);
            else {
                snprintf(t->names[t->count], sizeof t->names[0], "%s", p->string);
                t->values[t->count++] = (size_t)p->valuedouble;
            }
        }
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "tuner_ms");
        t->tuner_ms = cJSON_IsNumber(ms) ? ms->valuedouble : 0;
        const cJSON *mnk = cJSON_GetObjectItemCaseSensitive(root, "tuned_at_mnk");
        if (cJSON_GetArraySize(mnk) == 3) {
            t->m = cJSON_GetArrayItem(mnk, 0)->valueint;
            t->n = cJSON_GetArrayItem(mnk, 1)->valueint;
            t->k = cJSON_GetArrayItem(mnk, 2)->valueint;
        }
    }
    cJSON_Delete(root);
    return st;
}

moecl_status moecl_tuning_apply(const moecl_ctx *ctx, const moecl_tuning *t)
{
    const char *names[MOECL_TUNING_MAX_PARAMS];
    for (int i = 0; i < t->count; i++) names[i] = t->names[i];
    CLBlastStatusCode code = CLBlastOverrideParameters(ctx->device.id, t->kernel, CLBlastPrecisionSingle,
                                                       (size_t)t->count, names, t->values);
    if (code != CLBlastSuccess)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "CLBlast refused the %s parameters: %s (%d) on "
                          "device '%s'", t->kernel, moecl_clblast_status_name(code), (int)code,
                          ctx->device.name);
    return MOECL_OK;
}
