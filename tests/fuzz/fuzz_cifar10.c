/* CIFAR-10 binary batches (3,073-byte records: label, then 3x32x32 bytes),
 * read whole and with a limit; the reader appends to a data set, which is
 * the caller's to free whatever the outcome. */
#include "data.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("data_batch_1.bin", data, size);
    dataset d = {0};
    cifar10_read_file(path, &d, 0);
    cifar10_read_file(path, &d, 1);
    dataset_free(&d);
    return 0;
}
