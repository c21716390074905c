/* Pixels, rectangles and lines. */
#include "image.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

moecl_status image_create(image *img, int w, int h, rgb fill)
{
    img->w = w, img->h = h;
    img->px = malloc((size_t)w * h * 3);
    if (!img->px) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory for a %dx%d picture", w, h);
    image_fill(img, 0, 0, w, h, fill);
    return MOECL_OK;
}

void image_free(image *img)
{
    free(img->px);
    img->px = NULL;
    img->w = img->h = 0;
}

rgb image_get(const image *img, int x, int y)
{
    const uint8_t *p = img->px + ((size_t)y * img->w + x) * 3;
    return (rgb){p[0], p[1], p[2]};
}

void image_set(image *img, int x, int y, rgb c)
{
    if (x < 0 || y < 0 || x >= img->w || y >= img->h) return;
    uint8_t *p = img->px + ((size_t)y * img->w + x) * 3;
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

void image_fill(image *img, int x, int y, int w, int h, rgb c)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > img->w ? img->w : x + w, y1 = y + h > img->h ? img->h : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) {
            uint8_t *p = img->px + ((size_t)yy * img->w + xx) * 3;
            p[0] = c.r, p[1] = c.g, p[2] = c.b;
        }
}

void image_frame(image *img, int x, int y, int w, int h, int t, rgb c)
{
    image_fill(img, x, y, w, t, c);
    image_fill(img, x, y + h - t, w, t, c);
    image_fill(img, x, y, t, h, c);
    image_fill(img, x + w - t, y, t, h, c);
}

void image_line(image *img, int x0, int y0, int x1, int y1, int t, rgb c)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy, half = (t - 1) / 2;
    for (;;) { /* Bresenham, stamping a t x t square at each step */
        image_fill(img, x0 - half, y0 - half, t, t, c);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

void image_blit_cifar(image *img, const uint8_t *planes, int x, int y, int scale)
{
    for (int r = 0; r < 32; r++)
        for (int q = 0; q < 32; q++) {
            int i = r * 32 + q;
            rgb c = {planes[i], planes[1024 + i], planes[2048 + i]};
            image_fill(img, x + q * scale, y + r * scale, scale, scale, c);
        }
}
