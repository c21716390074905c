/* Model files (JSON): the parser and every check behind it. */
#include "fuzz.h"
#include "model.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = fuzz_text(data, size);
    model *m = NULL;
    if (model_parse(json, "fuzz.json", &m) == MOECL_OK) model_free(m);
    free(json);
    return 0;
}
