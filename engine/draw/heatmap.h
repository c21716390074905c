/* Count matrices as heat maps: the confusion matrix (true x predicted
 * class) and routing (class x expert). Each cell shows its count and is
 * shaded by its share of the row. */
#ifndef MOECL_HEATMAP_H
#define MOECL_HEATMAP_H

#include "image.h"

typedef struct heatmap_spec {
    const char *title, *subtitle;
    const char *row_title, *col_title;   /* e.g. "true class", "predicted class" */
    const char *const *row_names;
    const char *const *col_names;
    int rows, cols;
    const int *counts;                   /* [rows][cols] */
    bool mark_diagonal;                  /* frame the diagonal cells (confusion) */
} heatmap_spec;

/* Where the cells lie (for tests): cell (r, c) spans
 * [x0 + c * cell_w, +cell_w) x [y0 + r * cell_h, +cell_h), a 1-pixel white
 * line on its top and left. */
typedef struct heatmap_layout {
    int x0, y0, cell_w, cell_h;
} heatmap_layout;

moecl_status heatmap_render(const heatmap_spec *s, image *out, heatmap_layout *layout);
/* The colour of a cell that holds `share` of its row. */
rgb heatmap_colour(double share);

#endif
