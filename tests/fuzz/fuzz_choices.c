/* The measured choices file (choices-KEY.txt): its entries after a header
 * that matches the device, or the whole file as it comes (first byte). */
#include "fuzz.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    moecl_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) abort();
    snprintf(ctx->device.name, sizeof ctx->device.name, "fuzz device");
    snprintf(ctx->choices.path, sizeof ctx->choices.path, "%s/choices.txt", fuzz_dir());
    FILE *f = fopen(ctx->choices.path, "wb");
    if (!f) abort();
    if (data[0] & 1) {
        char line[600];
        moecl_choices_device_line(&ctx->device, line, sizeof line);
        fprintf(f, "moecl-choices-2\n%s\n", line);
    }
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    moecl_choices_load(ctx);
    moecl_choices_release(ctx);
    free(ctx);
    return 0;
}
