/* Fused layers: a ReLU right after a convolution runs in the convolution's
 * epilogue (network_setup fuses them). The same network set up fused and
 * with MOECL_FUSE=0 must give the same outputs and gradients, through
 * every way a convolution runs (the suite runs this file with each
 * --gemm / MOECL_CONV / kernel shape forced, tests/CMakeLists.txt), and a
 * NaN must still come out as NaN. */
#include "check.h"
#include "network.h"

#include <math.h>

static moecl_ctx *ctx;

enum { N = 3 };

typedef struct result {
    float *y, *dx, *dw1, *db2;
    size_t ny, ndx, ndw1, ndb2;
    bool fused;
} result;

static float *read_all(const moecl_tensor *t, size_t *count)
{
    float *h = malloc(t->count * sizeof *h);
    moecl_tensor_download(t, h, t->count);
    *count = t->count;
    return h;
}

/* conv 3x3 'same' -> ReLU -> conv 3x3 stride 2 'valid' -> ReLU -> dense:
 * a stride-1 convolution (direct or column matrix) and a strided one. */
static result run(bool fused, const float *x_host, shape3 img, bool poison)
{
    setenv("MOECL_FUSE", fused ? "1" : "0", 1);
    network *net = network_new("fusion");
    network_add_layer(net, layer_conv2d("c1", 5, 3, 3, 1, 1, true, true));
    network_add_layer(net, layer_relu("c1_relu"));
    network_add_layer(net, layer_conv2d("c2", 4, 3, 3, 2, 2, false, true));
    network_add_layer(net, layer_relu("c2_relu"));
    network_add_layer(net, layer_flatten("flat"));
    network_add_layer(net, layer_dense("d", 3, true));
    int xs[2] = {N, (int)shape3_size(img)};
    moecl_tensor *x = NULL, *dy = NULL;
    CHECK(moecl_tensor_create(ctx, 2, xs, &x) == MOECL_OK, "input");
    moecl_tensor_upload(x, x_host, shape3_size(img) * N);
    uint64_t rng = 11;
    CHECK(network_setup(net, ctx, img, N, &rng, x) == MOECL_OK, "setup: %s", moecl_last_error());
    result r = {.fused = net->layers[0]->fused_relu && net->layers[2]->fused_relu};
    if (poison) { /* a NaN weight in c1's first filter: NaN in every c2 output */
        moecl_tensor *k = net->layers[0]->params[0].value;
        float *w = malloc(k->count * sizeof *w);
        moecl_tensor_download(k, w, k->count);
        w[0] = NAN;
        moecl_tensor_upload(k, w, k->count);
        free(w);
    }
    layer_run lr = {.training = true, .seed = 1, .step = 1};
    CHECK(network_zero_grads(net) == MOECL_OK, "zero grads");
    CHECK(network_forward(net, N, &lr) == MOECL_OK, "forward: %s", moecl_last_error());
    int ys[2] = {N, 3};
    CHECK(moecl_tensor_create(ctx, 2, ys, &dy) == MOECL_OK, "dy");
    float dyh[N * 3];
    for (int i = 0; i < N * 3; i++) dyh[i] = (float)((i * 7) % 5) - 2.0f;
    moecl_tensor_upload(dy, dyh, N * 3);
    CHECK(network_backward(net, dy, N) == MOECL_OK, "backward: %s", moecl_last_error());
    r.y = read_all(net->layers[2]->output, &r.ny); /* c2's output: after the ReLU when fused */
    if (!fused) {
        free(r.y);
        r.y = read_all(net->layers[3]->output, &r.ny);
    }
    r.dx = read_all(net->layers[1]->grad_input, &r.ndx); /* into c1, through the ReLU */
    r.dw1 = read_all(net->layers[0]->params[0].grad, &r.ndw1);
    r.db2 = read_all(net->layers[2]->params[1].grad, &r.ndb2);
    moecl_tensor_destroy(x);
    moecl_tensor_destroy(dy);
    network_free(net);
    return r;
}

static void free_result(result *r)
{
    free(r->y);
    free(r->dx);
    free(r->dw1);
    free(r->db2);
}

static void check_same(const char *what, const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) { /* both NaN, or one: a difference */
            if (isnan(a[i]) != isnan(b[i])) worst = INFINITY;
            continue;
        }
        worst = check_worst(worst, fabs((double)a[i] - b[i]) / (1e-6 + fabs((double)b[i])));
    }
    CHECK(worst < 1e-5, "fused against unfused: %s differs by %g (relative)", what, worst);
}

/* One image shape: outputs and gradients fused against unfused, then with
 * a NaN weight. */
static void check_shape(shape3 img)
{
    size_t count = shape3_size(img) * N;
    float *x = malloc(count * sizeof *x);
    unsigned state = 5;
    for (size_t i = 0; i < count; i++) x[i] = check_random(&state);

    result plain = run(false, x, img, false), fused = run(true, x, img, false);
    CHECK(!plain.fused && fused.fused, "MOECL_FUSE=0 keeps the layers apart, the default fuses");
    CHECK(plain.ny == fused.ny && plain.ndx == fused.ndx, "the same shapes");
    check_same("the ReLU's output", fused.y, plain.y, plain.ny);
    check_same("the input gradient of the first convolution's ReLU", fused.dx, plain.dx, plain.ndx);
    check_same("the first convolution's kernel gradient", fused.dw1, plain.dw1, plain.ndw1);
    check_same("the second convolution's bias gradient", fused.db2, plain.db2, plain.ndb2);
    size_t zeros = 0;
    for (size_t i = 0; i < fused.ny; i++) zeros += fused.y[i] == 0.0f;
    CHECK(zeros > 0 && zeros < fused.ny, "the ReLU clips some outputs and not others (%zu of %zu)",
          zeros, fused.ny);
    free_result(&plain);
    free_result(&fused);

    result nan_plain = run(false, x, img, true), nan_fused = run(true, x, img, true);
    size_t nans = 0;
    for (size_t i = 0; i < nan_fused.ny; i++) nans += isnan(nan_fused.y[i]);
    CHECK(nans == nan_fused.ny, "a NaN weight gives NaN outputs through both fused ReLUs (%zu of %zu)",
          nans, nan_fused.ny);
    check_same("the ReLU's output with a NaN weight", nan_fused.y, nan_plain.y, nan_plain.ny);
    free_result(&nan_plain);
    free_result(&nan_fused);
    free(x);
}

int main(void)
{
    ctx = check_open_device(NULL);
    check_shape((shape3){3, 9, 11}); /* every convolution through the column matrix */
    check_shape((shape3){3, 5, 16}); /* 16 wide: the first convolution can run direct */
    moecl_ctx_destroy(ctx);
    return check_summary("test_fusion");
}
