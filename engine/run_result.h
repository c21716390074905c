/* RUN_DIR/result.json: what a finished training run measured (test
 * accuracy of the whole model and of each stage, epochs, minutes), written
 * when `moecl train` ends and read by `moecl report`. Epochs, best epochs and
 * minutes come from metrics.jsonl, so that a run resumed across sessions
 * counts all of its epochs. */
#ifndef MOECL_RUN_RESULT_H
#define MOECL_RUN_RESULT_H

#include "train.h"

#define RUN_RESULT_MAX_STAGES 8

typedef struct run_stage_result {
    char name[64];
    int epochs, best_epoch;
    double best_val_accuracy, test_accuracy;
    int test_images, targets; /* targets: classes of the stage's task */
    bool at_chance;
    bool from_weights; /* not trained in this run: its parts came from --weights */
} run_stage_result;

typedef struct run_result {
    char model[64];
    int epochs;           /* every stage's epochs */
    double train_minutes; /* training and validation, summed over the epochs */
    double best_val_accuracy, test_accuracy;
    int test_images;
    bool at_chance; /* the model or a stage did not learn: not a finished result */
    int n_stages;   /* 0 for a plain (unstaged) model */
    run_stage_result stages[RUN_RESULT_MAX_STAGES];
} run_result;

/* Builds the result of a finished run from its summary and metrics.jsonl. */
moecl_status run_result_from_run(const char *run_dir, const train_summary *s, run_result *r);
/* Writes RUN_DIR/result.json (atomically). */
moecl_status run_result_write(const char *run_dir, const run_result *r);
/* Reads RUN_DIR/result.json; a missing file says the run has not finished. */
moecl_status run_result_read(const char *run_dir, run_result *r);
/* Whether a best validation accuracy is at chance for that many targets
 * (within 2 points): such a run did not learn. */
bool run_at_chance(double best_val_accuracy, int targets);

#endif
