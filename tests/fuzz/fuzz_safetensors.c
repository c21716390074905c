/* safetensors files (checkpoints and training states): the header, its
 * metadata and the entries' dtypes, shapes and offsets. */
#include "checkpoint.h"
#include "fuzz.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("fuzz.safetensors", data, size);
    const char *keys[] = {"format", "model", "normalizer", "epoch", "state"};
    for (int i = 0; i < 5; i++) {
        char *value = NULL;
        if (safetensors_meta(path, keys[i], &value) == MOECL_OK) free(value);
    }
    return 0;
}
