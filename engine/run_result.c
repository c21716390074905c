/* RUN_DIR/result.json (see run_result.h). */
#include "run_result.h"
#include "internal.h"
#include "metrics.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool run_at_chance(double best_val_accuracy, int targets)
{
    return best_val_accuracy <= 1.0 / targets + 0.02;
}

moecl_status run_result_from_run(const char *run_dir, const train_summary *s, run_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "%s", s->model_name);
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    metrics_stage *ms = NULL;
    int n_ms = 0;
    MOECL_TRY(metrics_read(path, &ms, &n_ms));
    double seconds = 0;
    for (int k = 0; k < n_ms; k++) {
        r->epochs += ms[k].n;
        seconds += metrics_seconds(&ms[k]);
    }
    r->train_minutes = seconds / 60;
    r->test_accuracy = s->test.accuracy;
    r->test_images = s->test.count;
    r->best_val_accuracy = s->best_val_accuracy;
    r->at_chance = s->stuck_at_chance;
    r->n_stages = s->n_stages < RUN_RESULT_MAX_STAGES ? s->n_stages : RUN_RESULT_MAX_STAGES;
    for (int k = 0; k < r->n_stages; k++) {
        const stage_result *sr = &s->stages[k];
        run_stage_result *o = &r->stages[k];
        snprintf(o->name, sizeof o->name, "%s", sr->name);
        o->test_accuracy = sr->test.accuracy;
        o->test_images = sr->test.count;
        o->targets = sr->targets;
        o->from_weights = sr->from_weights;
        /* epochs and the best one from the metrics: known for stages that
         * finished before a resume too */
        for (int m = 0; m < n_ms; m++) {
            if (strcmp(ms[m].name, sr->name) != 0) continue;
            int best = metrics_best(&ms[m]);
            o->epochs = ms[m].n;
            o->best_epoch = best >= 0 ? moecl_int_of(ms[m].epoch[best]) : 0;
            o->best_val_accuracy = best >= 0 ? ms[m].val_accuracy[best] : 0;
        }
        o->at_chance = o->epochs > 0 && o->targets > 0 && run_at_chance(o->best_val_accuracy, o->targets);
        r->at_chance |= o->at_chance;
    }
    if (r->n_stages > 0) r->best_val_accuracy = r->stages[r->n_stages - 1].best_val_accuracy;
    free(ms);
    return MOECL_OK;
}

moecl_status run_result_write(const char *run_dir, const run_result *r)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return MOECL_ERR_OUT_OF_MEMORY;
    cJSON_AddStringToObject(root, "format", "moecl-result-1");
    cJSON_AddStringToObject(root, "model", r->model);
    cJSON_AddNumberToObject(root, "epochs", r->epochs);
    cJSON_AddNumberToObject(root, "train_minutes", r->train_minutes);
    cJSON_AddNumberToObject(root, "best_val_accuracy", r->best_val_accuracy);
    cJSON_AddNumberToObject(root, "test_accuracy", r->test_accuracy);
    cJSON_AddNumberToObject(root, "test_images", r->test_images);
    cJSON_AddBoolToObject(root, "at_chance", r->at_chance);
    cJSON *stages = cJSON_AddArrayToObject(root, "stages");
    for (int k = 0; stages && k < r->n_stages; k++) {
        const run_stage_result *s = &r->stages[k];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddStringToObject(o, "name", s->name);
        cJSON_AddNumberToObject(o, "epochs", s->epochs);
        cJSON_AddNumberToObject(o, "best_epoch", s->best_epoch);
        cJSON_AddNumberToObject(o, "best_val_accuracy", s->best_val_accuracy);
        cJSON_AddNumberToObject(o, "test_accuracy", s->test_accuracy);
        cJSON_AddNumberToObject(o, "test_images", s->test_images);
        cJSON_AddNumberToObject(o, "targets", s->targets);
        cJSON_AddBoolToObject(o, "at_chance", s->at_chance);
        if (s->from_weights) cJSON_AddBoolToObject(o, "from_weights", true);
        cJSON_AddItemToArray(stages, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return MOECL_ERR_OUT_OF_MEMORY;
    char path[1200];
    snprintf(path, sizeof path, "%s/result.json", run_dir);
    const void *parts[2] = {text, "\n"};
    size_t sizes[2] = {strlen(text), 1};
    moecl_status st = moecl_write_file_atomic(path, parts, sizes, 2);
    free(text);
    return st;
}

/* A member that must be a number; the error names the file and the key. */
static moecl_status get_number(const char *path, const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: \"%s\" is missing or not a number", path, key);
    *out = v->valuedouble;
    return MOECL_OK;
}

static moecl_status get_string(const char *path, const cJSON *o, const char *key, char *out,
                               size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: \"%s\" is missing or not a string", path, key);
    snprintf(out, size, "%s", v->valuestring);
    return MOECL_OK;
}

static bool get_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static moecl_status parse_stage(const char *file, int k, const cJSON *o, run_stage_result *s)
{
    double epochs = 0, best = 0, targets = 0, images = 0;
    char path[1300]; /* errors name the file and the stage */
    snprintf(path, sizeof path, "%s, stage %d", file, k + 1);
    if (!cJSON_IsObject(o))
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: not a JSON object", path);
    MOECL_TRY(get_string(path, o, "name", s->name, sizeof s->name));
    MOECL_TRY(get_number(path, o, "epochs", &epochs));
    MOECL_TRY(get_number(path, o, "best_epoch", &best));
    MOECL_TRY(get_number(path, o, "best_val_accuracy", &s->best_val_accuracy));
    MOECL_TRY(get_number(path, o, "test_accuracy", &s->test_accuracy));
    MOECL_TRY(get_number(path, o, "test_images", &images));
    MOECL_TRY(get_number(path, o, "targets", &targets));
    s->epochs = moecl_int_of(epochs), s->best_epoch = moecl_int_of(best);
    s->test_images = moecl_int_of(images), s->targets = moecl_int_of(targets);
    s->at_chance = get_bool(o, "at_chance");
    s->from_weights = get_bool(o, "from_weights");
    return MOECL_OK;
}

static moecl_status parse(const char *path, const cJSON *root, run_result *r)
{
    char format[32];
    double epochs = 0, images = 0;
    MOECL_TRY(get_string(path, root, "format", format, sizeof format));
    if (strcmp(format, "moecl-result-1") != 0)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: format '%s' is not moecl-result-1", path, format);
    MOECL_TRY(get_string(path, root, "model", r->model, sizeof r->model));
    MOECL_TRY(get_number(path, root, "epochs", &epochs));
    MOECL_TRY(get_number(path, root, "train_minutes", &r->train_minutes));
    MOECL_TRY(get_number(path, root, "best_val_accuracy", &r->best_val_accuracy));
    MOECL_TRY(get_number(path, root, "test_accuracy", &r->test_accuracy));
    MOECL_TRY(get_number(path, root, "test_images", &images));
    r->epochs = moecl_int_of(epochs), r->test_images = moecl_int_of(images);
    r->at_chance = get_bool(root, "at_chance");
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    if (!cJSON_IsArray(stages))
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: \"stages\" is missing or not an array", path);
    int n = cJSON_GetArraySize(stages);
    if (n > RUN_RESULT_MAX_STAGES)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: %d stages (at most %d)", path, n,
                          RUN_RESULT_MAX_STAGES);
    r->n_stages = n;
    for (int k = 0; k < n; k++) MOECL_TRY(parse_stage(path, k, cJSON_GetArrayItem(stages, k), &r->stages[k]));
    return MOECL_OK;
}

moecl_status run_result_read(const char *run_dir, run_result *r)
{
    memset(r, 0, sizeof *r);
    char path[1200];
    snprintf(path, sizeof path, "%s/result.json", run_dir);
    char *text = NULL;
    size_t size = 0;
    moecl_status st = moecl_read_file(path, &text, &size);
    if (st != MOECL_OK)
        return moecl_fail(MOECL_ERR_INVALID_ARG,
                          "%s: no result.json (the run has not finished: moecl train --resume %s)",
                          run_dir, run_dir);
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: not a JSON object", path);
    }
    st = parse(path, root, r);
    cJSON_Delete(root);
    return st;
}
