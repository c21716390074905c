/* Training curves from metrics.jsonl, so that a resumed run, or one
 * interrupted and drawn later, gives the same picture as one in one go. */
#include "curves.h"
#include "chart.h"
#include "colours.h"
#include "internal.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

moecl_status curves_png(const char *metrics_path, const char *title, const char *png_path)
{
    metrics_stage *st = NULL;
    int n = 0;
    moecl_status s = metrics_read(metrics_path, &st, &n);
    if (s == MOECL_OK && n == 0) s = moecl_fail(MOECL_ERR_INVALID_ARG, "%s: no epochs yet", metrics_path);
    const int panel_w = 560, panel_h = 340, head = 44;
    image img = {0};
    if (s == MOECL_OK) s = image_create(&img, 2 * panel_w, head + n * panel_h, COLOUR_WHITE);
    if (s == MOECL_OK) {
        draw_text(&img, 14, 12, title, COLOUR_TEXT, 2);
        const rgb train = colour_expert(0), val = colour_expert(1);
        for (int k = 0; k < n; k++) {
            const metrics_stage *c = &st[k];
            char lt[96], at[96];
            snprintf(lt, sizeof lt, "%s%sloss", c->name, c->name[0] ? ": " : "");
            snprintf(at, sizeof at, "%s%saccuracy", c->name, c->name[0] ? ": " : "");
            chart_series loss[2] = {{"training", c->epoch, c->train_loss, c->n, train},
                                    {"validation", c->epoch, c->val_loss, c->n, val}};
            chart_series acc[2] = {{"training", c->epoch, c->train_accuracy, c->n, train},
                                   {"validation", c->epoch, c->val_accuracy, c->n, val}};
            chart_spec ls = {.title = lt, .x_label = "epoch", .y_label = "cross-entropy",
                             .y_from_zero = true, .x_integer = true, .series = loss, .n_series = 2};
            chart_spec as = {.title = at, .x_label = "epoch", .y_label = "accuracy",
                             .y_percent = true, .x_integer = true, .legend_low = true, .series = acc, .n_series = 2};
            chart_draw(&img, 0, head + k * panel_h, panel_w, panel_h - 6, &ls);
            chart_draw(&img, panel_w, head + k * panel_h, panel_w, panel_h - 6, &as);
        }
        s = png_write(png_path, &img);
    }
    image_free(&img);
    free(st);
    return s;
}
