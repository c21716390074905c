/* Finished runs in one picture: test accuracy against training minutes,
 * one point per run, the measure the default preset is chosen by. */
#ifndef MOECL_RESULT_CHART_H
#define MOECL_RESULT_CHART_H

#include "moecl.h"

typedef struct result_point {
    const char *label;
    double minutes, accuracy; /* accuracy 0..1 */
} result_point;

/* Draws the n runs as a scatter chart into png_path. */
moecl_status result_chart_png(const char *png_path, const result_point *runs, int n);

#endif
