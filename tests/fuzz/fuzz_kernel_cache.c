/* Kernel cache files: header (magic, version, key, length, SHA-256) and
 * payload. The first byte of the input chooses whether the rest is the
 * whole file or follows a header that matches the key (so that the
 * fuzzer also reaches the length and digest checks). */
#include "fuzz.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const char key[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char path[1200];
    moecl_cache_path(fuzz_dir(), key, path, sizeof path);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (data[0] & 1) { /* a header of the right magic, version and key */
        unsigned char header[16] = {'M', 'O', 'E', 'C', 'L', 'P', 'C', 0};
        for (int i = 0; i < 4; i++) header[8 + i] = (unsigned char)(MOECL_CACHE_FORMAT_VERSION >> (8 * i));
        fwrite(header, 1, sizeof header, f);
        fwrite(key, 1, 64, f);
    }
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    unsigned char *binary = NULL;
    size_t n = 0;
    bool corrupt = false;
    if (moecl_cache_load(fuzz_dir(), key, &binary, &n, &corrupt)) free(binary);
    return 0;
}
