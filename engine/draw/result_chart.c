/* moecl report --png: each run a point of its own colour, named in the
 * legend; the x axis starts at 0 so that distances read as time spent. */
#include "result_chart.h"
#include "chart.h"
#include "colours.h"
#include "internal.h"

#include <stdlib.h>

moecl_status result_chart_png(const char *png_path, const result_point *runs, int n)
{
    if (n < 1) return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: no runs to draw", png_path);
    chart_series *series = calloc((size_t)n, sizeof *series);
    if (!series) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < n; i++)
        series[i] = (chart_series){runs[i].label, &runs[i].minutes, &runs[i].accuracy, 1,
                                   colour_expert(i)};
    chart_spec spec = {.title = "test accuracy against training minutes",
                       .x_label = "training minutes", .y_label = "test accuracy",
                       .y_percent = true, .x_from_zero = true, .legend_left = true, .marker = 11,
                       .series = series, .n_series = n};
    image img = {0};
    moecl_status s = image_create(&img, 720, 440, COLOUR_WHITE);
    if (s == MOECL_OK) {
        chart_draw(&img, 0, 0, img.w, img.h, &spec);
        s = png_write(png_path, &img);
    }
    image_free(&img);
    free(series);
    return s;
}
