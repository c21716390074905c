/* Line charts with axes, ticks, grid lines and a legend (the training
 * curves); series of one point make a scatter chart (runs compared). */
#ifndef MOECL_CHART_H
#define MOECL_CHART_H

#include "image.h"

typedef struct chart_series {
    const char *name;
    const double *x, *y;
    int n;
    rgb colour;
} chart_series;

typedef struct chart_spec {
    const char *title, *x_label, *y_label;
    bool y_percent;        /* values 0..1 shown as 0..100% */
    bool y_from_zero;      /* the y axis starts at 0 */
    bool x_integer;        /* ticks only at whole numbers (epochs) */
    bool x_from_zero;      /* the x axis starts at 0 and ends at a tick past the data */
    int marker;            /* marker size in pixels (odd; 0: 5) */
    bool legend_low;       /* legend in the lower right (curves that rise) */
    bool legend_left;      /* legend on the left (points that rise to the right) */
    const chart_series *series;
    int n_series;
} chart_spec;

/* Draws the chart into the rectangle (x, y, w, h) of img. */
void chart_draw(image *img, int x, int y, int w, int h, const chart_spec *spec);

/* "Nice" tick spacing (1, 2 or 5 times a power of ten) giving about
 * `target` intervals over [lo, hi]. */
double chart_tick_step(double lo, double hi, int target);

#endif
