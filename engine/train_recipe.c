/* A model file's "recipe": the training options it was measured with, the
 * defaults of `moecl train --model NAME` (the command line overrides each). */
#include "train.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static moecl_status bad(const char *origin, const char *key, const char *why)
{
    return moecl_fail(MOECL_ERR_INVALID_ARG, "model file '%s': recipe: '%s' %s", origin, key, why);
}

/* A number in [lo, hi] (whole when whole). */
static moecl_status number(const char *origin, const cJSON *v, double lo, double hi, bool whole,
                           double *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        (whole && v->valuedouble != floor(v->valuedouble))) {
        char why[96];
        snprintf(why, sizeof why, "must be a %s from %g to %g", whole ? "whole number" : "number",
                 lo, hi);
        return bad(origin, v->string, why);
    }
    *out = v->valuedouble;
    return MOECL_OK;
}

static moecl_status boolean(const char *origin, const cJSON *v, bool *out)
{
    if (!cJSON_IsBool(v)) return bad(origin, v->string, "must be true or false");
    *out = cJSON_IsTrue(v);
    return MOECL_OK;
}

moecl_status train_recipe_apply(train_options *o, const char *recipe_json, const char *origin)
{
    cJSON *r = cJSON_Parse(recipe_json);
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        return moecl_fail(MOECL_ERR_INVALID_ARG, "model file '%s': 'recipe' must be an object", origin);
    }
    moecl_status st = MOECL_OK;
    bool lr_given = cJSON_GetObjectItemCaseSensitive(r, "lr") != NULL;
    for (const cJSON *v = r->child; v && st == MOECL_OK; v = v->next) {
        const char *k = v->string;
        double x = 0;
        if (strcmp(k, "epochs") == 0) {
            if ((st = number(origin, v, 1, 1e6, true, &x)) == MOECL_OK) o->epochs = (int)x;
        } else if (strcmp(k, "batch") == 0) {
            if ((st = number(origin, v, 1, 65536, true, &x)) == MOECL_OK) o->batch = (int)x;
        } else if (strcmp(k, "val") == 0) { /* validation images held out (0: train on all) */
            if ((st = number(origin, v, 0, 1e6, true, &x)) == MOECL_OK) o->val = (int)x;
        } else if (strcmp(k, "patience") == 0) {
            if ((st = number(origin, v, 0, 1e6, true, &x)) == MOECL_OK) o->patience = (int)x;
        } else if (strcmp(k, "lr") == 0) {
            if ((st = number(origin, v, 1e-9, 1e3, false, &x)) == MOECL_OK) o->optim.lr = (float)x;
        } else if (strcmp(k, "momentum") == 0) {
            if ((st = number(origin, v, 0, 1, false, &x)) == MOECL_OK) o->optim.momentum = (float)x;
        } else if (strcmp(k, "weight_decay") == 0) {
            if ((st = number(origin, v, 0, 1e3, false, &x)) == MOECL_OK) o->optim.weight_decay = (float)x;
        } else if (strcmp(k, "ema") == 0) {
            if ((st = number(origin, v, 0, 0.999999, false, &x)) == MOECL_OK) o->ema = (float)x;
        } else if (strcmp(k, "label_smoothing") == 0) {
            if ((st = number(origin, v, 0, 0.999, false, &x)) == MOECL_OK) o->label_smoothing = (float)x;
        } else if (strcmp(k, "nesterov") == 0) {
            st = boolean(origin, v, &o->optim.nesterov);
        } else if (strcmp(k, "tta") == 0) {
            bool on = false;
            if (cJSON_IsString(v)) {
                if (!tta_parse(v->valuestring, &o->tta))
                    st = bad(origin, k, "must be true, false, \"flip\" or \"translate\"");
            } else if ((st = boolean(origin, v, &on)) == MOECL_OK) {
                o->tta = on ? TTA_FLIP : TTA_NONE;
            }
        } else if (strcmp(k, "lazy_experts") == 0) {
            st = boolean(origin, v, &o->lazy_experts);
        } else if (strcmp(k, "optimizer") == 0) {
            optim_kind kind;
            if (!cJSON_IsString(v) || !optim_kind_parse(v->valuestring, &kind)) {
                st = bad(origin, k, "must be \"adam\" or \"sgd\"");
            } else {
                optim_config d = optim_defaults(kind);
                o->optim.kind = kind;
                o->optim.momentum = d.momentum;
                if (!lr_given) o->optim.lr = d.lr;
            }
        } else if (strcmp(k, "schedule") == 0) {
            if (!cJSON_IsString(v) || !lr_schedule_parse(v->valuestring, &o->optim.schedule))
                st = bad(origin, k, "must be constant, step, cosine, onecycle or triangle");
        } else if (strcmp(k, "augment") == 0) {
            if (!cJSON_IsString(v) || !augment_parse(v->valuestring, &o->aug))
                st = bad(origin, k, "must be as --augment takes: \"translate,flip\", \"crop\", \"none\", ...");
        } else {
            st = bad(origin, k, "is not an option a recipe sets (epochs, batch, patience, optimizer, "
                                "lr, momentum, nesterov, weight_decay, schedule, augment, val, "
                                "label_smoothing, tta, ema, lazy_experts)");
        }
    }
    cJSON_Delete(r);
    return st;
}
