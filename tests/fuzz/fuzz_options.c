/* options.json (train --resume). */
#include "fuzz.h"
#include "train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("options.json", data, size);
    train_options o;
    train_options_defaults(&o);
    train_options_load(&o, path);
    return 0;
}
