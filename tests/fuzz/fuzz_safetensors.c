/* safetensors files (checkpoints and training states): the header, its
 * metadata and the entries' dtypes, shapes and offsets, checked as a strict
 * and a matching load check them (safetensors_check: no device, so the
 * tensors are shapes only). */
#include "checkpoint.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("fuzz.safetensors", data, size);
    const char *keys[] = {"format", "model", "normalizer", "epoch", "state"};
    for (int i = 0; i < 5; i++) {
        char *value = NULL;
        if (safetensors_meta(path, keys[i], &value) == MOECL_OK) free(value);
    }
    /* the seed checkpoint's two tensors, and one it lacks */
    moecl_tensor kernel = {.ndim = 2, .shape = {2, 3}, .count = 6};
    moecl_tensor bias = {.ndim = 1, .shape = {3}, .count = 3};
    moecl_tensor other = {.ndim = 1, .shape = {4}, .count = 4};
    st_tensor list[3];
    memset(list, 0, sizeof list);
    strcpy(list[0].name, "a.kernel"), list[0].tensor = &kernel;
    strcpy(list[1].name, "a.bias"), list[1].tensor = &bias;
    strcpy(list[2].name, "b.kernel"), list[2].tensor = &other;
    safetensors_check(path, list, 2, true);
    safetensors_check(path, list, 3, false);
    return 0;
}
