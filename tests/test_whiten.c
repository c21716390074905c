/* Whitening convolutions: the eigen-solver against its definition, the
 * kernel whitening the patches it was measured on (odd sizes and window),
 * and through a real training run: measured on the run's training images
 * at the start, unchanged by training. */
#include "check.h"
#include "checkpoint.h"
#include "train.h"
#include "whiten.h"

#include <unistd.h>

static moecl_ctx *ctx;
static char root[64];

static void test_eigen(void)
{
    enum { D = 12 };
    double a[D * D], copy[D * D], val[D], vec[D * D];
    unsigned seed = 11;
    for (int i = 0; i < D; i++)
        for (int j = 0; j <= i; j++) a[i * D + j] = a[j * D + i] = check_random(&seed);
    memcpy(copy, a, sizeof a);
    whiten_eigen(a, D, val, vec);
    double worst = 0, ortho = 0;
    for (int e = 0; e < D; e++)
        for (int i = 0; i < D; i++) {
            double av = 0;
            for (int k = 0; k < D; k++) av += copy[i * D + k] * vec[k * D + e];
            worst = check_worst(worst, fabs(av - val[e] * vec[i * D + e]));
            double dot = 0;
            for (int k = 0; k < D; k++) dot += vec[k * D + e] * vec[k * D + i];
            ortho = check_worst(ortho, fabs(dot - (i == e)));
        }
    CHECK(worst < 1e-9 && ortho < 1e-9, "A v = lambda v off by %g, V^T V = I off by %g", worst, ortho);
}

/* Images whose neighbouring pixels and channels are correlated, as real
 * ones are: the whitened responses are then far from the raw pixels. */
static float *correlated_images(int n, int C, int H, int W)
{
    size_t count = (size_t)n * C * H * W;
    float *x = malloc(count * sizeof *x);
    unsigned seed = 5;
    for (int i = 0; i < n; i++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                float base = check_random(&seed);
                for (int c = 0; c < C; c++) {
                    size_t at = (((size_t)i * C + c) * H + y) * W + xx;
                    float left = xx > 0 ? x[at - 1] : 0;
                    x[at] = 0.7f * left + base + 0.3f * check_random(&seed) + 0.2f * c;
                }
            }
    return x;
}

static void test_kernel_whitens(void)
{
    enum { N = 37, C = 3, H = 9, W = 11, KH = 2, KW = 3, D = C * KH * KW };
    float *x = correlated_images(N, C, H, W);
    float kernel[2 * D * D];
    REQUIRE_OK(whiten_kernel(x, N, C, H, W, KH, KW, WHITEN_EPS, kernel));
    /* the responses' second moments over every patch: near the identity
     * (each lambda / (lambda + eps), the largest directions first) */
    double m[D][D] = {{0}};
    long count = 0;
    for (int i = 0; i < N; i++)
        for (int y = 0; y + KH <= H; y++)
            for (int xx = 0; xx + KW <= W; xx++, count++) {
                double r[D];
                for (int f = 0; f < D; f++) {
                    r[f] = 0;
                    for (int c = 0, k = 0; c < C; c++)
                        for (int u = 0; u < KH; u++)
                            for (int v = 0; v < KW; v++, k++)
                                r[f] += kernel[f * D + k] * x[(((size_t)i * C + c) * H + y + u) * W + xx + v];
                }
                for (int f = 0; f < D; f++)
                    for (int g = 0; g < D; g++) m[f][g] += r[f] * r[g];
            }
    double off = 0, low = 1, high = 0, order = 0, mirror = 0;
    for (int f = 0; f < D; f++) {
        for (int g = 0; g < D; g++)
            if (f != g) off = check_worst(off, fabs(m[f][g] / count));
        double diag = m[f][f] / count;
        low = diag < low ? diag : low;
        high = diag > high ? diag : high;
        if (f > 0) order = check_worst(order, diag - m[f - 1][f - 1] / count);
        for (int k = 0; k < D; k++) mirror = check_worst(mirror, fabs(kernel[(f + D) * D + k] + kernel[f * D + k]));
    }
    CHECK(off < 1e-4, "whitened responses are uncorrelated (off-diagonal %g)", off);
    CHECK(high <= 1.0 + 1e-6 && m[0][0] / count > 0.99 && low > 0.3,
          "unit variance but for eps: diagonal %g .. %g", low, high);
    CHECK(order < 1e-9, "largest directions first (a later one larger by %g)", order);
    CHECK(mirror == 0, "the second half is the first negated (off by %g)", mirror);

    /* eps damps each direction to variance lambda / (lambda + eps); with
     * eps 0 a filter's squared norm is 1 / lambda (unit eigenvectors) */
    float plain[2 * D * D], damped[2 * D * D];
    REQUIRE_OK(whiten_kernel(x, N, C, H, W, KH, KW, 0.0, plain));
    REQUIRE_OK(whiten_kernel(x, N, C, H, W, KH, KW, 0.5, damped));
    double worst = 0;
    for (int f = 0; f < D; f++) {
        double n0 = 0, n1 = 0;
        for (int k = 0; k < D; k++) n0 += (double)plain[f * D + k] * plain[f * D + k],
                                    n1 += (double)damped[f * D + k] * damped[f * D + k];
        double lambda = 1 / n0; /* damped variance lambda n1 = lambda / (lambda + eps) */
        worst = check_worst(worst, fabs(lambda * n1 - lambda / (lambda + 0.5)));
    }
    CHECK(worst < 1e-5, "eps 0.5 damps each direction to lambda / (lambda + eps) (off by %g)", worst);
    free(x);
}

static void test_training_keeps_it(void)
{
    char model_path[256];
    snprintf(model_path, sizeof model_path, "%s/whiten.json", root);
    FILE *f = fopen(model_path, "w");
    fputs("{\"name\": \"whiten\", \"input\": [3, 32, 32], \"classes\": 10, \"layers\": ["
          "{\"type\": \"conv2d\", \"filters\": 24, \"kernel_size\": 2, \"use_bias\": false, \"init\": \"whiten\","
          "\"whiten_eps\": 0.01},"
          "{\"type\": \"gelu\"}, {\"type\": \"conv2d\", \"filters\": 6, \"kernel_size\": 3},"
          "{\"type\": \"maxpool\", \"pool_size\": 4}, {\"type\": \"flatten\"},"
          "{\"type\": \"dense\", \"units\": 10}]}", f);
    fclose(f);
    train_options o;
    train_options_defaults(&o);
    snprintf(o.model_path, sizeof o.model_path, "%s", model_path);
    snprintf(o.out_dir, sizeof o.out_dir, "%s/run", root);
    o.synthetic = true;
    o.synthetic_count = 300;
    o.epochs = 2;
    o.batch = 50;
    o.patience = 0;
    train_summary s;
    REQUIRE_OK(train_run(ctx, &o, false, NULL, &s));
    /* the same training images, as the run split and normalised them */
    dataset all, val;
    REQUIRE_OK(dataset_synthetic(300 + 30, o.seed, &all));
    REQUIRE_OK(dataset_split_tail(&all, 30, &val));
    normalizer norm = normalizer_fit(&all);
    float *x = malloc((size_t)300 * CIFAR_IMAGE_BYTES * sizeof *x);
    int idx[300], labels[300];
    for (int i = 0; i < 300; i++) idx[i] = i;
    dataset_make_batch(&all, idx, 300, &norm, NULL, NULL, x, labels, NULL);
    float want[24 * 12], got[24 * 12], other[6 * 24 * 9];
    REQUIRE_OK(whiten_kernel(x, 300, 3, 32, 32, 2, 2, 0.01, want));
    int shape[4] = {24, 3, 2, 2}, shape2[4] = {6, 24, 3, 3};
    moecl_tensor *t = NULL, *t2 = NULL;
    REQUIRE_OK(moecl_tensor_create(ctx, 4, shape, &t));
    REQUIRE_OK(moecl_tensor_create(ctx, 4, shape2, &t2));
    char path[1200];
    snprintf(path, sizeof path, "%s/last.safetensors", o.out_dir);
    st_tensor load[2] = {{"conv2d_0.kernel", t}, {"conv2d_2.kernel", t2}};
    bool loaded[2] = {false, false};
    CHECK(safetensors_load_matching(path, load, 2, loaded) == MOECL_OK && loaded[0] && loaded[1],
          "the kernels in %s: %s", path, moecl_last_error());
    moecl_tensor_download(t, got, 24 * 12);
    moecl_tensor_download(t2, other, 6 * 24 * 9);
    double off = 0, size = 0;
    for (int i = 0; i < 24 * 12; i++) {
        off = check_worst(off, fabs(got[i] - want[i]));
        size += fabs(want[i]);
    }
    CHECK(off < 1e-6 && size > 1, "the kernel after 2 epochs is the whitening of the training "
          "images (off by %g)", off);
    moecl_tensor_destroy(t), moecl_tensor_destroy(t2);
    dataset_free(&all), dataset_free(&val);
    free(x);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/moecl-whiten-test-XXXXXX");
    if (!mkdtemp(root)) return 1;
    ctx = check_open_device(NULL);
    test_eigen();
    test_kernel_whitens();
    test_training_keeps_it();
    moecl_ctx_destroy(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return check_summary("test_whiten");
}
