/* Scaling photos to the network's 32x32: shrinking averages every source
 * pixel a target pixel covers (no aliasing), growing interpolates. */
#include "image.h"

#include <math.h>

/* The weighted mean of the source over [x0,x1) x [y0,y1) (source pixels). */
static void area_mean(const image *s, double x0, double x1, double y0, double y1, double out[3])
{
    double sum[3] = {0, 0, 0}, total = 0;
    for (int y = (int)floor(y0); y < (int)ceil(y1) && y < s->h; y++) {
        double wy = fmin(y + 1, y1) - fmax(y, y0);
        for (int x = (int)floor(x0); x < (int)ceil(x1) && x < s->w; x++) {
            double wgt = wy * (fmin(x + 1, x1) - fmax(x, x0));
            rgb c = image_get(s, x, y);
            sum[0] += wgt * c.r, sum[1] += wgt * c.g, sum[2] += wgt * c.b;
            total += wgt;
        }
    }
    for (int c = 0; c < 3; c++) out[c] = total > 0 ? sum[c] / total : 0;
}

static double channel(rgb p, int c) { return c == 0 ? p.r : c == 1 ? p.g : p.b; }

static void bilinear(const image *s, double x, double y, double out[3])
{
    x = fmin(fmax(x, 0), s->w - 1), y = fmin(fmax(y, 0), s->h - 1);
    int xa = (int)x, ya = (int)y, xb = xa + 1 < s->w ? xa + 1 : xa, yb = ya + 1 < s->h ? ya + 1 : ya;
    double fx = x - xa, fy = y - ya;
    rgb p00 = image_get(s, xa, ya), p10 = image_get(s, xb, ya), p01 = image_get(s, xa, yb),
        p11 = image_get(s, xb, yb);
    for (int c = 0; c < 3; c++)
        out[c] = (1 - fy) * ((1 - fx) * channel(p00, c) + fx * channel(p10, c)) +
                 fy * ((1 - fx) * channel(p01, c) + fx * channel(p11, c));
}

moecl_status image_resize(const image *src, int w, int h, image *dst)
{
    MOECL_TRY(image_create(dst, w, h, (rgb){0, 0, 0}));
    double sx = (double)src->w / w, sy = (double)src->h / h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v[3];
            if (sx >= 1 && sy >= 1) area_mean(src, x * sx, (x + 1) * sx, y * sy, (y + 1) * sy, v);
            else bilinear(src, (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5, v);
            image_set(dst, x, y, (rgb){(uint8_t)lround(v[0]), (uint8_t)lround(v[1]), (uint8_t)lround(v[2])});
        }
    return MOECL_OK;
}
