/* GEMM tuning files (gemm-tuning-KEY.json), and the tuner's own output
 * that 'moecl tune' reads. */
#include "fuzz.h"
#include "tuning.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("gemm-tuning.json", data, size);
    moecl_device_info dev;
    memset(&dev, 0, sizeof dev);
    snprintf(dev.name, sizeof dev.name, "fuzz device");
    moecl_tuning t;
    moecl_tuning_load(path, &dev, &t);
    moecl_tuning_from_tuner(path, &t);
    return 0;
}
