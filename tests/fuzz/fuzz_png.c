/* PNG files (predict's images). */
#include "draw/image.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("fuzz.png", data, size);
    image img;
    if (png_read(path, &img) == MOECL_OK) image_free(&img);
    return 0;
}
