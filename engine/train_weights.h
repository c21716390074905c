/* The parameters of a model being trained, and its weights on disk:
 * checkpoints (save, load, open), and starting a run from one (--weights,
 * --start-stage). Internal to training (train.c). */
#ifndef MOECL_TRAIN_WEIGHTS_H
#define MOECL_TRAIN_WEIGHTS_H

#include "checkpoint.h"
#include "train.h"

typedef struct param_list {
    model_param *e;
    moecl_param **p;      /* the same parameters, as the optimiser takes them */
    int count;
    moecl_param **active; /* those that learn in the current stage */
    int n_active;
    moecl_param **step;   /* a step's share of active (select_busy) */
    moecl_tensor **ema;   /* --ema: each trainable parameter's moving average (NULL: off) */
} param_list;

moecl_status collect_params(model *m, param_list *pl);
void free_params(param_list *pl);
/* The parameters of the layers that learn in the model's active stage. */
void select_active(param_list *pl);
/* The active parameters less those of the parts marked idle (lazy
 * experts: no image, no step), into pl->step; returns how many. */
int select_busy(param_list *pl, const bool *idle_part);
/* --ema: the moving averages of the trainable weights, made equal to the
 * weights (ema_start), set to them again (ema_reset: a stage starts),
 * moved after each step (ema = decay ema + (1 - decay) w, the learning
 * parameters), and swapped in for the weights to evaluate and save, then
 * back (ema_swap: the layers read p->value). */
moecl_status ema_start(param_list *pl);
moecl_status ema_reset(param_list *pl);
moecl_status ema_update(param_list *pl, float decay);
void ema_swap(param_list *pl);
/* Optimiser state: "<param>.slot0", "<param>.slot1" for trainable params,
 * and "<param>.ema" with --ema. */
st_tensor *state_entries(const param_list *pl, int *count);

moecl_status save_weights(const char *path, const param_list *pl, const char *model_json,
                          const normalizer *norm, int epoch);
/* Whether every weight (and running statistic) is finite; *name: the
 * first parameter that is not. */
moecl_status params_finite(const param_list *pl, bool *finite, char *name, size_t size);
moecl_status load_weights(const char *path, const param_list *pl);
/* The checkpoint's normaliser. */
moecl_status read_normalizer(const char *path, normalizer *norm);

/* The index of the stage named `name` (0 for ""); an error naming the
 * model's stages when it has none of that name. */
moecl_status find_stage(const model *m, const char *name, int *index);
/* Refuses --weights inside the run directory the run would overwrite. */
moecl_status check_weights_outside(const char *weights, const char *out_dir);
/* Loads --weights into the model (see train_weights.c), and its normaliser. */
moecl_status start_from_weights(model *m, const param_list *pl, const char *path, int start,
                                bool retrain, normalizer *norm, FILE *log);

#endif
