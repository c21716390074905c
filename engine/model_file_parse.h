/* Inside the model-file parser (model_file*.c): the parse state, whose
 * `where` every error message names, and the typed JSON getters. A getter
 * gives the default when the key is absent (or an error where there is
 * none), and an error naming the file, the place and the key when the value
 * has the wrong type or range. */
#ifndef MOECL_MODEL_FILE_PARSE_H
#define MOECL_MODEL_FILE_PARSE_H

#include "internal.h"
#include "model.h"

#include <cjson/cJSON.h>

typedef struct parse_ctx {
    const char *origin; /* file name for messages */
    char where[192];    /* "part gate, layer 3 (conv2d)" */
} parse_ctx;

/* An error: fmt takes two strings (field, detail), after the file and place. */
moecl_status mf_bad(const parse_ctx *p, const char *fmt, const char *field, const char *detail);
/* Whole numbers: counts (epochs, patience, k) up to MF_COUNT_MAX, sizes
 * (filters, units, experts, windows, strides) up to MF_SIZE_MAX, and the
 * message says which limit a value broke. */
#define MF_COUNT_MAX 100000000
#define MF_SIZE_MAX 65536
moecl_status mf_get_int_range(const parse_ctx *p, const cJSON *obj, const char *key, int def,
                              int min, int max, int *out);
moecl_status mf_get_int(const parse_ctx *p, const cJSON *obj, const char *key, int def, int min,
                        int *out);
moecl_status mf_get_size(const parse_ctx *p, const cJSON *obj, const char *key, int def, int min,
                         int *out);
moecl_status mf_get_pair(const parse_ctx *p, const cJSON *obj, const char *key, int def, int *a,
                         int *b);
moecl_status mf_get_float(const parse_ctx *p, const cJSON *obj, const char *key, float def,
                          float lo, float hi, float *out);
moecl_status mf_get_bool(const parse_ctx *p, const cJSON *obj, const char *key, bool def,
                         bool *out);
moecl_status mf_get_string(const parse_ctx *p, const cJSON *obj, const char *key, const char *def,
                           const char **out);
/* The same for a string kept in a field of `size` bytes: a longer one is an
 * error, not cut (names become checkpoint keys: two cut names could clash). */
moecl_status mf_get_text(const parse_ctx *p, const cJSON *obj, const char *key, const char *def,
                         size_t size, const char **out);
moecl_status mf_check_keys(const parse_ctx *p, const cJSON *obj, const char *const *allowed);

/* model_file_layers.c: the layers of one part, which takes `input`; every
 * layer must fit what reaches it, and the last must give `units` outputs
 * (dense or dense_moe; units 0: any layer, any shape). *output (may be
 * NULL): the part's output shape. */
moecl_status mf_parse_layers(network *net, parse_ctx *p, const cJSON *layers, shape3 input,
                             int units, const char *what, shape3 *output);

#endif
