/* safetensors reading and writing (see checkpoint.h). */
#include "checkpoint.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest header we accept: a guard against a corrupt length. */
#define MAX_HEADER (64u << 20)

moecl_status safetensors_save(const char *path, const st_tensor *tensors, int count,
                              const st_meta *meta, int meta_count)
{
    cJSON *root = cJSON_CreateObject();
    if (meta_count > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < meta_count; i++) cJSON_AddStringToObject(m, meta[i].key, meta[i].value);
    }
    size_t offset = 0;
    for (int i = 0; i < count; i++) {
        const moecl_tensor *t = tensors[i].tensor;
        cJSON *e = cJSON_AddObjectToObject(root, tensors[i].name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->shape[d]));
        cJSON *off = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)offset));
        offset += t->count * sizeof(float);
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)offset));
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory writing '%s'", path);
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
    char *header = malloc(padded);
    float *data = malloc(offset ? offset : 1);
    moecl_status st = MOECL_OK;
    if (!header || !data) st = moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory writing '%s'", path);
    if (st == MOECL_OK) {
        memcpy(header, json, hlen);
        memset(header + hlen, ' ', padded - hlen); /* the format pads with spaces */
        size_t at = 0;
        for (int i = 0; i < count && st == MOECL_OK; i++) {
            st = moecl_tensor_download(tensors[i].tensor, data + at, tensors[i].tensor->count);
            at += tensors[i].tensor->count;
        }
    }
    if (st == MOECL_OK) {
        unsigned char len[8];
        for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)padded >> (8 * i));
        const void *parts[3] = {len, header, data};
        size_t sizes[3] = {8, padded, offset};
        st = moecl_write_file_atomic(path, parts, sizes, 3);
    }
    free(json);
    free(header);
    free(data);
    return st;
}

/* Reads and checks the header; *root is the parsed JSON, *data_start the
 * offset of the data, *data_size its length. */
static moecl_status read_header(const char *path, char **file, size_t *size, cJSON **root,
                                size_t *data_start)
{
    MOECL_TRY(moecl_read_file(path, file, size));
    if (*size < 8) {
        free(*file);
        return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' is truncated (%zu bytes)", path, *size);
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)(unsigned char)(*file)[i] << (8 * i);
    if (hlen > MAX_HEADER || hlen + 8 > *size) {
        free(*file);
        return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' is corrupt or truncated: its header "
                          "claims %llu bytes in a file of %zu", path, (unsigned long long)hlen, *size);
    }
    *root = cJSON_ParseWithLength(*file + 8, (size_t)hlen);
    if (!*root || !cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        free(*file);
        return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' has a corrupt header (not a JSON "
                          "object): not a safetensors file?", path);
    }
    *data_start = 8 + (size_t)hlen;
    return MOECL_OK;
}

/* Whether the file's entry e holds a tensor of t's shape (F32). */
static moecl_status entry_matches(const char *path, cJSON *e, const char *name,
                                  const moecl_tensor *t, bool *same_shape)
{
    cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "F32") != 0)
        return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s': tensor '%s' is not F32", path, name);
    *same_shape = cJSON_IsArray(shape) && cJSON_GetArraySize(shape) == t->ndim;
    for (int d = 0; *same_shape && d < t->ndim; d++) {
        cJSON *s = cJSON_GetArrayItem(shape, d);
        *same_shape = cJSON_IsNumber(s) && s->valuedouble == t->shape[d];
    }
    return MOECL_OK;
}

/* Where the file's entry e (already checked to match t) lies: a byte offset
 * from the file's start, checked to lie inside the file. */
static moecl_status entry_offset(const char *path, size_t size, size_t start, cJSON *e,
                                 const char *name, const moecl_tensor *t, size_t *at)
{
    size_t data_size = size - start;
    cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s': tensor '%s' has no data_offsets",
                          path, name);
    double b = cJSON_GetArrayItem(off, 0)->valuedouble, end = cJSON_GetArrayItem(off, 1)->valuedouble;
    if (b < 0 || end < b || end > (double)data_size || end - b != (double)(t->count * sizeof(float)))
        return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' is corrupt or truncated: tensor "
                          "'%s' lies outside the file's %zu data bytes", path, name, data_size);
    *at = start + (size_t)b;
    return MOECL_OK;
}

/* Checks the listed tensors against the file, as a load does, and says
 * where each lies (offsets[i], or SIZE_MAX where a non-strict load skips
 * it). strict: every listed tensor must be in the file, with its shape, and
 * the file must hold no others; otherwise the tensors found with their
 * shape are taken. Reads no tensor data and touches no device. */
static moecl_status plan_entries(const char *path, size_t size, cJSON *root, size_t start,
                                 const st_tensor *tensors, int count, bool strict, size_t *offsets)
{
    int in_file = 0;
    for (cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) in_file++;
    for (int i = 0; i < count; i++) {
        const char *name = tensors[i].name;
        const moecl_tensor *t = tensors[i].tensor;
        offsets[i] = SIZE_MAX;
        cJSON *e = cJSON_GetObjectItemCaseSensitive(root, name);
        if (!e && !strict) continue;
        if (!e)
            return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' does not match the model: it has "
                              "no tensor '%s'", path, name);
        bool same_shape = false;
        MOECL_TRY(entry_matches(path, e, name, t, &same_shape));
        if (!same_shape && !strict) continue;
        if (!same_shape) {
            char want[64];
            moecl_tensor_shape_string(t, want, sizeof want);
            return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' does not match the model: tensor "
                              "'%s' has another shape than the model's %s", path, name, want);
        }
        MOECL_TRY(entry_offset(path, size, start, e, name, t, &offsets[i]));
    }
    if (strict && in_file != count)
        return moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' does not match the model: it holds %d "
                          "tensors, the model %d", path, in_file, count);
    return MOECL_OK;
}

/* Plans, then uploads each tensor found (loaded[i] says which, if given). */
static moecl_status load_entries(const char *path, const char *file, size_t size, cJSON *root,
                                 size_t start, const st_tensor *tensors, int count, bool strict,
                                 bool *loaded)
{
    size_t *offsets = malloc((size_t)(count > 0 ? count : 1) * sizeof *offsets);
    if (!offsets) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
    moecl_status st = plan_entries(path, size, root, start, tensors, count, strict, offsets);
    for (int i = 0; i < count && st == MOECL_OK; i++) {
        if (loaded) loaded[i] = offsets[i] != SIZE_MAX;
        if (offsets[i] == SIZE_MAX) continue;
        moecl_tensor *t = tensors[i].tensor;
        float *host = malloc(t->count * sizeof *host);
        if (!host) {
            st = moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
            break;
        }
        memcpy(host, file + offsets[i], t->count * sizeof *host);
        st = moecl_tensor_upload(t, host, t->count);
        free(host);
    }
    free(offsets);
    return st;
}

moecl_status safetensors_check(const char *path, const st_tensor *tensors, int count, bool strict)
{
    char *file = NULL;
    size_t size = 0, start = 0;
    cJSON *root = NULL;
    MOECL_TRY(read_header(path, &file, &size, &root, &start));
    size_t *offsets = malloc((size_t)(count > 0 ? count : 1) * sizeof *offsets);
    moecl_status st = offsets ? plan_entries(path, size, root, start, tensors, count, strict, offsets)
                              : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
    free(offsets);
    cJSON_Delete(root);
    free(file);
    return st;
}

moecl_status safetensors_load(const char *path, const st_tensor *tensors, int count)
{
    char *file = NULL;
    size_t size = 0, start = 0;
    cJSON *root = NULL;
    MOECL_TRY(read_header(path, &file, &size, &root, &start));
    moecl_status st = load_entries(path, file, size, root, start, tensors, count, true, NULL);
    cJSON_Delete(root);
    free(file);
    return st;
}

moecl_status safetensors_load_matching(const char *path, const st_tensor *tensors, int count,
                                       bool *loaded)
{
    char *file = NULL;
    size_t size = 0, start = 0;
    cJSON *root = NULL;
    MOECL_TRY(read_header(path, &file, &size, &root, &start));
    moecl_status st = load_entries(path, file, size, root, start, tensors, count, false, loaded);
    cJSON_Delete(root);
    free(file);
    return st;
}

moecl_status safetensors_meta(const char *path, const char *key, char **value)
{
    *value = NULL;
    char *file = NULL;
    size_t size = 0, start = 0;
    cJSON *root = NULL;
    MOECL_TRY(read_header(path, &file, &size, &root, &start));
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    cJSON *v = meta ? cJSON_GetObjectItemCaseSensitive(meta, key) : NULL;
    *value = strdup(cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(root);
    free(file);
    return *value ? MOECL_OK : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
}
