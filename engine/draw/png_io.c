/* PNG files through libpng, from and to memory buffers: the file is read
 * whole (so a short file is an error, not a hang) and written whole
 * through moecl_write_file_atomic. libpng reports errors by longjmp. */
#include "image.h"
#include "internal.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define PNG_MAX_SIDE 30000 /* larger is surely not a photo for a 32x32 network */

typedef struct mem_stream {
    uint8_t *data;
    size_t size, pos, cap;
    char message[256];
} mem_stream;

static void on_error(png_structp png, png_const_charp msg)
{
    mem_stream *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void read_mem(png_structp png, png_bytep out, size_t n)
{
    mem_stream *s = png_get_io_ptr(png);
    if (n > s->size - s->pos) png_error(png, "the file ends early (truncated)");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void write_mem(png_structp png, png_bytep in, size_t n)
{
    mem_stream *s = png_get_io_ptr(png);
    if (s->pos + n > s->cap) {
        size_t cap = s->cap ? s->cap : 1 << 16;
        while (cap < s->pos + n) cap *= 2;
        uint8_t *grown = realloc(s->data, cap);
        if (!grown) png_error(png, "out of memory");
        s->data = grown, s->cap = cap;
    }
    memcpy(s->data + s->pos, in, n);
    s->pos += n;
}

static void flush_mem(png_structp png) { (void)png; }

moecl_status png_write(const char *path, const image *img)
{
    mem_stream s = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *rows = malloc((size_t)img->h * sizeof *rows);
    if (!png || !info || !rows) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        free(s.data);
        return moecl_fail(MOECL_ERR_IO, "%s: cannot encode the PNG: %s", path, s.message);
    }
    png_set_write_fn(png, &s, write_mem, flush_mem);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_text text = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Software", .text = "moecl"};
    png_set_text(png, info, &text, 1);
    for (int y = 0; y < img->h; y++) rows[y] = img->px + (size_t)y * img->w * 3;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    const void *parts[1] = {s.data};
    size_t sizes[1] = {s.pos};
    moecl_status st = moecl_write_file_atomic(path, parts, sizes, 1);
    free(s.data);
    return st;
}

moecl_status png_read(const char *path, image *img)
{
    memset(img, 0, sizeof *img);
    char *data = NULL;
    size_t size = 0;
    MOECL_TRY(moecl_read_file(path, &data, &size));
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        free(data);
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: not a PNG file (its first bytes are not the "
                          "PNG signature); convert it to PNG first", path);
    }
    mem_stream s = {.data = (uint8_t *)data, .size = size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *volatile rows = NULL;
    uint8_t *volatile rgba = NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        free(data);
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows), free(rgba), free(data);
        image_free(img);
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: damaged PNG file: %s", path, s.message);
    }
    png_set_read_fn(png, &s, read_mem);
    png_set_user_limits(png, PNG_MAX_SIDE, PNG_MAX_SIDE);
    png_read_info(png, info);
    int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    int type = png_get_color_type(png, info);
    /* everything becomes 8-bit RGBA */
    png_set_expand(png); /* palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha */
    png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (!(type & PNG_COLOR_MASK_ALPHA) && !png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_filler(png, 0xFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 4 || png_get_bit_depth(png, info) != 8)
        png_error(png, "unsupported pixel format");
    rgba = malloc((size_t)w * h * 4);
    rows = malloc((size_t)h * sizeof *rows);
    if (!rgba || !rows) png_error(png, "out of memory");
    for (int y = 0; y < h; y++) rows[y] = rgba + (size_t)y * w * 4;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    if (image_create(img, w, h, (rgb){255, 255, 255}) != MOECL_OK) png_error(png, "out of memory");
    for (size_t i = 0; i < (size_t)w * h; i++) { /* blend onto white */
        unsigned a = rgba[4 * i + 3];
        for (int c = 0; c < 3; c++)
            img->px[3 * i + c] = (uint8_t)((rgba[4 * i + c] * a + 255 * (255 - a) + 127) / 255);
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(rows), free(rgba), free(data);
    return MOECL_OK;
}
