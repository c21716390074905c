/* Training curves from metrics.jsonl, so that a resumed run, or one
 * interrupted and drawn later, gives the same picture as one in one go. */
#include "curves.h"
#include "chart.h"
#include "colours.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURVES_MAX_STAGES 8
#define CURVES_MAX_EPOCHS 1000

typedef struct stage_curves {
    char name[64];
    int n;
    double epoch[CURVES_MAX_EPOCHS], tl[CURVES_MAX_EPOCHS], vl[CURVES_MAX_EPOCHS],
        ta[CURVES_MAX_EPOCHS], va[CURVES_MAX_EPOCHS];
} stage_curves;

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static moecl_status parse(const char *path, char *text, stage_curves *st, int *n_stages)
{
    *n_stages = 0;
    int line_no = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        line_no++;
        cJSON *o = cJSON_Parse(line);
        if (!o) return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: line %d is not JSON", path, line_no);
        const cJSON *sn = cJSON_GetObjectItemCaseSensitive(o, "stage");
        const char *name = cJSON_IsString(sn) ? sn->valuestring : "";
        int k = *n_stages - 1;
        if (k < 0 || strcmp(st[k].name, name) != 0) {
            if (*n_stages == CURVES_MAX_STAGES) {
                cJSON_Delete(o);
                return moecl_fail(MOECL_ERR_INVALID_ARG, "%s: more than %d stages", path, CURVES_MAX_STAGES);
            }
            k = (*n_stages)++;
            snprintf(st[k].name, sizeof st[k].name, "%s", name);
            st[k].n = 0;
        }
        stage_curves *c = &st[k];
        if (c->n < CURVES_MAX_EPOCHS) {
            c->epoch[c->n] = number(o, "epoch");
            c->tl[c->n] = number(o, "train_loss");
            c->vl[c->n] = number(o, "val_loss");
            c->ta[c->n] = number(o, "train_accuracy");
            c->va[c->n] = number(o, "val_accuracy");
            c->n++;
        }
        cJSON_Delete(o);
    }
    return MOECL_OK;
}

moecl_status curves_png(const char *metrics_path, const char *title, const char *png_path)
{
    char *text = NULL;
    size_t size = 0;
    MOECL_TRY(moecl_read_file(metrics_path, &text, &size));
    stage_curves *st = malloc(CURVES_MAX_STAGES * sizeof *st);
    int n = 0;
    moecl_status s = st ? parse(metrics_path, text, st, &n) : MOECL_ERR_OUT_OF_MEMORY;
    free(text);
    if (s == MOECL_OK && n == 0) s = moecl_fail(MOECL_ERR_INVALID_ARG, "%s: no epochs yet", metrics_path);
    const int panel_w = 560, panel_h = 340, head = 44;
    image img = {0};
    if (s == MOECL_OK) s = image_create(&img, 2 * panel_w, head + n * panel_h, COLOUR_WHITE);
    if (s == MOECL_OK) {
        draw_text(&img, 14, 12, title, COLOUR_TEXT, 2);
        const rgb train = colour_expert(0), val = colour_expert(1);
        for (int k = 0; k < n; k++) {
            stage_curves *c = &st[k];
            char lt[96], at[96];
            snprintf(lt, sizeof lt, "%s%sloss", c->name, c->name[0] ? ": " : "");
            snprintf(at, sizeof at, "%s%saccuracy", c->name, c->name[0] ? ": " : "");
            chart_series loss[2] = {{"training", c->epoch, c->tl, c->n, train},
                                    {"validation", c->epoch, c->vl, c->n, val}};
            chart_series acc[2] = {{"training", c->epoch, c->ta, c->n, train},
                                   {"validation", c->epoch, c->va, c->n, val}};
            chart_spec ls = {.title = lt, .x_label = "epoch", .y_label = "cross-entropy",
                             .y_from_zero = true, .x_integer = true, .series = loss, .n_series = 2};
            chart_spec as = {.title = at, .x_label = "epoch", .y_label = "accuracy",
                             .y_percent = true, .x_integer = true, .legend_low = true, .series = acc, .n_series = 2};
            chart_draw(&img, 0, head + k * panel_h, panel_w, panel_h - 6, &ls);
            chart_draw(&img, panel_w, head + k * panel_h, panel_w, panel_h - 6, &as);
        }
        s = png_write(png_path, &img);
    }
    image_free(&img);
    free(st);
    return s;
}
