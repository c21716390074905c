/* RUN_DIR/curves.png: loss and accuracy per epoch, training and
 * validation, one row of two charts per training stage. */
#ifndef MOECL_CURVES_H
#define MOECL_CURVES_H

#include "moecl.h"

/* Reads metrics.jsonl (as train writes it) and draws curves.png. */
moecl_status curves_png(const char *metrics_path, const char *title, const char *png_path);

#endif
