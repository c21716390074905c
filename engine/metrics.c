/* metrics.jsonl read back (see metrics.h). */
#include "metrics.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static moecl_status parse(const char *path, char *text, metrics_stage *st, int *n_stages)
{
    *n_stages = 0;
    int line_no = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        line_no++;
        cJSON *o = cJSON_Parse(line);
        if (!o || !cJSON_IsObject(o)) {
            cJSON_Delete(o);
            return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: line %d is not a JSON object", path, line_no);
        }
        const cJSON *sn = cJSON_GetObjectItemCaseSensitive(o, "stage");
        const char *name = cJSON_IsString(sn) ? sn->valuestring : "";
        int k = *n_stages - 1;
        if (k < 0 || strcmp(st[k].name, name) != 0) {
            if (*n_stages == METRICS_MAX_STAGES) {
                cJSON_Delete(o);
                return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: more than %d stages", path,
                                  METRICS_MAX_STAGES);
            }
            k = (*n_stages)++;
            snprintf(st[k].name, sizeof st[k].name, "%s", name);
            st[k].n = 0;
        }
        metrics_stage *c = &st[k];
        if (c->n < METRICS_MAX_EPOCHS) {
            c->epoch[c->n] = number(o, "epoch");
            c->train_loss[c->n] = number(o, "train_loss");
            c->val_loss[c->n] = number(o, "val_loss");
            c->train_accuracy[c->n] = number(o, "train_accuracy");
            c->val_accuracy[c->n] = number(o, "val_accuracy");
            c->seconds[c->n] = number(o, "seconds");
            c->n++;
        }
        cJSON_Delete(o);
    }
    return MOECL_OK;
}

moecl_status metrics_read(const char *path, metrics_stage **stages, int *n_stages)
{
    *stages = NULL;
    *n_stages = 0;
    char *text = NULL;
    size_t size = 0;
    MOECL_TRY(moecl_read_file(path, &text, &size));
    metrics_stage *st = malloc(METRICS_MAX_STAGES * sizeof *st);
    moecl_status s = st ? parse(path, text, st, n_stages) : MOECL_ERR_OUT_OF_MEMORY;
    free(text);
    if (s != MOECL_OK) {
        free(st);
        *n_stages = 0;
        return s;
    }
    *stages = st;
    return MOECL_OK;
}

int metrics_best(const metrics_stage *s)
{
    int best = -1;
    for (int i = 0; i < s->n; i++)
        if (isfinite(s->val_loss[i]) && (best < 0 || s->val_loss[i] < s->val_loss[best])) best = i;
    return best;
}

double metrics_seconds(const metrics_stage *s)
{
    double sum = 0;
    for (int i = 0; i < s->n; i++)
        if (isfinite(s->seconds[i])) sum += s->seconds[i];
    return sum;
}
