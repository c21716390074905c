/* metrics.jsonl (curves, report). */
#include "fuzz.h"
#include "metrics.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("metrics.jsonl", data, size);
    metrics_stage *stages = NULL;
    int n = 0;
    if (metrics_read(path, &stages, &n) == MOECL_OK) {
        for (int i = 0; i < n; i++) {
            metrics_best(&stages[i]);
            metrics_seconds(&stages[i]);
        }
        free(stages);
    }
    return 0;
}
