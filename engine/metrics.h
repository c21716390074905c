/* RUN_DIR/metrics.jsonl read back: one record per epoch, grouped into the
 * stages in the order they trained (one unnamed stage for plain models).
 * Pictures and results are drawn from this file, so that a run resumed
 * across sessions counts and shows every epoch. */
#ifndef MOECL_METRICS_H
#define MOECL_METRICS_H

#include "moecl.h"

#define METRICS_MAX_STAGES 8
#define METRICS_MAX_EPOCHS 1000

typedef struct metrics_stage {
    char name[64]; /* "" for a plain model */
    int n;         /* epochs recorded */
    double epoch[METRICS_MAX_EPOCHS], train_loss[METRICS_MAX_EPOCHS],
        val_loss[METRICS_MAX_EPOCHS], train_accuracy[METRICS_MAX_EPOCHS],
        val_accuracy[METRICS_MAX_EPOCHS], seconds[METRICS_MAX_EPOCHS];
} metrics_stage;

/* Reads the whole file into *stages (allocated, free() it); a line that is
 * not JSON is an error naming the file and the line. */
moecl_status metrics_read(const char *path, metrics_stage **stages, int *n_stages);

/* The index of the epoch with the lowest validation loss (the weights early
 * stopping keeps); -1 when there is none. */
int metrics_best(const metrics_stage *s);

/* Seconds of training and validation summed over the stage's epochs. */
double metrics_seconds(const metrics_stage *s);

#endif
