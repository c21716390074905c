/* Training: epochs over shuffled batches, validation after each, early
 * stopping on validation loss with the best weights kept, metrics.jsonl,
 * safetensors checkpoints and exact resumption. */
#ifndef MOECL_TRAIN_H
#define MOECL_TRAIN_H

#include "data.h"
#include "evaluate.h"
#include "model.h"
#include "optim.h"

#include <stdio.h>

typedef struct train_options {
    char model_path[1024];
    char data_dir[1024];      /* "" = --data / MOECL_DATA / ./data / download */
    char out_dir[1024];       /* RUN_DIR */
    bool synthetic;           /* a synthetic data set instead of CIFAR-10 */
    int synthetic_count;      /* its training size (test: a fifth of it) */
    int epochs, batch;
    int train_examples;       /* 0 = all */
    int test_examples;        /* 0 = all */
    int val;                  /* validation examples carved after the training ones; -1 = a tenth */
    uint64_t seed;
    int patience;             /* 0 = no early stopping */
    augment aug;
    bool no_frozen_cache;     /* a sub-gate stage runs its frozen parts every step (frozen_cache.h) */
    bool lazy_experts;        /* routed experts that got no image in a step take no optimiser step */
    bool sync_bn;             /* data parallel: batch norm over the global batch, not each share */
    bool expert_parallel;     /* data parallel: a routed head's expert k computed by rank k mod
                               * ranks alone, its rows exchanged (expert_exchange.h) */
    int micro_batch;          /* > 0: the most images the device runs at once; a larger share of
                               * a batch runs in pieces of it, their gradients summed (batch
                               * norm's statistics are then each piece's) */
    float label_smoothing;    /* training targets (1 - s) onehot + s / K */
    int tta;                  /* the test's augmentation (TTA_FLIP, ...; not validation) */
    float ema;                /* > 0: evaluate and save a moving average of the weights, this decay */
    char weights[1024];       /* a checkpoint to start from ("" = fresh weights) */
    char start_stage[64];     /* staged models: the first stage to train ("" = the first) */
    char split[128];          /* data parallel: each rank's weight in a batch, "1,3" ("" = equal) */
    char experts_on[256];     /* expert parallel: the devices the experts are placed on, round
                               * robin, "0,1" ("" = the model's device) */
    optim_config optim;
} train_options;

void train_options_defaults(train_options *o);
/* options.json in a run directory: written at start, read by --resume. */
moecl_status train_options_save(const train_options *o, const char *path);
moecl_status train_options_load(train_options *o, const char *path);
/* A model file's "recipe" (its JSON text) over *o: the options it names,
 * each checked; an error names the model file (origin) and the option. */
moecl_status train_recipe_apply(train_options *o, const char *recipe_json, const char *origin);

/* What one training stage did (staged models: one per stage). */
typedef struct stage_result {
    char name[64];
    int epochs_run, best_epoch;
    double best_val_loss, best_val_accuracy;
    eval_result test;     /* on the stage's own task: its classes, its targets */
    int targets;          /* classes of that task (2 for a binary gate) */
    bool early_stopped;
    bool stuck_at_chance; /* best validation accuracy near 1/targets: did not learn */
    bool before_resume;   /* finished in an earlier run: only its test result is known */
    bool from_weights;    /* before the start stage: its parts as --weights gave them */
} stage_result;

typedef struct train_summary {
    char model_name[64];
    stage_result stages[8];
    int n_stages;
    int epochs_run;       /* every epoch of the run once it finished, across resumes */
    double best_val_loss, best_val_accuracy;
    int best_epoch;
    eval_result test;
    bool early_stopped;
    bool stuck_at_chance; /* the best validation accuracy is near 1/classes */
    bool interrupted;     /* Ctrl-C: state saved, resume with --resume */
    double seconds;       /* this sitting, from start to the end of testing */
    double train_minutes; /* every epoch of the run, across resumes (result.json) */
} train_summary;


/* Trains as the options say; with resume, continues the run in out_dir
 * from its state.safetensors. log gets the progress line and summaries. */
moecl_status train_run(moecl_ctx *ctx, const train_options *o, bool resume, FILE *log,
                       train_summary *s);

/* Set from a SIGINT handler: the trainer stops after the current step,
 * saves its state and returns with summary.interrupted. */
extern volatile int moecl_interrupted;

/* Loads a checkpoint written by training: the model (from its metadata),
 * set up for batch, its weights and its normaliser. */
moecl_status checkpoint_open(moecl_ctx *ctx, const char *path, int batch, model **net,
                             normalizer *norm);

#endif
