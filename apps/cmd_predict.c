/* moecl predict: class probabilities, and the gate's route and weights,
 * for PNG images of any size (scaled to the network's 32x32). */
#include "cli.h"
#include "data.h"
#include "draw/image.h"
#include "evaluate.h"
#include "train.h"

#include <stdlib.h>
#include <string.h>

/* A PNG as one CIFAR-layout record: scaled to 32x32, channel planes. */
static moecl_status load_as_cifar(const char *path, uint8_t *planes, int *w, int *h)
{
    image src = {0}, small = {0};
    MOECL_TRY(png_read(path, &src));
    *w = src.w, *h = src.h;
    moecl_status st = image_resize(&src, 32, 32, &small);
    for (int i = 0; st == MOECL_OK && i < 1024; i++)
        for (int c = 0; c < 3; c++) planes[c * 1024 + i] = small.px[3 * i + c];
    image_free(&src);
    image_free(&small);
    return st;
}

static void print_text(const model *m, const char *path, int w, int h, const float *p, int expert,
                       const float *gates)
{
    int order[CIFAR_CLASSES];
    for (int c = 0; c < CIFAR_CLASSES; c++) order[c] = c;
    for (int a = 0; a < CIFAR_CLASSES; a++) /* by probability, largest first */
        for (int b = a + 1; b < CIFAR_CLASSES; b++)
            if (p[order[b]] > p[order[a]]) {
                int t = order[a];
                order[a] = order[b], order[b] = t;
            }
    printf("%s (%dx%d): %s %.1f%%\n  probabilities:", path, w, h, CIFAR_CLASS_NAMES[order[0]],
           100 * p[order[0]]);
    for (int c = 0; c < CIFAR_CLASSES; c++)
        printf(" %s %.1f%%", CIFAR_CLASS_NAMES[order[c]], 100 * p[order[c]]);
    printf("\n");
    int E = model_routed_experts(m);
    char name[32];
    if (E < 1) return;
    if (expert >= 0) printf("  route: %s", model_expert_name(m, expert, name, sizeof name));
    else printf("  route: dropped (its expert was full)");
    printf(" | gate weights:");
    for (int k = 0; k < E; k++) printf(" %s %.3f", model_expert_name(m, k, name, sizeof name), gates[k]);
    printf("\n");
}

static void print_json(const model *m, const char *path, int w, int h, const float *p, int expert,
                       const float *gates, bool first)
{
    printf("%s{\"file\": ", first ? "" : ",\n ");
    cli_json_string(stdout, path);
    int best = 0;
    for (int c = 1; c < CIFAR_CLASSES; c++)
        if (p[c] > p[best]) best = c;
    printf(", \"width\": %d, \"height\": %d, \"class\": \"%s\", \"probabilities\": {", w, h,
           CIFAR_CLASS_NAMES[best]);
    for (int c = 0; c < CIFAR_CLASSES; c++) {
        printf("%s\"%s\": ", c ? ", " : "", CIFAR_CLASS_NAMES[c]);
        moecl_json_number(stdout, p[c], 6); /* null where the weights give NaN */
    }
    printf("}");
    int E = model_routed_experts(m);
    char name[32];
    if (E > 0) {
        printf(", \"route\": ");
        if (expert >= 0) cli_json_string(stdout, model_expert_name(m, expert, name, sizeof name));
        else printf("null");
        printf(", \"gates\": {");
        for (int k = 0; k < E; k++) {
            printf("%s", k ? ", " : "");
            cli_json_string(stdout, model_expert_name(m, k, name, sizeof name));
            printf(": ");
            moecl_json_number(stdout, gates[k], 6);
        }
        printf("}");
    }
    printf("}");
}

int cmd_predict(const cli_globals *g, int argc, char **argv)
{
    const char *checkpoint = NULL;
    bool json = false;
    int tta = TTA_NONE;
    int n = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    if (!files) return cli_report(moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory"));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc) checkpoint = argv[++i];
        else if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--tta") == 0) { /* flips; or the level named next */
            tta = TTA_FLIP;
            if (i + 1 < argc && tta_parse(argv[i + 1], &tta)) i++;
        }
        else if (strncmp(argv[i], "--", 2) == 0) {
            free(files);
            return cli_usage_error("predict: unknown option or missing value '%s'", argv[i]);
        } else
            files[n++] = argv[i];
    }
    if (!checkpoint || n == 0) {
        free(files);
        return cli_usage_error("predict: usage: moecl predict --checkpoint F IMAGE.png...");
    }
    /* every image is read before the device opens: a bad file fails fast */
    dataset d = {.count = n, .labels = calloc((size_t)n, 1), .pixels = malloc((size_t)n * CIFAR_IMAGE_BYTES)};
    int *sizes = malloc((size_t)n * 2 * sizeof *sizes);
    moecl_status st = d.labels && d.pixels && sizes ? MOECL_OK : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; st == MOECL_OK && i < n; i++)
        st = load_as_cifar(files[i], d.pixels + (size_t)i * CIFAR_IMAGE_BYTES, &sizes[2 * i], &sizes[2 * i + 1]);
    moecl_ctx *ctx = NULL;
    model *m = NULL;
    normalizer norm;
    const int B = n < 64 ? n : 64;
    float *host = NULL, *probs = NULL, *gates = NULL;
    int *expert = NULL;
    if (st != MOECL_OK) goto done;
    int rc = cli_open_device(g, &ctx);
    if (rc) {
        free(files), free(sizes), dataset_free(&d);
        return rc;
    }
    st = checkpoint_open(ctx, checkpoint, B, &m, &norm);
    if (st != MOECL_OK) goto done;
    int K = model_routed_experts(m), E = K > 0 ? K : 1;
    host = malloc((size_t)B * CIFAR_IMAGE_BYTES * sizeof *host);
    probs = malloc((size_t)n * m->classes * sizeof *probs);
    gates = calloc((size_t)n * E, sizeof *gates);
    expert = malloc((size_t)n * sizeof *expert);
    if (!host || !probs || !gates || !expert) {
        st = moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    bool gated = K > 0;
    eval_result r; /* against label 0 for all: the images' classes are unknown */
    eval_images per_image = {.probs = probs, .expert = expert, .weights = gates};
    m->tta = tta;
    st = evaluate_images(m, &d, &norm, host, &r, &per_image);
    if (st == MOECL_OK && json) printf("[");
    for (int f = 0; st == MOECL_OK && f < n; f++) {
        const float *p = probs + (size_t)f * m->classes, *gw = gates + (size_t)f * E;
        int e = gated ? expert[f] : -1;
        if (json) print_json(m, files[f], sizes[2 * f], sizes[2 * f + 1], p, e, gw, f == 0);
        else print_text(m, files[f], sizes[2 * f], sizes[2 * f + 1], p, e, gw);
    }
    if (st == MOECL_OK && json) printf("]\n");
done:
    free(host), free(probs), free(gates), free(expert);
    free(files), free(sizes);
    dataset_free(&d);
    model_free(m);
    moecl_ctx_destroy(ctx);
    return st == MOECL_OK ? 0 : cli_report(st);
}
