/* result.json (report). */
#include "fuzz.h"
#include "run_result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write("result.json", data, size);
    run_result r;
    run_result_read(fuzz_dir(), &r);
    return 0;
}
