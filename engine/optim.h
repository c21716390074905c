/* Optimisers (Adam, SGD with momentum and Nesterov, weight decay) and
 * learning-rate schedules; updates run on the device. Defaults are Keras's:
 * Adam lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7. */
#ifndef MOECL_OPTIM_H
#define MOECL_OPTIM_H

#include "layer.h"

typedef enum optim_kind { OPTIM_ADAM, OPTIM_SGD } optim_kind;
typedef enum lr_schedule {
    SCHEDULE_CONSTANT,
    SCHEDULE_STEP,
    SCHEDULE_COSINE,
    SCHEDULE_ONECYCLE,
    SCHEDULE_TRIANGLE, /* airbench's: from lr/5 up to lr over the first 23% of the steps, then down to 0 */
    SCHEDULE_COUNT
} lr_schedule;

typedef struct optim_config {
    optim_kind kind;
    float lr;
    float beta1, beta2, eps;  /* Adam */
    float momentum;           /* SGD */
    bool nesterov;            /* SGD */
    float weight_decay;       /* Adam: decoupled (AdamW); SGD: L2 added to the gradient */
    lr_schedule schedule;
    int step_epochs;          /* step: every step_epochs epochs ... */
    float step_gamma;         /* ... multiply the rate by step_gamma */
} optim_config;

optim_config optim_defaults(optim_kind kind);
/* "adam" / "sgd", "constant" / "step" / "cosine" / "onecycle" / "triangle"; false if unknown. */
bool optim_kind_parse(const char *s, optim_kind *kind);
bool lr_schedule_parse(const char *s, lr_schedule *schedule);
const char *optim_kind_name(optim_kind kind);
const char *lr_schedule_name(lr_schedule s);

/* The rate at a step (0-based) of a run of total_steps, steps_per_epoch each. */
float optim_lr_at(const optim_config *c, long step, long steps_per_epoch, long total_steps);

/* Makes (zeroed) state tensors for every parameter, before the first step. */
moecl_status optim_prepare(const optim_config *c, moecl_param *const *params, int count);
/* One update of every trainable parameter with its gradient, on the device
 * that holds it (experts may live on other devices). `step` counts updates
 * from 1 (Adam's bias correction). State tensors are made on first use. */
moecl_status optim_update(const optim_config *c, moecl_param *const *params,
                          int count, float lr, long step);

#endif
