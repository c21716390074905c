/* moecl eval: test accuracy, per-class accuracy and the confusion matrix
 * of a checkpoint. */
#include "cli.h"
#include "draw/heatmap.h"
#include "evaluate.h"
#include "train.h"

#include <stdlib.h>
#include <string.h>

static void print_routing_text(const model *m, const eval_result *r)
{
    if (r->n_experts == 0) return;
    printf("\nrouting (images by dominant expert; rows: experts, columns: true class):\n");
    printf("%-12s %7s %9s", "expert", "share", "mean gate");
    for (int c = 0; c < CIFAR_CLASSES; c++) printf("%6.5s", CIFAR_CLASS_NAMES[c]);
    printf("\n");
    char name[32];
    for (int k = 0; k < r->n_experts; k++) {
        printf("%-12.12s %6.1f%% %9.3f", model_expert_name(m, k, name, sizeof name), 100 * r->share[k],
               r->mean_gate[k]);
        for (int c = 0; c < CIFAR_CLASSES; c++) printf("%6d", r->routed[k][c]);
        printf("\n");
    }
    if (r->dropped > 0)
        printf("%d images dropped: their expert was full (they get a uniform prediction)\n",
               r->dropped);
    if (r->gate_accuracy >= 0)
        printf("gate accuracy (images routed to the expert of their class's group): %.2f%%\n",
               100 * r->gate_accuracy);
    if (r->collapsed) printf("WARNING: the gate has collapsed onto one expert\n");
    if (r->dead_expert) printf("WARNING: an expert is dead (dominant for under 1%% of images)\n");
}

static void print_text(const char *path, const eval_result *r)
{
    printf("%s: test accuracy %.2f%% (%d images), loss %.4f\n", path, 100 * r->accuracy, r->count,
           r->loss);
    printf("\nper class:\n");
    for (int k = 0; k < CIFAR_CLASSES; k++)
        printf("  %d %-11s %6.2f%% of %d\n", k, CIFAR_CLASS_NAMES[k], 100 * r->class_accuracy[k],
               r->class_count[k]);
    printf("\nconfusion matrix (rows: true class, columns: predicted):\n      ");
    for (int k = 0; k < CIFAR_CLASSES; k++) printf("%5.5s", CIFAR_CLASS_NAMES[k]);
    printf("\n");
    for (int t = 0; t < CIFAR_CLASSES; t++) {
        printf("%5.5s ", CIFAR_CLASS_NAMES[t]);
        for (int p = 0; p < CIFAR_CLASSES; p++) printf("%5d", r->confusion[t][p]);
        printf("\n");
    }
}

static void print_json(const char *path, const eval_result *r)
{
    printf("{\"checkpoint\": ");
    cli_json_string(stdout, path);
    printf(", \"count\": %d, \"accuracy\": %.6f, \"loss\": ", r->count, r->accuracy);
    moecl_json_number(stdout, r->loss, 6); /* null where the weights give NaN */
    printf(", \"classes\": [");
    for (int k = 0; k < CIFAR_CLASSES; k++)
        printf("%s{\"name\": \"%s\", \"count\": %d, \"accuracy\": %.6f}", k ? ", " : "",
               CIFAR_CLASS_NAMES[k], r->class_count[k], r->class_accuracy[k]);
    printf("], \"confusion\": [");
    for (int t = 0; t < CIFAR_CLASSES; t++) {
        printf("%s[", t ? ", " : "");
        for (int p = 0; p < CIFAR_CLASSES; p++) printf("%s%d", p ? ", " : "", r->confusion[t][p]);
        printf("]");
    }
    printf("]");
}

/* Staged models: each part that trains alone, on its own task (its classes;
 * the gate on the groups). */
static moecl_status eval_parts(model *m, const dataset *test, const normalizer *norm, float *host,
                               bool json)
{
    bool any = false;
    for (int s = 0; s < m->n_stages; s++) {
        const model_stage *ms = &m->stages[s];
        if (ms->alone < 0) continue;
        dataset sub = {0};
        eval_result r;
        MOECL_TRY(model_set_stage(m, s));
        moecl_status st = dataset_subset(test, ms->classes, &sub);
        if (st == MOECL_OK) st = evaluate(m, &sub, norm, host, &r);
        dataset_free(&sub);
        MOECL_TRY(st);
        if (json) {
            printf("%s{\"part\": ", any ? ", " : ", \"parts\": [");
            cli_json_string(stdout, m->parts[ms->alone]->name);
            printf(", \"count\": %d, \"accuracy\": %.6f}", r.count, r.accuracy);
        } else {
            if (!any) printf("\nparts on their own tasks:\n");
            printf("  %-20s %6.2f%% of %d images%s\n", m->parts[ms->alone]->name,
                   100 * r.accuracy, r.count,
                   m->head == HEAD_HIERARCHICAL && ms->alone == m->gate ? " (its task: which expert's group)" : " (on its classes)");
        }
        any = true;
    }
    if (json && any) printf("]");
    return model_set_stage(m, -1);
}

static void print_routing_json(const model *m, const eval_result *r)
{
    if (r->n_experts > 0) {
        printf(", \"experts\": [");
        char name[32];
        for (int k = 0; k < r->n_experts; k++) {
            printf("%s{\"name\": ", k ? ", " : "");
            cli_json_string(stdout, model_expert_name(m, k, name, sizeof name));
            printf(", \"share\": %.6f, \"mean_gate\": ", r->share[k]);
            moecl_json_number(stdout, r->mean_gate[k], 6);
            printf(", \"per_class\": [");
            for (int c = 0; c < CIFAR_CLASSES; c++) printf("%s%d", c ? ", " : "", r->routed[k][c]);
            printf("]}");
        }
        printf("], \"dead_expert\": %s, \"collapsed\": %s", r->dead_expert ? "true" : "false",
               r->collapsed ? "true" : "false");
        if (r->gate_accuracy >= 0) printf(", \"gate_accuracy\": %.6f", r->gate_accuracy);
        if (m->head == HEAD_SWITCH) printf(", \"dropped\": %d", r->dropped);
    }
    printf("}\n");
}

/* The confusion matrix as a picture: rows true classes, columns predicted. */
static moecl_status confusion_png(const char *path, const model *m, const char *checkpoint,
                                  const eval_result *r)
{
    char title[160], sub[1400];
    snprintf(title, sizeof title, "%s: confusion matrix", m->name);
    snprintf(sub, sizeof sub, "test accuracy %.2f%% on %d images; %s", 100 * r->accuracy, r->count,
             checkpoint);
    heatmap_spec h = {.title = title, .subtitle = sub, .row_title = "true class",
                      .col_title = "predicted class", .row_names = CIFAR_CLASS_NAMES,
                      .col_names = CIFAR_CLASS_NAMES, .rows = CIFAR_CLASSES, .cols = CIFAR_CLASSES,
                      .counts = &r->confusion[0][0], .mark_diagonal = true};
    image img = {0};
    moecl_status st = heatmap_render(&h, &img, NULL);
    if (st == MOECL_OK) st = png_write(path, &img);
    image_free(&img);
    return st;
}

int cmd_eval(const cli_globals *g, int argc, char **argv)
{
    const char *checkpoint = NULL, *data = NULL, *png = NULL;
    long limit = 0, batch = 100;
    bool json = false, synthetic = false;
    int tta = TTA_NONE;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc) checkpoint = argv[++i];
        else if (strcmp(argv[i], "--tta") == 0) { /* flips; or the level named next */
            tta = TTA_FLIP;
            if (i + 1 < argc && tta_parse(argv[i + 1], &tta)) i++;
        }
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--png") == 0 && i + 1 < argc) png = argv[++i];
        else if (strcmp(argv[i], "--synthetic") == 0) { /* optional count, as train's */
            long n = 0;
            synthetic = true;
            if (i + 1 < argc && cli_parse_long(argv[i + 1], &n) && n > 0) limit = n, i++;
        }
        else if (strcmp(argv[i], "--test-examples") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &limit) || limit < 1)
                return cli_usage_error("eval: --test-examples takes a positive whole number");
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &batch) || batch < 1)
                return cli_usage_error("eval: --batch takes a positive whole number");
        } else
            return cli_usage_error("eval: unknown option or missing value '%s'", argv[i]);
    }
    if (!checkpoint) return cli_usage_error("eval: --checkpoint FILE is required");
    moecl_ctx *ctx = NULL;
    int rc = cli_open_device(g, &ctx);
    if (rc) return rc;
    model *net = NULL;
    normalizer norm;
    dataset test = {0};
    float *host = NULL;
    eval_result r;
    moecl_status st = checkpoint_open(ctx, checkpoint, (int)batch, &net, &norm);
    if (st == MOECL_OK) {
        if (synthetic) {
            st = dataset_synthetic(limit > 0 ? (int)limit : 400, 1 + 1000003, &test);
        } else {
            char dir[1024];
            st = cifar10_locate(data, dir, sizeof dir);
            if (st == MOECL_OK) st = cifar10_load(dir, false, (int)limit, &test);
        }
    }
    if (st == MOECL_OK) {
        host = malloc((size_t)batch * CIFAR_IMAGE_BYTES * sizeof *host);
        net->tta = tta; /* the whole model's figures; each part's below plain */
        st = host ? evaluate(net, &test, &norm, host, &r) : MOECL_ERR_OUT_OF_MEMORY;
        net->tta = TTA_NONE;
    }
    if (st == MOECL_OK) {
        if (json) {
            print_json(checkpoint, &r);
            st = eval_parts(net, &test, &norm, host, true);
            print_routing_json(net, &r);
        } else {
            print_text(checkpoint, &r);
            print_routing_text(net, &r);
            st = eval_parts(net, &test, &norm, host, false);
        }
    }
    if (st == MOECL_OK) { /* default: runs/x/best.safetensors -> runs/x/best-confusion.png */
        char path[1200];
        size_t len = strlen(checkpoint);
        if (len > 12 && strcmp(checkpoint + len - 12, ".safetensors") == 0) len -= 12;
        if (png) snprintf(path, sizeof path, "%s", png);
        else snprintf(path, sizeof path, "%.*s-confusion.png", (int)len, checkpoint);
        st = confusion_png(path, net, checkpoint, &r);
        if (st == MOECL_OK) fprintf(json ? stderr : stdout, "%sconfusion matrix picture: %s\n", json ? "" : "\n", path);
    }
    free(host);
    dataset_free(&test);
    model_free(net);
    moecl_ctx_destroy(ctx);
    return st == MOECL_OK ? 0 : cli_report(st);
}
