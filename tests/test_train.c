/* Training end to end on synthetic data: the loss falls well below its
 * start; checkpoints round-trip and refuse corrupt or mismatched files;
 * a resumed run gives the same losses as an uninterrupted one. */
#include "check.h"
#include "checkpoint.h"
#include "train.h"

#include <unistd.h>

static moecl_ctx *ctx;
static char root[64];
static char model_path[512];

static train_options tiny_options(const char *name, int epochs)
{
    train_options o;
    train_options_defaults(&o);
    snprintf(o.model_path, sizeof o.model_path, "%s", model_path);
    snprintf(o.out_dir, sizeof o.out_dir, "%s/%s", root, name);
    o.synthetic = true;
    o.synthetic_count = 600;
    o.epochs = epochs;
    o.batch = 32;
    o.patience = 0;
    o.aug.flip = true;
    return o;
}

/* The n-th line (1-based) of a run's metrics.jsonl, "" if absent. */
static void metrics_line(const char *dir, int n, char *out, size_t size)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    for (int i = 0; f && i < n; i++)
        if (!fgets(out, (int)size, f)) out[0] = '\0';
    if (f) fclose(f);
}

static double field(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? atof(p + strlen(key) + 3) : NAN;
}

static int reflect31(int i) { return i < 0 ? -i : i > 31 ? 62 - i : i; }

/* The test images as one view of test-time augmentation: mirrored or not,
 * shifted by (dy, dx) with the border reflected. */
static dataset view_of(const dataset *test, bool mirrored, int dy, int dx)
{
    int n = test->count;
    dataset v = {.count = n, .labels = malloc((size_t)n), .pixels = malloc((size_t)n * CIFAR_IMAGE_BYTES)};
    memcpy(v.labels, test->labels, (size_t)n);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    v.pixels[(((size_t)i * 3 + c) * 32 + y) * 32 + x] =
                        test->pixels[(((size_t)i * 3 + c) * 32 + reflect31(y + dy)) * 32 +
                                     reflect31((mirrored ? 31 - x : x) + dx)];
    return v;
}

/* Test-time augmentation: each image's probabilities are the weighted mean
 * of its views' (flip: itself and its mirror image, 1/2 each; translate:
 * those 1/4 each, and both shifted by one pixel up-left and down-right,
 * 1/8 each), each view evaluated as a data set of its own; the
 * prediction their argmax, the loss -log of the mean at the label. */
static void check_tta(model *net, const dataset *test, const normalizer *norm, float *host, int level)
{
    int n = test->count, C = net->classes, views = level == TTA_FLIP ? 2 : 6;
    const char *what = level == TTA_FLIP ? "flip" : "translate";
    float *want = calloc((size_t)n * C, sizeof *want), *one = malloc((size_t)n * C * sizeof *one);
    float *tta = malloc((size_t)n * C * sizeof *tta), *plain = malloc((size_t)n * C * sizeof *plain);
    int *pred = malloc((size_t)n * sizeof *pred), differ = 0;
    for (int v = 0; v < views; v++) {
        int shift = v < 2 ? 0 : v < 4 ? -1 : 1;
        dataset d = view_of(test, v % 2 == 1, shift, shift);
        eval_result r;
        eval_images o = {.probs = one};
        CHECK(evaluate_images(net, &d, norm, host, &r, &o) == MOECL_OK, "view %d", v);
        float w = level == TTA_FLIP ? 0.5f : v < 2 ? 0.25f : 0.125f;
        for (size_t i = 0; i < (size_t)n * C; i++) {
            want[i] += w * one[i];
            if (v == 0) plain[i] = one[i];
            else differ += fabsf(one[i] - plain[i]) > 1e-3f;
        }
        dataset_free(&d);
    }
    eval_result r2;
    eval_images o2 = {.probs = tta, .pred = pred};
    net->tta = level;
    CHECK(evaluate_images(net, test, norm, host, &r2, &o2) == MOECL_OK, "tta");
    net->tta = TTA_NONE;
    double worst = 0, loss = 0;
    int correct = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int k = 0; k < C; k++) {
            worst = check_worst(worst, fabs(tta[i * C + k] - want[i * C + k]));
            if (want[i * C + k] > want[i * C + best]) best = k;
        }
        CHECK(pred[i] == best, "%s: image %d: the prediction is the mean's argmax", what, i);
        correct += best == test->labels[i];
        loss -= log(want[i * C + test->labels[i]]);
    }
    CHECK(worst < 1e-6, "%s TTA probabilities are the views' weighted mean (off by %g)", what, worst);
    CHECK(differ > 0, "%s: the views give other probabilities (else the test proves nothing)", what);
    CHECK(fabs(r2.accuracy - (double)correct / n) < 1e-9, "%s TTA accuracy from the means", what);
    CHECK(fabs(r2.loss - loss / n) < 1e-4 * (1 + loss / n), "%s TTA loss %g from the means %g", what,
          r2.loss, loss / n);
    free(want), free(one), free(tta), free(plain), free(pred);
}

static void test_loss_falls(void)
{
    train_options o = tiny_options("falls", 4);
    train_summary s;
    CHECK(train_run(ctx, &o, false, NULL, &s) == MOECL_OK, "%s", moecl_last_error());
    char first[512], last[512];
    metrics_line(o.out_dir, 1, first, sizeof first);
    metrics_line(o.out_dir, 4, last, sizeof last);
    double l0 = field(first, "\"train_loss\""), l3 = field(last, "\"train_loss\"");
    printf("synthetic training: train loss %.4f -> %.4f, test accuracy %.1f%%\n", l0, l3,
           100 * s.test.accuracy);
    CHECK(l3 < 0.5 * log(10.0), "loss %.4f fell well below ln(10) = 2.30", l3);
    CHECK(s.test.accuracy > 0.5, "test accuracy %.3f well above chance", s.test.accuracy);
    CHECK(!s.stuck_at_chance && s.epochs_run == 4, "a finished, learning run");
    char path[1200];
    const char *files[] = {"best.safetensors", "last.safetensors", "state.safetensors",
                           "metrics.jsonl", "model.json", "options.json"};
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", o.out_dir, files[i]);
        CHECK(access(path, R_OK) == 0, "%s written", files[i]);
    }
    /* the best checkpoint reloads with the same test accuracy */
    model *net = NULL;
    normalizer norm;
    snprintf(path, sizeof path, "%s/best.safetensors", o.out_dir);
    CHECK(checkpoint_open(ctx, path, 50, &net, &norm) == MOECL_OK, "%s", moecl_last_error());
    if (net) {
        dataset test;
        dataset_synthetic(120, o.seed + 1000003, &test);
        float *host = malloc(50 * CIFAR_IMAGE_BYTES * sizeof *host);
        eval_result r;
        CHECK(evaluate(net, &test, &norm, host, &r) == MOECL_OK, "%s", moecl_last_error());
        CHECK(fabs(r.accuracy - s.test.accuracy) < 1e-9, "reloaded accuracy %.4f vs %.4f",
              r.accuracy, s.test.accuracy);
        check_tta(net, &test, &norm, host, TTA_FLIP);
        check_tta(net, &test, &norm, host, TTA_TRANSLATE);
        free(host);
        dataset_free(&test);
        model_free(net);
    }
}

static void test_resume_equals_uninterrupted(void)
{
    train_options a = tiny_options("straight", 3), b = tiny_options("resumed", 1);
    train_summary s;
    CHECK(train_run(ctx, &a, false, NULL, &s) == MOECL_OK, "%s", moecl_last_error());
    CHECK(train_run(ctx, &b, false, NULL, &s) == MOECL_OK, "%s", moecl_last_error());
    b.epochs = 3;
    CHECK(train_run(ctx, &b, true, NULL, &s) == MOECL_OK, "%s", moecl_last_error());
    for (int e = 1; e <= 3; e++) {
        char la[512], lb[512];
        metrics_line(a.out_dir, e, la, sizeof la);
        metrics_line(b.out_dir, e, lb, sizeof lb);
        CHECK(la[0] && field(la, "\"train_loss\"") == field(lb, "\"train_loss\"") &&
                  field(la, "\"val_loss\"") == field(lb, "\"val_loss\""),
              "epoch %d: same losses\n  %s  %s", e, la, lb);
    }
}

static void test_checkpoint_errors(void)
{
    int shape[2] = {3, 5}, other[2] = {5, 3};
    moecl_tensor *t = NULL, *u = NULL, *w = NULL;
    moecl_tensor_create(ctx, 2, shape, &t);
    moecl_tensor_create(ctx, 2, shape, &u);
    moecl_tensor_create(ctx, 2, other, &w);
    float h[15], back[15];
    for (int i = 0; i < 15; i++) h[i] = (float)i * 0.25f - 1.0f;
    moecl_tensor_upload(t, h, 15);
    char path[1200];
    snprintf(path, sizeof path, "%s/check.safetensors", root);
    st_tensor save[1] = {{"layer.kernel", t}};
    st_meta meta[1] = {{"note", "hello \"quoted\""}};
    CHECK(safetensors_save(path, save, 1, meta, 1) == MOECL_OK, "%s", moecl_last_error());
    /* the layout PyTorch and NumPy readers expect */
    char *file = NULL;
    size_t size = 0;
    moecl_read_file(path, &file, &size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)(unsigned char)file[i] << (8 * i);
    CHECK(hlen % 8 == 0 && 8 + hlen + 60 == size, "header length %llu, file %zu",
          (unsigned long long)hlen, size);
    CHECK(strstr(file + 8, "\"dtype\":\"F32\"") && strstr(file + 8, "\"shape\":[3,5]") &&
              strstr(file + 8, "\"data_offsets\":[0,60]"),
          "header fields");
    float first;
    memcpy(&first, file + 8 + hlen, 4);
    CHECK(first == -1.0f, "raw little-endian data follows the header");
    free(file);

    st_tensor load[1] = {{"layer.kernel", u}};
    CHECK(safetensors_load(path, load, 1) == MOECL_OK, "%s", moecl_last_error());
    moecl_tensor_download(u, back, 15);
    CHECK(memcmp(h, back, sizeof h) == 0, "read back equal");
    char *note = NULL;
    safetensors_meta(path, "note", &note);
    CHECK(note && strcmp(note, "hello \"quoted\"") == 0, "metadata round trip");
    free(note);

    st_tensor mismatch[1] = {{"layer.kernel", w}};
    CHECK(safetensors_load(path, mismatch, 1) == MOECL_ERR_FORMAT, "another shape is refused");
    CHECK(strstr(moecl_last_error(), "[5, 3]") != NULL, "%s", moecl_last_error());
    st_tensor missing[1] = {{"layer.bias", u}};
    CHECK(safetensors_load(path, missing, 1) == MOECL_ERR_FORMAT, "a missing tensor is refused");
    CHECK(strstr(moecl_last_error(), "layer.bias") != NULL, "%s", moecl_last_error());
    /* loading what matches: the tensor of the same name and shape only */
    float zeros[15] = {0};
    moecl_tensor_upload(u, zeros, 15);
    st_tensor some[3] = {{"layer.bias", w}, {"layer.kernel", u}, {"layer.kernel", w}};
    bool loaded[3] = {true, false, true};
    CHECK(safetensors_load_matching(path, some, 3, loaded) == MOECL_OK, "%s", moecl_last_error());
    CHECK(!loaded[0] && loaded[1] && !loaded[2], "loaded: absent %d, same shape %d, other shape %d",
          loaded[0], loaded[1], loaded[2]);
    moecl_tensor_download(u, back, 15);
    CHECK(memcmp(h, back, sizeof h) == 0, "the matching tensor read back equal");

    truncate(path, (off_t)(size - 10));
    CHECK(safetensors_load(path, load, 1) == MOECL_ERR_FORMAT, "a truncated file is refused");
    CHECK(strstr(moecl_last_error(), "truncated") != NULL, "%s", moecl_last_error());
    FILE *f = fopen(path, "r+b");
    fwrite("\xff\xff\xff\xff\xff\xff\xff\x7f", 1, 8, f);
    fclose(f);
    CHECK(safetensors_load(path, load, 1) == MOECL_ERR_FORMAT, "a corrupt length is refused");
    f = fopen(path, "r+b");
    fwrite("\x10\0\0\0\0\0\0\0{{{{not json}}}}", 1, 24, f);
    fclose(f);
    CHECK(safetensors_load(path, load, 1) == MOECL_ERR_FORMAT, "a corrupt header is refused");
    CHECK(strstr(moecl_last_error(), path) != NULL, "names the file: %s", moecl_last_error());
    moecl_tensor_destroy(t), moecl_tensor_destroy(u), moecl_tensor_destroy(w);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_train path/to/tiny.json\n");
        return 2;
    }
    snprintf(model_path, sizeof model_path, "%s", argv[1]);
    snprintf(root, sizeof root, "/tmp/moecl-train-test-XXXXXX");
    if (!mkdtemp(root)) return 1;
    ctx = check_open_device(NULL);
    test_checkpoint_errors();
    test_loss_falls();
    test_resume_equals_uninterrupted();
    moecl_ctx_destroy(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return check_summary("test_train");
}
