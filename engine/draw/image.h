/* RGB pictures in memory and the drawing the pictures need: filled and
 * framed rectangles, thick lines, text in the built-in bitmap font, CIFAR
 * images scaled up by whole factors, and PNG files in and out (libpng). */
#ifndef MOECL_IMAGE_H
#define MOECL_IMAGE_H

#include "moecl.h"

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

typedef struct image {
    int w, h;
    uint8_t *px; /* [h][w][3] */
} image;

moecl_status image_create(image *img, int w, int h, rgb fill);
void image_free(image *img);
rgb image_get(const image *img, int x, int y);
void image_set(image *img, int x, int y, rgb c); /* clipped */
void image_fill(image *img, int x, int y, int w, int h, rgb c);
/* A frame of thickness t drawn inside the rectangle. */
void image_frame(image *img, int x, int y, int w, int h, int t, rgb c);
/* A line of width t (a square brush). */
void image_line(image *img, int x0, int y0, int x1, int y1, int t, rgb c);
/* One CIFAR image (planes [3][32][32]) at (x, y), each pixel a scale x scale block. */
void image_blit_cifar(image *img, const uint8_t *planes, int x, int y, int scale);

/* Text in the built-in 6x10 font, each font pixel a scale x scale block;
 * (x, y) is the top left of the first character cell. */
void draw_text(image *img, int x, int y, const char *s, rgb c, int scale);
int text_width(const char *s, int scale);
int text_height(int scale);
/* Text with its right edge, or its centre, at x. */
void draw_text_right(image *img, int x, int y, const char *s, rgb c, int scale);
void draw_text_centred(image *img, int x, int y, const char *s, rgb c, int scale);
/* Text rotated 90 degrees anticlockwise (for a y axis), its centre at (x, y). */
void draw_text_vertical(image *img, int x, int y, const char *s, rgb c, int scale);

/* Writes an 8-bit RGB PNG through a temporary file and a rename. */
moecl_status png_write(const char *path, const image *img);
/* Reads any PNG (grey, grey+alpha, palette, RGB, RGBA; 1 to 16 bits) as
 * 8-bit RGB, transparent pixels blended onto white. Not a PNG, or a
 * damaged one, is an error naming the file. */
moecl_status png_read(const char *path, image *img);

/* Scales to w x h: an area average when shrinking, bilinear when growing. */
moecl_status image_resize(const image *src, int w, int h, image *dst);

#endif
