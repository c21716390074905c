#include "optim.h"
#include "internal.h"

#include <math.h>
#include <string.h>

optim_config optim_defaults(optim_kind kind)
{
    optim_config c = {.kind = kind, .lr = kind == OPTIM_ADAM ? 1e-3f : 1e-2f,
                      .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f,
                      .momentum = kind == OPTIM_SGD ? 0.9f : 0.0f,
                      .schedule = SCHEDULE_CONSTANT, .step_epochs = 10, .step_gamma = 0.1f};
    return c;
}

const char *optim_kind_name(optim_kind kind) { return kind == OPTIM_ADAM ? "adam" : "sgd"; }

bool optim_kind_parse(const char *s, optim_kind *kind)
{
    if (strcmp(s, "adam") == 0) *kind = OPTIM_ADAM;
    else if (strcmp(s, "sgd") == 0) *kind = OPTIM_SGD;
    else return false;
    return true;
}

static const char *const SCHEDULE_NAMES[] = {"constant", "step", "cosine", "onecycle", "triangle"};
_Static_assert(sizeof SCHEDULE_NAMES / sizeof SCHEDULE_NAMES[0] == SCHEDULE_COUNT,
               "every schedule needs a name");

const char *lr_schedule_name(lr_schedule s) { return SCHEDULE_NAMES[s]; }

bool lr_schedule_parse(const char *s, lr_schedule *schedule)
{
    for (int i = 0; i < SCHEDULE_COUNT; i++)
        if (strcmp(s, SCHEDULE_NAMES[i]) == 0) {
            *schedule = (lr_schedule)i;
            return true;
        }
    return false;
}

float optim_lr_at(const optim_config *c, long step, long steps_per_epoch, long total_steps)
{
    const double pi = 3.14159265358979323846;
    double t = total_steps > 0 ? (double)step / (double)total_steps : 0.0;
    switch (c->schedule) {
    case SCHEDULE_STEP: {
        long epoch = steps_per_epoch > 0 ? step / steps_per_epoch : 0;
        return c->lr * powf(c->step_gamma, (float)(epoch / (c->step_epochs > 0 ? c->step_epochs : 1)));
    }
    case SCHEDULE_COSINE:
        return (float)(c->lr * 0.5 * (1.0 + cos(pi * t)));
    case SCHEDULE_ONECYCLE: {
        /* 30% warm-up from lr/25 to lr, then cosine down to lr/1e4 (as PyTorch's OneCycleLR). */
        double lo = c->lr / 25.0, end = c->lr / 1e4;
        if (t < 0.3) return (float)(lo + (c->lr - lo) * 0.5 * (1.0 - cos(pi * t / 0.3)));
        return (float)(end + (c->lr - end) * 0.5 * (1.0 + cos(pi * (t - 0.3) / 0.7)));
    }
    case SCHEDULE_TRIANGLE: { /* linear from lr/5 to lr at 23% of the run, then linear to 0 */
        const double peak = 0.23;
        if (t < peak) return (float)(c->lr * (0.2 + 0.8 * t / peak));
        return (float)(c->lr * (1.0 - t) / (1.0 - peak));
    }
    default:
        return c->lr;
    }
}

static moecl_status ensure_slots(moecl_param *p, int slots)
{
    for (int s = 0; s < slots; s++) {
        if (p->slot[s]) continue;
        MOECL_TRY(moecl_tensor_create(p->value->ctx, p->ndim, p->shape, &p->slot[s]));
        MOECL_TRY(moecl_tensor_fill(p->slot[s], 0.0f));
    }
    return MOECL_OK;
}

moecl_status optim_update(const optim_config *c, moecl_param *const *params,
                          int count, float lr, long step)
{
    for (int i = 0; i < count; i++) {
        moecl_param *p = params[i];
        if (!p->grad) continue;
        size_t n = p->value->count;
        /* the parameter's own rate: its layer's lr_scale (0, unset: 1); the
         * weight decay keeps the run's strength (lr x decay a step), as
         * airbench's bias scaler raises the rate but not the decay */
        float scale = p->lr_scale > 0 ? p->lr_scale : 1.0f;
        float plr = lr * scale, pwd = c->weight_decay / scale;
        if (c->kind == OPTIM_ADAM) {
            MOECL_TRY(ensure_slots(p, 2));
            double b1t = pow(c->beta1, (double)step), b2t = pow(c->beta2, (double)step);
            float alpha = (float)(plr * sqrt(1.0 - b2t) / (1.0 - b1t));
            MOECL_TRY(MOECL_LAUNCH_STREAM(p->value->ctx, "adam_step_f32", n, MOECL_ARG_MEM(p->value->buf),
                                   MOECL_ARG_MEM(p->grad->buf), MOECL_ARG_MEM(p->slot[0]->buf),
                                   MOECL_ARG_MEM(p->slot[1]->buf), MOECL_ARG_FLOAT(alpha),
                                   MOECL_ARG_FLOAT(c->beta1), MOECL_ARG_FLOAT(c->beta2),
                                   MOECL_ARG_FLOAT(c->eps), MOECL_ARG_FLOAT(plr * pwd),
                                   MOECL_ARG_INT(n)));
        } else {
            MOECL_TRY(ensure_slots(p, 1));
            MOECL_TRY(MOECL_LAUNCH_STREAM(p->value->ctx, "sgd_step_f32", n, MOECL_ARG_MEM(p->value->buf),
                                   MOECL_ARG_MEM(p->grad->buf), MOECL_ARG_MEM(p->slot[0]->buf),
                                   MOECL_ARG_FLOAT(plr), MOECL_ARG_FLOAT(c->momentum),
                                   MOECL_ARG_INT(c->nesterov), MOECL_ARG_FLOAT(pwd),
                                   MOECL_ARG_INT(n)));
        }
    }
    return MOECL_OK;
}

moecl_status optim_prepare(const optim_config *c, moecl_param *const *params, int count)
{
    for (int i = 0; i < count; i++)
        if (params[i]->grad) MOECL_TRY(ensure_slots(params[i], c->kind == OPTIM_ADAM ? 2 : 1));
    return MOECL_OK;
}
