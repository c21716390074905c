/* moecl report RUN_DIR... [--baseline RUN_DIR] [--markdown] [--png F]:
 * finished runs side by side from their result.json: test accuracy,
 * epochs, minutes, accuracy per minute, each stage of a staged model, and
 * whether a mixture beats its own baseline (a staged model's "baseline"
 * stage, else the run given with --baseline); --png draws accuracy against
 * minutes. */
#include "cli.h"
#include "draw/result_chart.h"
#include "run_result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_MAX_RUNS 64

/* The accuracy a run's mixture is compared with, or < 0 for none; *what
 * names it. */
static double own_baseline(const run_result *r, const run_result *baseline, const char **what)
{
    for (int k = 0; k < r->n_stages; k++)
        if (strcmp(r->stages[k].name, "baseline") == 0 && r->stages[k].test_images == r->test_images) {
            *what = "its baseline stage";
            return r->stages[k].test_accuracy;
        }
    if (baseline && baseline != r) {
        *what = "--baseline";
        return baseline->test_accuracy;
    }
    *what = "";
    return -1;
}

static void format_versus(const run_result *r, const run_result *baseline, char *out, size_t size)
{
    const char *what = "";
    double b = own_baseline(r, baseline, &what);
    if (r == baseline) snprintf(out, size, "(the baseline)");
    else if (b < 0) snprintf(out, size, "-");
    else
        snprintf(out, size, "%+.2f (%s, %s)", 100 * (r->test_accuracy - b), what,
                 r->test_accuracy > b ? "beats it" : "does not beat it");
}

static void print_run(const char *dir, const run_result *r, const run_result *baseline, bool md)
{
    char versus[96];
    format_versus(r, baseline, versus, sizeof versus);
    double per_min = r->train_minutes > 0 ? 100 * r->test_accuracy / r->train_minutes : 0;
    bool taken = false; /* stages from --weights: the minutes leave out their training */
    for (int k = 0; k < r->n_stages; k++) taken |= r->stages[k].from_weights;
    const char *flag = r->at_chance ? " AT CHANCE: not a finished result"
                       : taken ? " (stages from --weights: their training is not in the minutes)"
                               : "";
    if (md)
        printf("| %s | %s | %d | %.1f | %.2f%% | %.2f%% | %.2f | %s%s |\n", dir, r->model, r->epochs,
               r->train_minutes, 100 * r->best_val_accuracy, 100 * r->test_accuracy, per_min, versus,
               flag);
    else
        printf("%-28s %-12s %6d %8.1f %8.2f%% %8.2f%% %7.2f  %s%s\n", dir, r->model, r->epochs,
               r->train_minutes, 100 * r->best_val_accuracy, 100 * r->test_accuracy, per_min, versus,
               flag);
    for (int k = 0; k < r->n_stages; k++) {
        const run_stage_result *s = &r->stages[k];
        char task[48];
        snprintf(task, sizeof task, "%d-way, %d images", s->targets, s->test_images);
        const char *note = s->at_chance ? "AT CHANCE"
                           : s->from_weights ? "from --weights, not trained in this run" : "";
        /* A stage taken from --weights has no epochs or validation in this
         * run (they are in the run that trained it): dashes, not zeros. */
        char epochs[32], val[16];
        if (s->from_weights) {
            snprintf(epochs, sizeof epochs, "%s", md ? "-" : "         -         ");
            snprintf(val, sizeof val, "%s", md ? "-" : "      -");
        } else {
            snprintf(epochs, sizeof epochs, md ? "%d (best %d)" : "%2d epochs (best %2d)", s->epochs,
                     s->best_epoch);
            snprintf(val, sizeof val, md ? "%.2f%%" : "%6.2f%%", 100 * s->best_val_accuracy);
        }
        if (md)
            printf("| &nbsp;&nbsp;stage %s | %s | %s | | %s | %.2f%% | | %s |\n", s->name, task,
                   epochs, val, 100 * s->test_accuracy, note);
        else
            printf("  stage %-20s %-20s %s val %s test %6.2f%%%s%s\n", s->name, task, epochs, val,
                   100 * s->test_accuracy, note[0] ? "  " : "", note);
    }
}

/* The legend's name of a run: its model, and its folder where that says more. */
static void point_label(const char *dir, const run_result *r, bool is_baseline, char *out,
                        size_t size)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/') start--;
    int base_len = (int)(len - start);
    const char *tail = is_baseline ? ", baseline" : r->at_chance ? ", at chance" : "";
    if ((size_t)base_len == strlen(r->model) && strncmp(dir + start, r->model, len - start) == 0)
        snprintf(out, size, "%s%s", r->model, tail);
    else
        snprintf(out, size, "%s (%.*s)%s", r->model, base_len, dir + start, tail);
}

static int write_chart(const char *png, const char *const *dirs, const run_result *runs, int n,
                       const run_result *baseline, const char *baseline_dir)
{
    /* the baseline given only by --baseline is drawn too, first */
    bool extra = baseline == &runs[n];
    int count = n + extra;
    result_point *pts = calloc((size_t)count, sizeof *pts);
    char(*labels)[96] = calloc((size_t)count, sizeof *labels);
    int rc = 0;
    if (!pts || !labels) rc = cli_report(MOECL_ERR_OUT_OF_MEMORY);
    for (int i = 0; i < count && rc == 0; i++) {
        const run_result *r = extra ? (i == 0 ? baseline : &runs[i - 1]) : &runs[i];
        const char *dir = extra ? (i == 0 ? baseline_dir : dirs[i - 1]) : dirs[i];
        point_label(dir, r, r == baseline, labels[i], sizeof labels[i]);
        pts[i] = (result_point){labels[i], r->train_minutes, r->test_accuracy};
    }
    if (rc == 0) {
        moecl_status st = result_chart_png(png, pts, count);
        if (st != MOECL_OK) rc = cli_report(st);
        else fprintf(stderr, "moecl: wrote %s\n", png);
    }
    free(pts);
    free(labels);
    return rc;
}

int cmd_report(const cli_globals *g, int argc, char **argv)
{
    (void)g;
    const char *dirs[REPORT_MAX_RUNS];
    int n = 0;
    const char *baseline_dir = NULL, *png = NULL;
    bool md = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--baseline") == 0 && i + 1 < argc) baseline_dir = argv[++i];
        else if (strcmp(argv[i], "--markdown") == 0) md = true;
        else if (strcmp(argv[i], "--png") == 0 && i + 1 < argc) png = argv[++i];
        else if (argv[i][0] == '-') return cli_usage_error("report: unknown option or missing value '%s'", argv[i]);
        else if (n == REPORT_MAX_RUNS) return cli_usage_error("report: at most %d runs", REPORT_MAX_RUNS);
        else dirs[n++] = argv[i];
    }
    if (n == 0 && !baseline_dir)
        return cli_usage_error("report: usage: moecl report RUN_DIR... [--baseline RUN_DIR] [--markdown] [--png F]");
    run_result *runs = calloc((size_t)n + 1, sizeof *runs);
    if (!runs) return cli_report(MOECL_ERR_OUT_OF_MEMORY);
    int rc = 0;
    run_result *baseline = NULL;
    if (baseline_dir) {
        baseline = &runs[n];
        moecl_status st = run_result_read(baseline_dir, baseline);
        if (st != MOECL_OK) rc = cli_report(st);
    }
    for (int i = 0; i < n && rc == 0; i++) {
        moecl_status st = run_result_read(dirs[i], &runs[i]);
        if (st != MOECL_OK) rc = cli_report(st);
        if (baseline_dir && strcmp(dirs[i], baseline_dir) == 0) baseline = &runs[i];
    }
    if (rc == 0 && baseline) {
        for (int i = 0; i < n; i++)
            if (&runs[i] != baseline && runs[i].test_images != baseline->test_images)
                fprintf(stderr, "moecl: warning: %s was tested on %d images, the baseline %s on %d: "
                                "the comparison is not like for like\n",
                        dirs[i], runs[i].test_images, baseline_dir, baseline->test_images);
    }
    if (rc == 0) {
        if (md)
            printf("| run | model | epochs | train min | val acc | test acc | test acc per min | "
                   "against its baseline |\n|---|---|---|---|---|---|---|---|\n");
        else
            printf("%-28s %-12s %6s %8s %9s %9s %7s  %s\n", "run", "model", "epochs", "minutes",
                   "val acc", "test acc", "acc/min", "against its baseline");
        if (baseline == &runs[n]) print_run(baseline_dir, baseline, baseline, md);
        for (int i = 0; i < n; i++) print_run(dirs[i], &runs[i], baseline, md);
    }
    if (rc == 0 && png) rc = write_chart(png, dirs, runs, n, baseline, baseline_dir);
    free(runs);
    return rc;
}
