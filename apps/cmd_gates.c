/* moecl gates: the gate's decisions on test images as a PNG grid (one band
 * per expert) and a class-by-expert routing heat map. */
#include "cli.h"
#include "data.h"
#include "draw/gate_grid.h"
#include "draw/heatmap.h"
#include "evaluate.h"
#include "train.h"

#include <stdlib.h>
#include <string.h>

typedef struct gates_options {
    const char *checkpoint, *data, *out, *heatmap;
    long count, limit, batch, scale, columns;
    bool synthetic;
} gates_options;

/* "gates.png" -> "gates-routing.png" */
static void sibling_path(const char *path, const char *suffix, char *out, size_t size)
{
    size_t len = strlen(path);
    if (len > 4 && strcmp(path + len - 4, ".png") == 0) len -= 4;
    snprintf(out, size, "%.*s%s", (int)len, path, suffix);
}

static int parse(int argc, char **argv, gates_options *o)
{
    *o = (gates_options){.out = "gates.png", .count = 60, .batch = 100, .scale = 3, .columns = 12};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *number = strcmp(a, "--count") == 0          ? &o->count
                       : strcmp(a, "--test-examples") == 0 ? &o->limit
                       : strcmp(a, "--batch") == 0         ? &o->batch
                       : strcmp(a, "--scale") == 0         ? &o->scale
                       : strcmp(a, "--columns") == 0       ? &o->columns
                                                           : NULL;
        long n = 0;
        if (strcmp(a, "--synthetic") == 0) { /* optional count, as train's */
            o->synthetic = true;
            if (i + 1 < argc && cli_parse_long(argv[i + 1], &n) && n > 0) o->limit = n, i++;
        }
        else if (i + 1 >= argc) return cli_usage_error("gates: unknown option or missing value '%s'", a);
        else if (strcmp(a, "--checkpoint") == 0) o->checkpoint = argv[++i];
        else if (strcmp(a, "--data") == 0) o->data = argv[++i];
        else if (strcmp(a, "--out") == 0) o->out = argv[++i];
        else if (strcmp(a, "--heatmap") == 0) o->heatmap = argv[++i];
        else if (number) {
            if (!cli_parse_long(argv[++i], number) || *number < 1)
                return cli_usage_error("gates: %s takes a positive whole number", a);
        } else
            return cli_usage_error("gates: unknown option '%s'", a);
    }
    if (!o->checkpoint) return cli_usage_error("gates: --checkpoint FILE is required");
    if (o->scale != 2 && o->scale != 3) return cli_usage_error("gates: --scale must be 2 or 3");
    if (o->count > 1000) return cli_usage_error("gates: --count is at most 1000 (a readable picture)");
    return 0;
}

/* r: the evaluation of every test image (shares, images per expert and
 * class); pred, expert, weights: per image. */
static moecl_status draw(const gates_options *o, const char *heatmap_path, model *m,
                         const dataset *test, const eval_result *r, const int *pred,
                         const int *expert, const float *weights)
{
    int E = model_routed_experts(m), shown = test->count < o->count ? test->count : (int)o->count;
    gate_grid_spec s = {.n_experts = E, .evaluated = test->count, .class_names = CIFAR_CLASS_NAMES,
                        .scale = (int)o->scale, .columns = (int)o->columns, .count = shown,
                        .bars = true};
    gate_tile *tiles = calloc((size_t)(shown ? shown : 1), sizeof *tiles);
    if (!tiles) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    int dropped_of_class[CIFAR_CLASSES] = {0}; /* the evaluation counts drops only in all */
    for (int i = 0; i < test->count; i++) dropped_of_class[test->labels[i]] += expert[i] < 0;
    char names[GATE_GRID_MAX_EXPERTS][32];
    for (int k = 0; k < E; k++) {
        s.expert_names[k] = model_expert_name(m, k, names[k], sizeof names[k]);
        s.share[k] = r->share[k];
    }
    for (int i = 0; i < shown; i++) {
        tiles[i] = (gate_tile){.pixels = test->pixels + (size_t)i * CIFAR_IMAGE_BYTES,
                               .label = test->labels[i], .pred = pred[i], .expert = expert[i]};
        for (int k = 0; k < E; k++) tiles[i].weights[k] = weights[(size_t)i * E + k];
    }
    char layer_kind[120];
    if (model_layer_gate(m))
        snprintf(layer_kind, sizeof layer_kind, "the soft gate of layer %s (bands: largest weight)",
                 model_layer_gate(m)->name);
    const char *kind = m->head == HEAD_HIERARCHICAL ? "hard binary gate (the route)"
                       : m->head == HEAD_SWITCH     ? "switch top-1 router"
                       : m->head == HEAD_TOPK       ? "top-k gate (bands: first choice)"
                       : model_layer_gate(m)        ? layer_kind
                                                    : "soft gate (bands: largest weight)";
    char title[160], subtitle[300];
    snprintf(title, sizeof title, "%s: gate decisions", m->name);
    snprintf(subtitle, sizeof subtitle, "%s; the first %d of %d test images; %s", kind, shown,
             test->count, o->checkpoint);
    s.title = title, s.subtitle = subtitle, s.tiles = tiles;
    s.weight_name = m->head == HEAD_HIERARCHICAL ? "gate probability" : "gate weight";
    image img = {0};
    moecl_status st = gate_grid_render(&s, &img, NULL);
    if (st == MOECL_OK) st = png_write(o->out, &img);
    image_free(&img);
    /* the heat map: classes x experts (and dropped, if any) */
    const char *cols[GATE_GRID_MAX_EXPERTS + 1];
    for (int k = 0; k < E; k++) cols[k] = s.expert_names[k];
    cols[E] = "dropped";
    int ncols = E + (r->dropped > 0);
    int *counts = malloc((size_t)CIFAR_CLASSES * ncols * sizeof *counts);
    if (st == MOECL_OK && !counts) st = moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    for (int c = 0; st == MOECL_OK && c < CIFAR_CLASSES; c++)
        for (int k = 0; k < ncols; k++) counts[c * ncols + k] = k < E ? r->routed[k][c] : dropped_of_class[c];
    char htitle[160], hsub[300];
    snprintf(htitle, sizeof htitle, "%s: routing by class", m->name);
    snprintf(hsub, sizeof hsub, "test images per true class and expert (%d images; %s)", test->count, kind);
    heatmap_spec h = {.title = htitle, .subtitle = hsub, .row_title = "true class",
                      .col_title = "expert", .row_names = CIFAR_CLASS_NAMES, .col_names = cols,
                      .rows = CIFAR_CLASSES, .cols = ncols, .counts = counts};
    if (st == MOECL_OK) st = heatmap_render(&h, &img, NULL);
    if (st == MOECL_OK) st = png_write(heatmap_path, &img);
    image_free(&img);
    if (st == MOECL_OK) {
        printf("%s: %d test images in %d bands\n", o->out, shown, E + (r->dropped > 0));
        for (int k = 0; k < E; k++)
            printf("  %-20s %5.1f%% of %d test images\n", s.expert_names[k], 100 * s.share[k], test->count);
        if (r->dropped) printf("  %-20s %5d images (their expert was full)\n", "dropped", r->dropped);
        printf("%s: routing heat map, classes x experts\n", heatmap_path);
    }
    free(counts), free(tiles);
    return st;
}

int cmd_gates(const cli_globals *g, int argc, char **argv)
{
    gates_options o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    char heatmap_path[1200];
    if (o.heatmap) snprintf(heatmap_path, sizeof heatmap_path, "%s", o.heatmap);
    else sibling_path(o.out, "-routing.png", heatmap_path, sizeof heatmap_path);
    moecl_ctx *ctx = NULL;
    rc = cli_open_device(g, &ctx);
    if (rc) return rc;
    model *m = NULL;
    normalizer norm;
    dataset test = {0};
    int *pred = NULL, *expert = NULL;
    float *weights = NULL;
    moecl_status st = checkpoint_open(ctx, o.checkpoint, (int)o.batch, &m, &norm);
    int K = st == MOECL_OK ? model_routed_experts(m) : 0;
    if (st == MOECL_OK && K < 1)
        st = moecl_fail(MOECL_ERR_INVALID_ARG,
                        "%s: model '%s' has no gate that decides per image, so there are no gate "
                        "decisions to draw (a Conv2DMoE layer gates each position)", o.checkpoint, m->name);
    if (st == MOECL_OK && K > GATE_GRID_MAX_EXPERTS)
        st = moecl_fail(MOECL_ERR_INVALID_ARG, "%s: %d experts; the picture shows at most %d",
                        o.checkpoint, K, GATE_GRID_MAX_EXPERTS);
    if (st == MOECL_OK) {
        if (o.synthetic) {
            st = dataset_synthetic(o.limit > 0 ? (int)o.limit : 400, 1 + 1000003, &test);
        } else {
            char dir[1024];
            st = cifar10_locate(o.data, dir, sizeof dir);
            if (st == MOECL_OK) st = cifar10_load(dir, false, (int)o.limit, &test);
        }
    }
    if (st == MOECL_OK) {
        pred = malloc((size_t)test.count * sizeof *pred);
        expert = malloc((size_t)test.count * sizeof *expert);
        weights = malloc((size_t)test.count * K * sizeof *weights);
        st = pred && expert && weights ? MOECL_OK : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    float *host = st == MOECL_OK ? malloc((size_t)o.batch * CIFAR_IMAGE_BYTES * sizeof *host) : NULL;
    eval_result r;
    eval_images per_image = {.pred = pred, .expert = expert, .weights = weights};
    if (st == MOECL_OK) st = host ? evaluate_images(m, &test, &norm, host, &r, &per_image)
                                  : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == MOECL_OK) st = draw(&o, heatmap_path, m, &test, &r, pred, expert, weights);
    free(host), free(pred), free(expert), free(weights);
    dataset_free(&test);
    model_free(m);
    moecl_ctx_destroy(ctx);
    return st == MOECL_OK ? 0 : cli_report(st);
}
