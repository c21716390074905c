/* Heat maps: a title, column names on top, row names on the left, the
 * cells with their counts, row totals on the right and a colour key. */
#include "heatmap.h"
#include "colours.h"

#include <stdio.h>
#include <string.h>

rgb heatmap_colour(double share) { return colour_blues(share); }

static int longest(const char *const *names, int n)
{
    int w = 0;
    for (int i = 0; i < n; i++)
        if (text_width(names[i], 1) > w) w = text_width(names[i], 1);
    return w;
}

moecl_status heatmap_render(const heatmap_spec *s, image *out, heatmap_layout *layout)
{
    const int th = text_height(1), cell = 52, margin = 16;
    int col_name_w = longest(s->col_names, s->cols);
    int cell_w = cell > col_name_w + 6 ? cell : col_name_w + 6;
    int row_name_w = longest(s->row_names, s->rows);
    int x0 = margin + th + 8 + row_name_w + 8;
    int y0 = margin + 2 * th + 8 + (s->subtitle ? th + 6 : 0) + 10 + th + 8 + th + 6;
    int grid_w = s->cols * cell_w, grid_h = s->rows * cell;
    int total_w = text_width("total", 1) + 16;
    int key_y = y0 + grid_h + 16;
    int w = x0 + grid_w + total_w + margin, h = key_y + 16 + th + 6 + margin;
    /* wide enough for the title, the subtitle and the colour key */
    int need[3] = {margin * 2 + text_width(s->title, 2),
                   margin * 2 + (s->subtitle ? text_width(s->subtitle, 1) : 0),
                   x0 + text_width("share of the row:", 1) + 8 + 200 + margin};
    for (int i = 0; i < 3; i++)
        if (w < need[i]) w = need[i];
    MOECL_TRY(image_create(out, w, h, COLOUR_WHITE));
    draw_text(out, margin, margin, s->title, COLOUR_TEXT, 2);
    int y = margin + 2 * th + 6;
    if (s->subtitle) draw_text(out, margin, y, s->subtitle, COLOUR_MUTED, 1), y += th + 6;
    draw_text_centred(out, x0 + grid_w / 2, y + 10, s->col_title, COLOUR_TEXT, 1);
    for (int c = 0; c < s->cols; c++)
        draw_text_centred(out, x0 + c * cell_w + cell_w / 2, y0 - th - 4, s->col_names[c], COLOUR_TEXT, 1);
    draw_text_centred(out, x0 + grid_w + total_w / 2, y0 - th - 4, "total", COLOUR_MUTED, 1);
    draw_text_vertical(out, margin + th / 2, y0 + grid_h / 2, s->row_title, COLOUR_TEXT, 1);
    char buf[32];
    for (int r = 0; r < s->rows; r++) {
        long total = 0;
        for (int c = 0; c < s->cols; c++) total += s->counts[r * s->cols + c];
        int cy = y0 + r * cell;
        draw_text_right(out, x0 - 8, cy + (cell - th) / 2, s->row_names[r], COLOUR_TEXT, 1);
        for (int c = 0; c < s->cols; c++) {
            int v = s->counts[r * s->cols + c], cx = x0 + c * cell_w;
            rgb bg = heatmap_colour(total ? (double)v / total : 0);
            image_fill(out, cx + 1, cy + 1, cell_w - 1, cell - 1, bg); /* 1-px white grid */
            snprintf(buf, sizeof buf, "%d", v);
            if (v == 0) { /* quiet zeros keep the eye on what happened */
                draw_text_centred(out, cx + cell_w / 2, cy + (cell - th) / 2, buf, (rgb){165, 165, 165}, 1);
            } else {
                draw_text_centred(out, cx + cell_w / 2, cy + cell / 2 - th + 1, buf, colour_text_on(bg), 1);
                snprintf(buf, sizeof buf, "%.0f%%", 100.0 * v / total);
                draw_text_centred(out, cx + cell_w / 2, cy + cell / 2 + 2, buf, colour_text_on(bg), 1);
            }
            if (s->mark_diagonal && r == c) image_frame(out, cx + 1, cy + 1, cell_w - 1, cell - 1, 2, COLOUR_RIGHT);
        }
        snprintf(buf, sizeof buf, "%ld", total);
        draw_text_centred(out, x0 + grid_w + total_w / 2, cy + (cell - th) / 2, buf, COLOUR_MUTED, 1);
    }
    /* colour key: share of the row */
    const char *key = "share of the row:";
    draw_text(out, x0, key_y + 3, key, COLOUR_TEXT, 1);
    int kx = x0 + text_width(key, 1) + 8, kw = 200;
    for (int i = 0; i < kw; i++) image_fill(out, kx + i, key_y, 1, 16, heatmap_colour((double)i / (kw - 1)));
    image_frame(out, kx, key_y, kw, 16, 1, COLOUR_GRID);
    draw_text(out, kx, key_y + 18, "0%", COLOUR_MUTED, 1);
    draw_text_right(out, kx + kw, key_y + 18, "100%", COLOUR_MUTED, 1);
    if (layout) layout->x0 = x0, layout->y0 = y0, layout->cell_w = cell_w, layout->cell_h = cell;
    return MOECL_OK;
}
