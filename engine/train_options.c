/* Training options: their defaults, and RUN_DIR/options.json, which keeps
 * them so that `moecl train --resume` goes on with the same ones (see train.h). */
#include "train.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void train_options_defaults(train_options *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 10;
    o->batch = 128;
    o->val = -1;
    o->seed = 1;
    o->patience = 2;
    o->synthetic_count = 2000;
    o->optim = optim_defaults(OPTIM_ADAM);
}

/* ---- options.json ------------------------------------------------------- */

moecl_status train_options_save(const train_options *o, const char *path)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", o->model_path);
    cJSON_AddStringToObject(j, "data", o->data_dir);
    cJSON_AddBoolToObject(j, "synthetic", o->synthetic);
    cJSON_AddNumberToObject(j, "synthetic_count", o->synthetic_count);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "train_examples", o->train_examples);
    cJSON_AddNumberToObject(j, "test_examples", o->test_examples);
    cJSON_AddNumberToObject(j, "val", o->val);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    cJSON_AddBoolToObject(j, "augment_crop", o->aug.crop);
    cJSON_AddBoolToObject(j, "augment_flip", o->aug.flip);
    cJSON_AddBoolToObject(j, "augment_translate", o->aug.translate);
    cJSON_AddBoolToObject(j, "augment_alternate", o->aug.alternate);
    cJSON_AddBoolToObject(j, "augment_jpeg", o->aug.jpeg);
    cJSON_AddBoolToObject(j, "frozen_cache", !o->no_frozen_cache);
    cJSON_AddBoolToObject(j, "lazy_experts", o->lazy_experts);
    cJSON_AddBoolToObject(j, "sync_bn", o->sync_bn);
    cJSON_AddBoolToObject(j, "expert_parallel", o->expert_parallel);
    cJSON_AddNumberToObject(j, "micro_batch", o->micro_batch);
    cJSON_AddNumberToObject(j, "label_smoothing", o->label_smoothing);
    cJSON_AddStringToObject(j, "tta", tta_name(o->tta));
    cJSON_AddNumberToObject(j, "ema", o->ema);
    cJSON_AddStringToObject(j, "weights", o->weights);
    cJSON_AddStringToObject(j, "start_stage", o->start_stage);
    cJSON_AddStringToObject(j, "split", o->split);
    cJSON_AddStringToObject(j, "experts_on", o->experts_on);
    cJSON_AddStringToObject(j, "optimizer", optim_kind_name(o->optim.kind));
    cJSON_AddNumberToObject(j, "lr", o->optim.lr);
    cJSON_AddNumberToObject(j, "beta1", o->optim.beta1);
    cJSON_AddNumberToObject(j, "beta2", o->optim.beta2);
    cJSON_AddNumberToObject(j, "epsilon", o->optim.eps);
    cJSON_AddNumberToObject(j, "momentum", o->optim.momentum);
    cJSON_AddBoolToObject(j, "nesterov", o->optim.nesterov);
    cJSON_AddNumberToObject(j, "weight_decay", o->optim.weight_decay);
    cJSON_AddStringToObject(j, "schedule", lr_schedule_name(o->optim.schedule));
    cJSON_AddNumberToObject(j, "step_epochs", o->optim.step_epochs);
    cJSON_AddNumberToObject(j, "step_gamma", o->optim.step_gamma);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    size_t len = strlen(text);
    const void *parts[2] = {text, "\n"};
    size_t sizes[2] = {len, 1};
    moecl_status st = moecl_write_file_atomic(path, parts, sizes, 2);
    free(text);
    return st;
}

static double num(const cJSON *j, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static bool flag(const cJSON *j, const char *key, bool def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static void str(const cJSON *j, const char *key, char *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (cJSON_IsString(v)) snprintf(out, size, "%s", v->valuestring);
}

moecl_status train_options_load(train_options *o, const char *path)
{
    char *text = NULL;
    MOECL_TRY(moecl_read_file(path, &text, NULL));
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return moecl_fail(MOECL_ERR_FORMAT, "'%s' is not a moecl options file (corrupt JSON)", path);
    }
    train_options_defaults(o);
    str(j, "model", o->model_path, sizeof o->model_path);
    str(j, "data", o->data_dir, sizeof o->data_dir);
    o->synthetic = flag(j, "synthetic", false);
    o->synthetic_count = moecl_int_of(num(j, "synthetic_count", o->synthetic_count));
    o->epochs = moecl_int_of(num(j, "epochs", o->epochs));
    o->batch = moecl_int_of(num(j, "batch", o->batch));
    o->train_examples = moecl_int_of(num(j, "train_examples", 0));
    o->test_examples = moecl_int_of(num(j, "test_examples", 0));
    o->val = moecl_int_of(num(j, "val", -1));
    /* a seed is a whole number that fits 64 bits: anything else (a negative
     * one, found by the fuzzer) would convert to an undefined value */
    double seed = num(j, "seed", 1);
    if (!(seed >= 0 && seed < 18446744073709551616.0) || seed != floor(seed)) {
        cJSON_Delete(j);
        return moecl_fail(MOECL_ERR_FORMAT, "'%s': \"seed\" must be a whole number from 0 to "
                          "2^64 - 1, not %g", path, seed);
    }
    o->seed = (uint64_t)seed;
    o->patience = moecl_int_of(num(j, "patience", 2));
    o->aug.crop = flag(j, "augment_crop", false);
    o->aug.flip = flag(j, "augment_flip", false);
    o->aug.translate = flag(j, "augment_translate", false);
    o->aug.alternate = flag(j, "augment_alternate", false);
    o->aug.jpeg = flag(j, "augment_jpeg", false);
    o->no_frozen_cache = !flag(j, "frozen_cache", true);
    o->lazy_experts = flag(j, "lazy_experts", false);
    o->sync_bn = flag(j, "sync_bn", false);
    o->expert_parallel = flag(j, "expert_parallel", false);
    o->micro_batch = moecl_int_of(num(j, "micro_batch", 0));
    o->label_smoothing = (float)num(j, "label_smoothing", 0);
    const cJSON *tta = cJSON_GetObjectItemCaseSensitive(j, "tta"); /* a flag before levels */
    o->tta = cJSON_IsTrue(tta) ? TTA_FLIP : TTA_NONE;
    if (cJSON_IsString(tta) && !tta_parse(tta->valuestring, &o->tta)) {
        cJSON_Delete(j);
        return moecl_fail(MOECL_ERR_FORMAT, "'%s': tta must be none, flip or translate", path);
    }
    o->ema = (float)num(j, "ema", 0);
    if (!(o->ema >= 0 && o->ema < 1)) {
        cJSON_Delete(j);
        return moecl_fail(MOECL_ERR_FORMAT, "'%s': ema must be in [0, 1)", path);
    }
    if (!(o->label_smoothing >= 0 && o->label_smoothing < 1)) {
        cJSON_Delete(j);
        return moecl_fail(MOECL_ERR_FORMAT, "'%s': label_smoothing must be in [0, 1)", path);
    }
    str(j, "weights", o->weights, sizeof o->weights);
    str(j, "start_stage", o->start_stage, sizeof o->start_stage);
    str(j, "split", o->split, sizeof o->split);
    str(j, "experts_on", o->experts_on, sizeof o->experts_on);
    char name[32] = "adam";
    str(j, "optimizer", name, sizeof name);
    optim_kind_parse(name, &o->optim.kind);
    o->optim.lr = (float)num(j, "lr", o->optim.lr);
    o->optim.beta1 = (float)num(j, "beta1", o->optim.beta1);
    o->optim.beta2 = (float)num(j, "beta2", o->optim.beta2);
    o->optim.eps = (float)num(j, "epsilon", o->optim.eps);
    o->optim.momentum = (float)num(j, "momentum", o->optim.momentum);
    o->optim.nesterov = flag(j, "nesterov", false);
    o->optim.weight_decay = (float)num(j, "weight_decay", 0);
    snprintf(name, sizeof name, "constant");
    str(j, "schedule", name, sizeof name);
    lr_schedule_parse(name, &o->optim.schedule);
    o->optim.step_epochs = moecl_int_of(num(j, "step_epochs", 10));
    o->optim.step_gamma = (float)num(j, "step_gamma", 0.1);
    cJSON_Delete(j);
    if (!o->model_path[0] || o->batch < 1 || o->epochs < 1)
        return moecl_fail(MOECL_ERR_FORMAT, "'%s' lacks the model, batch or epochs", path);
    return MOECL_OK;
}
