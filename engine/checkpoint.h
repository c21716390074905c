/* Checkpoints in the safetensors format: an 8-byte little-endian header
 * length, a JSON header (each tensor's dtype F32, shape and data offsets,
 * plus "__metadata__" strings), then the raw little-endian data. PyTorch
 * (safetensors.torch.load_file) and NumPy users can read the weights. */
#ifndef MOECL_CHECKPOINT_H
#define MOECL_CHECKPOINT_H

#include "moecl.h"

typedef struct st_tensor {
    char name[192];
    moecl_tensor *tensor;
} st_tensor;

typedef struct st_meta {
    const char *key;
    const char *value;
} st_meta;

/* Writes the tensors and metadata through a temporary file and a rename. */
moecl_status safetensors_save(const char *path, const st_tensor *tensors, int count,
                              const st_meta *meta, int meta_count);

/* Reads every listed tensor, which must be in the file with the same shape;
 * a file with tensors the list lacks is a mismatch too. A corrupt,
 * truncated or mismatched file is a clear error naming the file. */
moecl_status safetensors_load(const char *path, const st_tensor *tensors, int count);

/* Reads the listed tensors that the file holds with the same shape, and
 * says which in loaded[i]; the others, and tensors of the file the list
 * lacks, are left alone. A corrupt or truncated file is still an error. */
moecl_status safetensors_load_matching(const char *path, const st_tensor *tensors, int count,
                                       bool *loaded);

/* The checks of a load (safetensors_load when strict, else
 * safetensors_load_matching) without reading tensor data or touching a
 * device: the tensors' shapes are all it looks at (for the fuzzer). */
moecl_status safetensors_check(const char *path, const st_tensor *tensors, int count, bool strict);

/* Reads one metadata string ("" when absent) from a file's header; the
 * caller frees *value. */
moecl_status safetensors_meta(const char *path, const char *key, char **value);

#endif
