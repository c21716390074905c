/* Line charts: the plot box, nice ticks on both axes, light grid lines,
 * 2-pixel lines with square markers, and a legend in the upper right. */
#include "chart.h"
#include "colours.h"

#include <math.h>
#include <stdio.h>

double chart_tick_step(double lo, double hi, int target)
{
    double span = hi - lo;
    if (!(span > 0)) return 1;
    double raw = span / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void format_tick(char *buf, size_t size, double v, double step, bool percent)
{
    if (percent) v *= 100, step *= 100;
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6) decimals = 6;
    snprintf(buf, size, "%.*f%s", decimals, fabs(v) < step * 1e-6 ? 0.0 : v, percent ? "%" : "");
}

static void data_range(const chart_spec *s, bool want_x, double *lo, double *hi)
{
    *lo = INFINITY, *hi = -INFINITY;
    for (int k = 0; k < s->n_series; k++)
        for (int i = 0; i < s->series[k].n; i++) {
            double v = want_x ? s->series[k].x[i] : s->series[k].y[i];
            if (!isfinite(v)) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
    if (*lo > *hi) *lo = 0, *hi = 1;
}

void chart_draw(image *img, int x, int y, int w, int h, const chart_spec *s)
{
    const int th = text_height(1);
    /* the plot box: room for the title, y label and tick labels, x ticks and label */
    int left = x + th + 8 + text_width("100.0%", 1) + 8, right = x + w - 10;
    int top = y + (s->title ? 2 * th + 8 : 8), bottom = y + h - (2 * th + 14);
    if (s->title) draw_text_centred(img, (left + right) / 2, y + 2, s->title, COLOUR_TEXT, 2);

    double x0, x1, y0, y1;
    data_range(s, true, &x0, &x1);
    data_range(s, false, &y0, &y1);
    if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
    if (s->y_from_zero && y0 > 0) y0 = 0;
    if (s->x_from_zero && x0 > 0) x0 = 0;
    bool fraction = s->y_percent && y0 >= 0 && y1 <= 1; /* an axis that cannot leave 0..100% */
    double pad = y1 - y0 < 1e-12 ? fmax(fabs(y1) * 0.1, 0.05) : 0.06 * (y1 - y0);
    y1 += pad;
    if (!s->y_from_zero) y0 -= pad;
    if (fraction) y1 = fmin(y1, 1), y0 = fmax(y0, 0);
    double ys = chart_tick_step(y0, y1, 5), xs = chart_tick_step(x0, x1, 8);
    if (s->x_integer && xs < 1) xs = 1;
    y0 = floor(y0 / ys) * ys, y1 = ceil(y1 / ys - 1e-9) * ys;
    if (s->x_integer && xs >= 1) x0 = floor(x0), x1 = ceil(x1);
    if (s->x_from_zero) x1 = ceil(x1 * 1.03 / xs) * xs; /* room for the last marker */
    double xspan = x1 - x0 > 0 ? x1 - x0 : 1, yspan = y1 - y0 > 0 ? y1 - y0 : 1;
    /* inset so that points on the edges are not cut by the frame */
    int pl = left + 8, pr = right - 8;
#define PX(v) (pl + (int)lround(((v) - x0) / xspan * (pr - pl)))
#define PY(v) (bottom - (int)lround(((v) - y0) / yspan * (bottom - top)))
    char buf[32];
    for (double v = y0; v <= y1 + ys * 1e-6; v += ys) {
        int py = PY(v);
        image_fill(img, left + 1, py, right - left - 1, 1, COLOUR_GRID);
        image_fill(img, left - 4, py, 4, 1, COLOUR_TEXT);
        format_tick(buf, sizeof buf, v, ys, s->y_percent);
        draw_text_right(img, left - 6, py - th / 2, buf, COLOUR_TEXT, 1);
    }
    for (double v = ceil(x0 / xs - 1e-9) * xs; v <= x1 + xs * 1e-6; v += xs) {
        int px = PX(v);
        image_fill(img, px, top + 1, 1, bottom - top - 1, COLOUR_GRID);
        image_fill(img, px, bottom + 1, 1, 4, COLOUR_TEXT);
        format_tick(buf, sizeof buf, v, xs, false);
        draw_text_centred(img, px, bottom + 7, buf, COLOUR_TEXT, 1);
    }
    image_frame(img, left, top, right - left + 1, bottom - top + 1, 1, COLOUR_TEXT);
    if (s->x_label) draw_text_centred(img, (left + right) / 2, bottom + 9 + th, s->x_label, COLOUR_TEXT, 1);
    if (s->y_label) draw_text_vertical(img, x + th / 2 + 2, (top + bottom) / 2, s->y_label, COLOUR_TEXT, 1);

    const int mk = s->marker > 0 ? s->marker : 5;
    for (int k = 0; k < s->n_series; k++) {
        const chart_series *c = &s->series[k];
        int px = 0, py = 0;
        bool have = false;
        for (int i = 0; i < c->n; i++) {
            if (!isfinite(c->x[i]) || !isfinite(c->y[i])) {
                have = false;
                continue;
            }
            int qx = PX(c->x[i]), qy = PY(c->y[i]);
            if (have) image_line(img, px, py, qx, qy, 2, c->colour);
            image_fill(img, qx - mk / 2, qy - mk / 2, mk, mk, c->colour);
            px = qx, py = qy, have = true;
        }
    }
#undef PX
#undef PY
    /* legend, upper (or lower) right inside the box */
    int lw = 0;
    for (int k = 0; k < s->n_series; k++)
        if (text_width(s->series[k].name, 1) > lw) lw = text_width(s->series[k].name, 1);
    int bw = lw + 36, bh = s->n_series * (th + 4) + 8, bx = s->legend_left ? left + 6 : right - bw - 6, by = s->legend_low ? bottom - bh - 6 : top + 6;
    image_fill(img, bx, by, bw, bh, COLOUR_WHITE);
    image_frame(img, bx, by, bw, bh, 1, COLOUR_GRID);
    for (int k = 0; k < s->n_series; k++) {
        int ly = by + 5 + k * (th + 4);
        image_fill(img, bx + 6, ly + th / 2 - 1, 18, 2, s->series[k].colour);
        image_fill(img, bx + 13, ly + th / 2 - 2, 5, 5, s->series[k].colour);
        draw_text(img, bx + 30, ly, s->series[k].name, COLOUR_TEXT, 1);
    }
}
