/* Every layer on odd shapes: forward against a plain C reference, backward
 * (input and parameter gradients) against central finite differences of
 * L = sum(y * r) computed with the device's own forward pass. */
#include "check.h"
#include "layer.h"
#include "loss.h"
#include "reference.h"

static moecl_ctx *ctx;
/* The finite-difference step. Smaller for layers whose parameters each move
 * many ReLU inputs at once (a conv expert's bias), where a step of 1e-2
 * crosses a kink in most samples. */
static float fd_eps = 1e-2f;

typedef void (*reference_fn)(const layer *l, const float *x, float **params, float *y, int n);

/* Reads the first count floats of a tensor (the whole tensor is read). */
static float *read_front(const moecl_tensor *t, size_t count)
{
    float *all = malloc(t->count * sizeof *all);
    moecl_tensor_download(t, all, t->count);
    (void)count;
    return all;
}

static void write_front(moecl_tensor *t, const float *host, size_t count)
{
    float *all = calloc(t->count, sizeof *all);
    memcpy(all, host, count * sizeof *all);
    moecl_tensor_upload(t, all, t->count);
    free(all);
}

static double objective(layer *l, moecl_tensor *x, int n, const float *r, const layer_run *run)
{
    if (layer_forward(l, x, n, run) != MOECL_OK) return NAN;
    size_t count = (size_t)n * shape3_size(l->out);
    float *y = read_front(l->output, count);
    double s = 0;
    for (size_t i = 0; i < count; i++) s += (double)y[i] * r[i];
    free(y);
    return s;
}

/* Checks sampled entries of an analytic gradient against central finite
 * differences of the value tensor `v` (host copy `vh`, count entries). A
 * sample whose two one-sided differences disagree sits on a kink (a ReLU
 * or a max switching inside the step) where no finite difference is a
 * derivative: it is skipped, and at most a fifth of the samples may be. */
static void check_gradient(layer *l, moecl_tensor *x, int n, const float *r, const layer_run *run,
                           moecl_tensor *v, float *vh, size_t count, const float *grad,
                           const char *what)
{
    const float eps = fd_eps;
    uint64_t rng = 7;
    /* Every entry of small tensors, a random sample of large ones; fewer
     * under a simulator (MOECL_FD_SAMPLES). */
    size_t limit = getenv("MOECL_FD_SAMPLES") ? (size_t)atoi(getenv("MOECL_FD_SAMPLES")) : 300;
    bool all = count <= limit;
    size_t samples = all ? count : (limit < 60 ? limit : 60), kinks = 0;
    double center = objective(l, x, n, r, run);
    float worst = 0;
    size_t worst_at = 0;
    for (size_t s = 0; s < samples; s++) {
        size_t j = all ? s : (size_t)(moecl_rng_next(&rng) % count);
        float keep = vh[j];
        vh[j] = keep + eps;
        write_front(v, vh, count);
        double up = objective(l, x, n, r, run);
        vh[j] = keep - eps;
        write_front(v, vh, count);
        double down = objective(l, x, n, r, run);
        vh[j] = keep;
        double fd = (up - down) / (2.0 * eps);
        double forward = (up - center) / eps, backward = (center - down) / eps;
        if (fabs(forward - backward) > 0.01 * (1.0 + fabs(fd))) {
            kinks++;
            continue;
        }
        float err = (float)(fabs(fd - grad[j]) / (1.0 + fabs(fd)));
        if (!isnan(worst) && !(err <= worst)) worst = err, worst_at = j; /* NaN stays */
    }
    write_front(v, vh, count);
    CHECK(worst < 5e-3f, "%s: %s gradient off by %g (relative) at %zu", l->name, what, worst,
          worst_at);
    CHECK(kinks * 5 <= samples, "%s: %s: %zu of %zu samples on kinks", l->name, what, kinks,
          samples);
}

/* Input kinds: ordinary random values, values away from 0 (ReLU's kink), or
 * distinct values far apart (so that a max never changes under a finite
 * difference). */
enum { INPUT_RANDOM, INPUT_AWAY_FROM_ZERO, INPUT_DISTINCT };

static void check_layer(layer *l, shape3 in, int batch, int n, bool training, reference_fn ref,
                        int input_kind)
{
    uint64_t rng = 42;
    moecl_status st = layer_setup(l, ctx, in, batch, &rng);
    CHECK(st == MOECL_OK, "%s setup: %s", l->name, moecl_last_error());
    if (st != MOECL_OK) {
        layer_free(l);
        return;
    }
    size_t in_count = (size_t)n * shape3_size(l->in), out_count = (size_t)n * shape3_size(l->out);
    int xshape[2] = {batch, (int)shape3_size(l->in)};
    moecl_tensor *x = NULL, *dy = NULL;
    moecl_tensor_create(ctx, 2, xshape, &x);
    int yshape[2] = {batch, (int)shape3_size(l->out)};
    moecl_tensor_create(ctx, 2, yshape, &dy);

    unsigned seed = 1234;
    float *xh = malloc(in_count * sizeof *xh);
    for (size_t i = 0; i < in_count; i++) {
        float v = check_random(&seed);
        if (input_kind == INPUT_AWAY_FROM_ZERO && fabsf(v) < 0.05f) v = v < 0 ? -0.15f : 0.15f;
        xh[i] = v;
    }
    if (input_kind == INPUT_DISTINCT) { /* a shuffled ramp with steps of 0.05 */
        for (size_t i = 0; i < in_count; i++) xh[i] = ((float)i - (float)in_count / 2) * 0.05f;
        for (size_t i = in_count; i > 1; i--) {
            size_t j = (size_t)(moecl_rng_next(&rng) % i);
            float t = xh[i - 1];
            xh[i - 1] = xh[j], xh[j] = t;
        }
    }
    write_front(x, xh, in_count);
    layer_run run = {.training = training, .seed = 99, .step = 3};

    /* forward against the reference */
    CHECK(layer_forward(l, x, n, &run) == MOECL_OK, "%s forward: %s", l->name,
          moecl_last_error());
    float *y = read_front(l->output, out_count);
    float *params[LAYER_MAX_PARAMS] = {0};
    for (int i = 0; i < l->n_params; i++)
        params[i] = read_front(l->params[i].value, l->params[i].value->count);
    if (ref) {
        float *want = malloc(out_count * sizeof *want);
        ref(l, xh, params, want, n);
        float worst = 0;
        for (size_t i = 0; i < out_count; i++) {
            float e = fabsf(y[i] - want[i]) / (1.0f + fabsf(want[i]));
            worst = (float)check_worst(worst, e);
        }
        CHECK(worst < 1e-4f, "%s forward differs from the reference by %g", l->name, worst);
        free(want);
    }

    /* backward against finite differences */
    float *r = malloc(out_count * sizeof *r);
    for (size_t i = 0; i < out_count; i++) r[i] = check_random(&seed);
    write_front(dy, r, out_count);
    /* every input gradient is written, none left from before */
    moecl_tensor_fill(l->grad_input, NAN);
    CHECK(layer_backward(l, x, dy, n, true) == MOECL_OK, "%s backward: %s", l->name,
          moecl_last_error());
    float *dx = read_front(l->grad_input, in_count);
    float *grads[LAYER_MAX_PARAMS] = {0};
    for (int i = 0; i < l->n_params; i++)
        if (l->params[i].grad) grads[i] = read_front(l->params[i].grad, l->params[i].grad->count);
    check_gradient(l, x, n, r, &run, x, xh, in_count, dx, "input");
    for (int i = 0; i < l->n_params; i++)
        if (grads[i])
            check_gradient(l, x, n, r, &run, l->params[i].value, params[i],
                           l->params[i].value->count, grads[i], l->params[i].name);

    for (int i = 0; i < l->n_params; i++) free(params[i]), free(grads[i]);
    free(xh), free(y), free(r), free(dx);
    moecl_tensor_destroy(x);
    moecl_tensor_destroy(dy);
    layer_free(l);
}

/* ---- references bound to a layer's config -------------------------------- */

static void conv_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    ref_conv2d(x, p[0], l->cfg.use_bias ? p[1] : NULL, y, n, l->in.c, l->in.h, l->in.w, l->out.c,
               l->cfg.kh, l->cfg.kw, l->cfg.sh, l->cfg.sw, l->cfg.ph, l->cfg.pw, l->out.h,
               l->out.w);
}
static void dense_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    ref_dense(x, p[0], l->cfg.use_bias ? p[1] : NULL, y, n, (int)shape3_size(l->in), l->out.c);
}
static void maxpool_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    (void)p;
    ref_maxpool(x, y, n * l->in.c, l->in.h, l->in.w, l->cfg.kh, l->cfg.kw, l->cfg.sh, l->cfg.sw,
                l->cfg.ph, l->cfg.pw, l->out.h, l->out.w);
}
static void gap_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    (void)p;
    ref_global_avgpool(x, y, n * l->in.c, l->in.h * l->in.w);
}
static void relu_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    (void)p;
    for (size_t i = 0; i < (size_t)n * shape3_size(l->in); i++) y[i] = x[i] > 0 ? x[i] : 0;
}
static void gelu_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    (void)p;
    for (size_t i = 0; i < (size_t)n * shape3_size(l->in); i++)
        y[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0))));
}
static void scale_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    (void)p;
    for (size_t i = 0; i < (size_t)n * shape3_size(l->in); i++) y[i] = l->cfg.factor * x[i];
}
static void identity_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    (void)p;
    memcpy(y, x, (size_t)n * shape3_size(l->in) * sizeof *y);
}
static void dense_moe_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    int i = 0;
    const float *we = p[i++], *be = l->cfg.use_bias ? p[i++] : NULL;
    const float *wg = p[i++], *bg = l->cfg.use_gating_bias ? p[i++] : NULL;
    ref_dense_moe(x, we, be, wg, bg, y, n, (int)shape3_size(l->in), l->cfg.units,
                  l->cfg.n_experts, (int)l->cfg.expert_act, (int)l->cfg.gating_act);
}
/* Conv2DMoE from the plain references: a conv with F*K filters, the expert
 * activation, a dense gate on the flattened input, softmax over each
 * filter's K experts, the weighted sum. */
static void conv_moe_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    int F = l->cfg.filters, K = l->cfg.n_experts, P = l->out.h * l->out.w;
    int in = (int)shape3_size(l->in), i = 0;
    const float *we = p[i++], *be = l->cfg.use_bias ? p[i++] : NULL;
    const float *wg = p[i++], *bg = l->cfg.use_gating_bias ? p[i++] : NULL;
    float *e = malloc((size_t)n * F * K * P * sizeof *e), *g = malloc((size_t)n * F * K * sizeof *g);
    ref_conv2d(x, we, be, e, n, l->in.c, l->in.h, l->in.w, F * K, l->cfg.kh, l->cfg.kw, l->cfg.sh,
               l->cfg.sw, l->cfg.ph, l->cfg.pw, l->out.h, l->out.w);
    if (l->cfg.expert_act == ACT_RELU)
        for (size_t j = 0; j < (size_t)n * F * K * P; j++) e[j] = e[j] > 0 ? e[j] : 0;
    ref_dense(x, wg, bg, g, n, in, F * K);
    for (int r = 0; r < n * F && l->cfg.gating_act == ACT_SOFTMAX; r++) {
        double mx = g[r * K], s = 0;
        for (int k = 1; k < K; k++) mx = fmax(mx, g[r * K + k]);
        for (int k = 0; k < K; k++) s += exp(g[r * K + k] - mx);
        for (int k = 0; k < K; k++) g[r * K + k] = (float)(exp(g[r * K + k] - mx) / s);
    }
    for (int b = 0; b < n; b++)
        for (int f = 0; f < F; f++)
            for (int q = 0; q < P; q++) {
                double s = 0;
                for (int k = 0; k < K; k++)
                    s += (double)g[(b * F + f) * K + k] * e[((b * F + f) * K + k) * P + q];
                y[(b * F + f) * P + q] = (float)s;
            }
    free(e), free(g);
}

static void bn_ref(const layer *l, const float *x, float **p, float *y, int n)
{
    ref_batchnorm(x, p[0], p[1], y, NULL, NULL, n, l->in.c, l->in.h * l->in.w, l->cfg.eps);
}

/* Dirac initialisation: a 'same' convolution with more filters than
 * channels starts as the identity on its first channels (bias 0). */
static void test_dirac_init(void)
{
    layer *l = layer_conv2d("dirac", 7, 3, 3, 1, 1, true, true);
    l->cfg.dirac = true;
    uint64_t rng = 5;
    shape3 in = {5, 6, 9};
    CHECK(layer_setup(l, ctx, in, 2, &rng) == MOECL_OK, "setup: %s", moecl_last_error());
    size_t count = 2 * shape3_size(in);
    float *x = malloc(count * sizeof *x);
    unsigned seed = 9;
    for (size_t i = 0; i < count; i++) x[i] = check_random(&seed);
    int xs[2] = {2, (int)shape3_size(in)};
    moecl_tensor *xt = NULL;
    moecl_tensor_create(ctx, 2, xs, &xt);
    moecl_tensor_upload(xt, x, count);
    layer_run run = {.training = false};
    CHECK(layer_forward(l, xt, 2, &run) == MOECL_OK, "forward: %s", moecl_last_error());
    float *y = read_front(l->output, 2 * shape3_size(l->out));
    double off = 0;
    size_t P = (size_t)6 * 9;
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 5; c++)
            for (size_t q = 0; q < P; q++)
                off = check_worst(off, fabs(y[((size_t)b * 7 + c) * P + q] - x[((size_t)b * 5 + c) * P + q]));
    CHECK(off < 1e-6, "dirac: the first 5 of 7 filters pass their channel through (off by %g)", off);
    free(x), free(y);
    moecl_tensor_destroy(xt);
    layer_free(l);
}

static void test_conv2d(void)
{
    shape3 img = {5, 7, 9};
    check_layer(layer_conv2d("conv3x3_same", 4, 3, 3, 1, 1, true, true), img, 3, 3, true, conv_ref, 0);
    check_layer(layer_conv2d("conv3x2_s2_valid", 3, 3, 2, 2, 2, false, true), img, 3, 3, true,
                conv_ref, 0);
    check_layer(layer_conv2d("conv5x5_s2_same", 6, 5, 5, 2, 2, true, true), img, 3, 3, true,
                conv_ref, 0);
    check_layer(layer_conv2d("conv1x1_nobias", 7, 1, 1, 1, 1, false, false), img, 3, 3, true,
                conv_ref, 0);
    /* a partial batch: buffers for 4, a step of 3 */
    check_layer(layer_conv2d("conv_partial_batch", 4, 3, 3, 1, 1, true, true), img, 4, 3, true,
                conv_ref, 0);
    /* widths a multiple of 8 and of 16: the direct (no column matrix)
     * convolutions of our kernels, 'same' and 'valid', 3x3 and 5x3 */
    shape3 wide = {5, 6, 16}, wider = {3, 5, 32};
    check_layer(layer_conv2d("conv3x3_same_w16", 7, 3, 3, 1, 1, true, true), wide, 3, 3, true,
                conv_ref, 0);
    check_layer(layer_conv2d("conv5x3_valid_w16", 9, 5, 3, 1, 1, false, true), (shape3){5, 7, 18},
                3, 3, true, conv_ref, 0);
    check_layer(layer_conv2d("conv3x3_same_w32", 17, 3, 3, 1, 1, true, false), wider, 2, 2, true,
                conv_ref, 0);
    /* rows that are no multiple of a panel: each row's last panel short
     * (15 and 30 wide; 7 for 8-float panels), its input read past the border */
    check_layer(layer_conv2d("conv3x3_same_w15", 6, 3, 3, 1, 1, true, true), (shape3){4, 5, 15}, 3, 3,
                true, conv_ref, 0);
    check_layer(layer_conv2d("conv2x2_valid_w31", 5, 2, 2, 1, 1, false, true), (shape3){3, 4, 31}, 2, 2,
                true, conv_ref, 0);
    check_layer(layer_conv2d("conv3x3_same_w7", 9, 3, 3, 1, 1, true, false), (shape3){3, 5, 7}, 3, 3,
                true, conv_ref, 0);
    /* widths of half a vector (two rows a panel): 8 for 16-float panels, 4 for 8 */
    check_layer(layer_conv2d("conv3x3_same_w8", 13, 3, 3, 1, 1, true, true), (shape3){3, 6, 8}, 3, 3,
                true, conv_ref, 0);
    check_layer(layer_conv2d("conv3x3_same_w4", 5, 3, 3, 1, 1, true, true), (shape3){4, 4, 4}, 3, 3,
                true, conv_ref, 0);
    /* Winograd's tiles (m x m outputs, m = 2 or 4) cut short at the right
     * and bottom edges, 'valid' padding, a single output pixel, an image
     * smaller than a tile (each pass measured or forced, MOECL_CONV) */
    check_layer(layer_conv2d("conv3x3_valid", 5, 3, 3, 1, 1, false, true), (shape3){3, 9, 11}, 3, 3,
                true, conv_ref, 0);
    check_layer(layer_conv2d("conv3x3_valid_1x1", 4, 3, 3, 1, 1, false, true), (shape3){6, 3, 3}, 2, 2,
                true, conv_ref, 0);
    check_layer(layer_conv2d("conv3x3_same_2x3", 3, 3, 3, 1, 1, true, true), (shape3){2, 2, 3}, 3, 3,
                true, conv_ref, 0);
    /* a window of more than 32 taps (the column matrix checks its bounds
     * per tap, not from a mask of them) */
    check_layer(layer_conv2d("conv7x5_same", 3, 7, 5, 1, 1, true, true), (shape3){2, 9, 11}, 3, 3,
                true, conv_ref, 0);
    /* the split weight gradient, on chunks of 40 columns: 3 x 63 = 189 columns
     * are 4 full chunks and a remainder of 29; and a partial batch whose
     * columns (2 x 63 = 126) split differently from the allocation's */
    layer *split = layer_conv2d("conv_split_k", 4, 3, 3, 1, 1, true, true);
    split->cfg.split_k = 40;
    check_layer(split, img, 3, 3, true, conv_ref, 0);
    split = layer_conv2d("conv_split_k_partial", 4, 3, 3, 1, 1, true, true);
    split->cfg.split_k = 40;
    check_layer(split, img, 3, 2, true, conv_ref, 0);
    /* shapes the layer must compute itself */
    uint64_t rng = 1;
    layer *l = layer_conv2d("shape", 8, 3, 3, 2, 2, true, true);
    CHECK(layer_setup(l, ctx, img, 2, &rng) == MOECL_OK, "%s", moecl_last_error());
    CHECK(l->out.c == 8 && l->out.h == 4 && l->out.w == 5, "same s2: %dx%dx%d", l->out.c, l->out.h,
          l->out.w);
    layer_free(l);
    l = layer_conv2d("too_big", 8, 9, 9, 1, 1, false, true);
    CHECK(layer_setup(l, ctx, img, 2, &rng) == MOECL_ERR_INVALID_ARG, "a 9x9 valid window on 7x9");
    layer_free(l);
}

static void test_dense(void)
{
    check_layer(layer_dense("dense", 7, true), (shape3){13, 1, 1}, 3, 3, true, dense_ref, 0);
    check_layer(layer_dense("dense_nobias", 5, false), (shape3){11, 1, 1}, 5, 5, true, dense_ref, 0);
    check_layer(layer_dense("dense_from_image", 3, true), (shape3){5, 3, 3}, 3, 2, true, dense_ref, 0);
}

/* The gate weights a DenseMoE layer hands out (what `moecl gates` and the
 * routing counts read) are its softmax over x G + c, image by image. */
static void test_dense_moe_gates(void)
{
    layer *l = layer_dense_moe("moe_gates", 5, 3, ACT_LINEAR, ACT_SOFTMAX, false, true);
    uint64_t rng = 5;
    const int in = 7, batch = 6, n = 5;
    CHECK(layer_setup(l, ctx, (shape3){in, 1, 1}, batch, &rng) == MOECL_OK, "setup: %s", moecl_last_error());
    int xshape[2] = {batch, in};
    moecl_tensor *x = NULL;
    moecl_tensor_create(ctx, 2, xshape, &x);
    unsigned seed = 77;
    float xh[5 * 7], gates[5 * 3];
    for (int i = 0; i < n * in; i++) xh[i] = 2 * check_random(&seed);
    write_front(x, xh, (size_t)n * in);
    float *bias = read_front(l->params[2].value, 3); /* no expert bias: kernel, gate kernel, gate bias */
    bias[1] = 0.5f, bias[2] = -0.25f;                /* the gate's bias moves the weights too */
    write_front(l->params[2].value, bias, 3);
    layer_run run = {.training = false};
    CHECK(layer_forward(l, x, n, &run) == MOECL_OK, "forward: %s", moecl_last_error());
    CHECK(dense_moe_read_gates(l, n, gates) == MOECL_OK, "read gates: %s", moecl_last_error());
    float *wg = read_front(l->params[1].value, (size_t)in * 3);
    float worst = 0, worst_sum = 0;
    for (int i = 0; i < n; i++) {
        double s[3], top = -1e30, total = 0, sum = 0;
        for (int k = 0; k < 3; k++) {
            s[k] = bias[k];
            for (int j = 0; j < in; j++) s[k] += (double)xh[i * in + j] * wg[j * 3 + k];
            top = s[k] > top ? s[k] : top;
        }
        for (int k = 0; k < 3; k++) total += s[k] = exp(s[k] - top);
        for (int k = 0; k < 3; k++) {
            worst = fmaxf(worst, fabsf((float)(s[k] / total) - gates[i * 3 + k]));
            sum += gates[i * 3 + k];
        }
        worst_sum = fmaxf(worst_sum, fabsf((float)sum - 1));
    }
    CHECK(worst < 1e-5f, "DenseMoE gate weights against the host softmax: worst %g", worst);
    CHECK(worst_sum < 1e-5f, "each image's gate weights sum to 1: worst %g", worst_sum);
    free(bias), free(wg);
    moecl_tensor_destroy(x);
    layer_free(l);
}

/* The importance loss's gradient: the gate's parameters against central
 * differences of sum(y r) + w CV^2(I), I_k = sum_n g[n, k] (the layer's
 * objective in training), on an odd shape. */
static double importance_objective(layer *l, moecl_tensor *x, int n, const float *r, float w)
{
    layer_run run = {.training = true};
    if (layer_forward(l, x, n, &run) != MOECL_OK) return NAN;
    int U = l->cfg.units, K = l->cfg.n_experts;
    float *y = read_front(l->output, (size_t)n * U), g[7 * 3];
    if (dense_moe_read_gates(l, n, g) != MOECL_OK) return NAN;
    double s = 0, I[3] = {0}, mean = 0, var = 0;
    for (int i = 0; i < n * U; i++) s += (double)y[i] * r[i];
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) I[k] += g[i * K + k];
    for (int k = 0; k < K; k++) mean += I[k] / K;
    for (int k = 0; k < K; k++) var += (I[k] - mean) * (I[k] - mean) / K;
    free(y);
    return s + w * var / (mean * mean);
}

static void test_dense_moe_importance(void)
{
    const float w = 0.7f;
    const int in = 5, U = 3, K = 3, batch = 8, n = 7;
    layer *l = layer_dense_moe("moe_importance", U, K, ACT_RELU, ACT_SOFTMAX, true, true);
    l->cfg.importance_weight = w;
    uint64_t rng = 11;
    CHECK(layer_setup(l, ctx, (shape3){in, 1, 1}, batch, &rng) == MOECL_OK, "setup: %s", moecl_last_error());
    int xshape[2] = {batch, in}, yshape[2] = {batch, U};
    moecl_tensor *x = NULL, *dy = NULL;
    moecl_tensor_create(ctx, 2, xshape, &x);
    moecl_tensor_create(ctx, 2, yshape, &dy);
    unsigned seed = 3;
    float xh[7 * 5], r[7 * 3];
    for (int i = 0; i < n * in; i++) xh[i] = 1.5f * check_random(&seed);
    for (int i = 0; i < n * U; i++) r[i] = check_random(&seed);
    write_front(x, xh, (size_t)n * in);
    write_front(dy, r, (size_t)n * U);
    /* the gate's kernel, scaled up: unequal weights, a loss worth its name */
    float *wg = read_front(l->params[2].value, (size_t)in * K);
    for (int i = 0; i < in * K; i++) wg[i] *= 3;
    write_front(l->params[2].value, wg, (size_t)in * K);
    layer_run run = {.training = true};
    CHECK(layer_forward(l, x, n, &run) == MOECL_OK, "forward: %s", moecl_last_error());
    CHECK(layer_backward(l, x, dy, n, true) == MOECL_OK, "backward: %s", moecl_last_error());
    double with = importance_objective(l, x, n, r, w), without = importance_objective(l, x, n, r, 0);
    CHECK(with - without > 1e-3, "the importance loss is there to test: %g", with - without);
    for (int p = 2; p <= 3; p++) { /* gating kernel, gating bias */
        moecl_param *prm = &l->params[p];
        size_t count = prm->value->count;
        float *vh = read_front(prm->value, count), *grad = read_front(prm->grad, count), worst = 0;
        for (size_t j = 0; j < count; j++) {
            const float eps = 1e-2f, keep = vh[j];
            vh[j] = keep + eps;
            write_front(prm->value, vh, count);
            double up = importance_objective(l, x, n, r, w);
            vh[j] = keep - eps;
            write_front(prm->value, vh, count);
            double down = importance_objective(l, x, n, r, w);
            vh[j] = keep;
            write_front(prm->value, vh, count);
            double fd = (up - down) / (2 * eps);
            worst = fmaxf(worst, (float)(fabs(fd - grad[j]) / (1 + fabs(fd))));
        }
        CHECK(worst < 2e-3f, "importance loss: d/d%s against central differences, worst %g", prm->name, worst);
        free(vh), free(grad);
    }
    free(wg);
    moecl_tensor_destroy(x), moecl_tensor_destroy(dy);
    layer_free(l);
}

static void test_dense_moe(void)
{
    check_layer(layer_dense_moe("moe_relu_softmax", 7, 3, ACT_RELU, ACT_SOFTMAX, true, true),
                (shape3){13, 1, 1}, 3, 3, true, dense_moe_ref, INPUT_AWAY_FROM_ZERO);
    check_layer(layer_dense_moe("moe_linear_nobias", 5, 4, ACT_LINEAR, ACT_LINEAR, false, false),
                (shape3){11, 1, 1}, 5, 5, true, dense_moe_ref, 0);
    check_layer(layer_dense_moe("moe_gate_bias_only", 3, 2, ACT_LINEAR, ACT_SOFTMAX, false, true),
                (shape3){5, 3, 3}, 4, 3, true, dense_moe_ref, 0);
    check_layer(layer_dense_moe("moe_single_expert", 6, 1, ACT_RELU, ACT_SOFTMAX, true, false),
                (shape3){9, 1, 1}, 3, 3, true, dense_moe_ref, INPUT_AWAY_FROM_ZERO);
}

static void test_conv_moe(void)
{
    shape3 img = {3, 5, 7};
    fd_eps = 1e-3f;
    check_layer(layer_conv2d_moe("cmoe_relu_softmax", 4, 3, 3, 3, 1, 1, true, ACT_RELU,
                                 ACT_SOFTMAX, true, true),
                img, 3, 3, true, conv_moe_ref, INPUT_AWAY_FROM_ZERO);
    fd_eps = 1e-2f;
    check_layer(layer_conv2d_moe("cmoe_s2_valid_linear", 2, 2, 3, 2, 2, 2, false, ACT_LINEAR,
                                 ACT_SOFTMAX, false, false),
                img, 4, 3, true, conv_moe_ref, 0);
}

static void test_pooling(void)
{
    shape3 img = {5, 7, 9};
    check_layer(layer_maxpool("pool2x2", 2, 2, 2, 2, false), img, 3, 3, true, maxpool_ref, INPUT_DISTINCT);
    check_layer(layer_maxpool("pool3x3_s2_same", 3, 3, 2, 2, true), img, 3, 3, true, maxpool_ref, INPUT_DISTINCT);
    check_layer(layer_maxpool("pool2x2_s1", 2, 2, 1, 1, false), img, 3, 3, true, maxpool_ref, INPUT_DISTINCT);
    check_layer(layer_global_avgpool("gap"), img, 3, 3, true, gap_ref, 0);
    /* even sizes: the straight-line 2x2 kernels, a partial batch too */
    shape3 even = {5, 6, 10};
    check_layer(layer_maxpool("pool2x2_even", 2, 2, 2, 2, false), even, 4, 3, true, maxpool_ref,
                INPUT_DISTINCT);
    check_layer(layer_maxpool("pool2x2_even_same", 2, 2, 2, 2, true), even, 3, 3, true,
                maxpool_ref, INPUT_DISTINCT);
    /* rows of 11 outputs: eight at a time as vectors, then a tail of three */
    shape3 wide = {3, 4, 22};
    check_layer(layer_maxpool("pool2x2_wide", 2, 2, 2, 2, false), wide, 3, 3, true, maxpool_ref,
                INPUT_DISTINCT);
    /* odd sizes (airbench's 31 -> 15): the last row and column in no window */
    shape3 odd = {3, 5, 23};
    check_layer(layer_maxpool("pool2x2_odd", 2, 2, 2, 2, false), odd, 3, 3, true, maxpool_ref,
                INPUT_DISTINCT);
}

/* Ties and NaN, where a max's gradient has a choice to make: both pooling
 * kernels (2x2 on an even input, the general one on an odd input) give it to
 * the first maximum in row-major order, and a NaN wins the window. */
static void check_maxpool_choice(shape3 in, const float *x, const float *want_y,
                                 const float *want_dx)
{
    layer *l = layer_maxpool("pool_choice", 2, 2, 2, 2, false);
    uint64_t rng = 1;
    CHECK(layer_setup(l, ctx, in, 1, &rng) == MOECL_OK, "setup: %s", moecl_last_error());
    size_t in_count = shape3_size(l->in), out_count = shape3_size(l->out);
    int xs[2] = {1, (int)in_count}, ys[2] = {1, (int)out_count};
    moecl_tensor *xt = NULL, *dyt = NULL;
    moecl_tensor_create(ctx, 2, xs, &xt);
    moecl_tensor_create(ctx, 2, ys, &dyt);
    moecl_tensor_upload(xt, x, in_count);
    float dy[8];
    for (size_t i = 0; i < out_count; i++) dy[i] = 10.0f * (float)(i + 1);
    moecl_tensor_upload(dyt, dy, out_count);
    layer_run run = {.training = true};
    CHECK(layer_forward(l, xt, 1, &run) == MOECL_OK, "forward: %s", moecl_last_error());
    CHECK(layer_backward(l, xt, dyt, 1, true) == MOECL_OK, "backward: %s", moecl_last_error());
    float y[8], dx[32];
    CHECK(out_count <= 8 && in_count <= 32, "pool choice: a test shape too large");
    moecl_tensor_download(l->output, y, out_count);
    moecl_tensor_download(l->grad_input, dx, in_count);
    for (size_t i = 0; i < out_count; i++)
        CHECK(isnan(want_y[i]) ? isnan(y[i]) : y[i] == want_y[i],
              "%dx%d pool: y[%zu] = %g, want %g", in.h, in.w, i, y[i], want_y[i]);
    for (size_t i = 0; i < in_count; i++)
        CHECK(dx[i] == want_dx[i], "%dx%d pool: dx[%zu] = %g, want %g", in.h, in.w, i, dx[i],
              want_dx[i]);
    moecl_tensor_destroy(xt);
    moecl_tensor_destroy(dyt);
    layer_free(l);
}

static void test_maxpool_ties_and_nan(void)
{
    /* 2x4: a window of four equal values, then [0 NaN; 3 2] */
    const float x_even[8] = {1, 1, 0, NAN, 1, 1, 3, 2};
    const float y_even[2] = {1, NAN}, dx_even[8] = {10, 0, 0, 20, 0, 0, 0, 0};
    check_maxpool_choice((shape3){1, 2, 4}, x_even, y_even, dx_even);
    /* 3x4 (odd height: the general kernel), same windows, a row left over */
    const float x_odd[12] = {1, 1, 0, NAN, 1, 1, 3, 2, 9, 9, 9, 9};
    const float dx_odd[12] = {10, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0};
    check_maxpool_choice((shape3){1, 3, 4}, x_odd, y_even, dx_odd);
    /* 2x16: eight windows, one vector of the 2x2 kernel: ties, a NaN in each
     * corner, a maximum in each corner */
    const float x_wide[32] = {1, 1, NAN, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0,
                              1, 1, 0,   0, NAN, 0, 0, NAN, 0, 0, 7, 0, 0, 7, 5, 5};
    const float y_wide[8] = {1, NAN, NAN, NAN, 7, 7, 7, 5};
    float dx_wide[32] = {0};
    dx_wide[0] = 10, dx_wide[2] = 20, dx_wide[20] = 30, dx_wide[23] = 40;
    dx_wide[9] = 50, dx_wide[26] = 60, dx_wide[29] = 70, dx_wide[30] = 80;
    check_maxpool_choice((shape3){1, 2, 16}, x_wide, y_wide, dx_wide);
}

static void test_elementwise(void)
{
    shape3 img = {5, 7, 9};
    check_layer(layer_relu("relu"), img, 3, 3, true, relu_ref, INPUT_AWAY_FROM_ZERO);
    check_layer(layer_gelu("gelu"), img, 3, 3, true, gelu_ref, 0);
    check_layer(layer_scale("scale", 1.0f / 9.0f), img, 3, 3, true, scale_ref, 0);
    check_layer(layer_flatten("flatten"), img, 3, 3, true, identity_ref, 0);
    check_layer(layer_dropout("dropout_eval", 0.4f), img, 3, 3, false, identity_ref, 0);
    check_layer(layer_dropout("dropout_train", 0.4f), img, 3, 3, true, NULL, 0);

    /* training dropout: zeros or x/(1-rate), about rate dropped, the same mask
     * for the same seed and step, another for another step */
    uint64_t rng = 5;
    layer *l = layer_dropout("dropout_stats", 0.25f);
    shape3 big = {16, 32, 32};
    CHECK(layer_setup(l, ctx, big, 2, &rng) == MOECL_OK, "%s", moecl_last_error());
    size_t count = 2 * shape3_size(big);
    int shape[2] = {2, (int)shape3_size(big)};
    moecl_tensor *x = NULL;
    moecl_tensor_create(ctx, 2, shape, &x);
    moecl_tensor_fill(x, 2.0f);
    layer_run run = {.training = true, .seed = 1, .step = 1};
    layer_forward(l, x, 2, &run);
    float *a = read_front(l->output, count);
    layer_forward(l, x, 2, &run);
    float *b = read_front(l->output, count);
    run.step = 2;
    layer_forward(l, x, 2, &run);
    float *c = read_front(l->output, count);
    size_t dropped = 0, bad = 0, same_ab = 0, same_ac = 0;
    for (size_t i = 0; i < count; i++) {
        dropped += a[i] == 0.0f;
        bad += !(a[i] == 0.0f || fabsf(a[i] - 2.0f / 0.75f) < 1e-5f);
        same_ab += a[i] == b[i];
        same_ac += a[i] == c[i];
    }
    double frac = (double)dropped / count;
    CHECK(bad == 0, "%zu values neither dropped nor scaled", bad);
    CHECK(fabs(frac - 0.25) < 0.02, "dropped fraction %.3f, expected 0.25", frac);
    CHECK(same_ab == count, "same seed and step, same mask");
    CHECK(same_ac < count * 0.8, "another step, another mask (%zu of %zu equal)", same_ac, count);
    free(a), free(b), free(c);
    moecl_tensor_destroy(x);
    layer_free(l);
}

static void test_batchnorm(void)
{
    check_layer(layer_batchnorm("bn_image", 1e-3f, 0.99f, true, true), (shape3){5, 7, 9}, 3, 3, true, bn_ref, 0);
    check_layer(layer_batchnorm("bn_features", 1e-3f, 0.99f, true, true), (shape3){6, 1, 1}, 5, 5, true, bn_ref,
                0);
    check_layer(layer_batchnorm("bn_partial", 1e-3f, 0.99f, true, true), (shape3){3, 2, 5}, 4, 3, true, bn_ref, 0);
    /* without affine weights: gamma stays 1 (no gradient), beta learns; and neither */
    check_layer(layer_batchnorm("bn_no_scale", 1e-3f, 0.99f, false, true), (shape3){5, 3, 7}, 3, 3,
                true, bn_ref, 0);
    check_layer(layer_batchnorm("bn_no_affine", 1e-3f, 0.99f, false, false), (shape3){5, 3, 7}, 3,
                3, true, bn_ref, 0);

    /* running statistics after one training step, then eval mode uses them */
    uint64_t rng = 3;
    layer *l = layer_batchnorm("bn_running", 1e-3f, 0.9f, true, true);
    shape3 s = {3, 2, 5};
    CHECK(layer_setup(l, ctx, s, 4, &rng) == MOECL_OK, "%s", moecl_last_error());
    size_t count = 4 * shape3_size(s);
    float *xh = malloc(count * sizeof *xh);
    unsigned seed = 77;
    for (size_t i = 0; i < count; i++) xh[i] = 3.0f + 2.0f * check_random(&seed);
    int shape[2] = {4, (int)shape3_size(s)};
    moecl_tensor *x = NULL;
    moecl_tensor_create(ctx, 2, shape, &x);
    moecl_tensor_upload(x, xh, count);
    layer_run train = {.training = true}, eval = {.training = false};
    layer_forward(l, x, 4, &train);
    float mean[3], var[3], *y = malloc(count * sizeof *y);
    float gamma[3] = {1, 1, 1}, beta[3] = {0, 0, 0};
    ref_batchnorm(xh, gamma, beta, y, mean, var, 4, 3, 10, 1e-3f);
    float *rm = read_front(l->params[2].value, 3), *rv = read_front(l->params[3].value, 3);
    for (int c = 0; c < 3; c++) {
        float want_m = 0.1f * mean[c], want_v = 0.9f + 0.1f * var[c] * 40.0f / 39.0f;
        CHECK(fabsf(rm[c] - want_m) < 1e-4f, "moving mean %g, expected %g", rm[c], want_m);
        CHECK(fabsf(rv[c] - want_v) < 1e-4f, "moving variance %g, expected %g", rv[c], want_v);
    }
    layer_forward(l, x, 4, &eval);
    float *ye = read_front(l->output, count);
    float worst = 0;
    for (size_t i = 0; i < count; i++) {
        int c = (int)(i / 10) % 3;
        float want = (xh[i] - rm[c]) / sqrtf(rv[c] + 1e-3f);
        worst = (float)check_worst(worst, fabsf(ye[i] - want));
    }
    CHECK(worst < 1e-4f, "eval mode uses the running statistics (off by %g)", worst);
    free(xh), free(y), free(rm), free(rv), free(ye);
    moecl_tensor_destroy(x);
    layer_free(l);
}

static void test_softmax_ce(void)
{
    const int B = 5, K = 7;
    softmax_ce s;
    CHECK(softmax_ce_init(&s, ctx, 6, K) == MOECL_OK, "%s", moecl_last_error());
    int shape[2] = {6, K};
    moecl_tensor *z = NULL;
    moecl_tensor_create(ctx, 2, shape, &z);
    float zh[6 * 7] = {0};
    unsigned seed = 11;
    for (int i = 0; i < B * K; i++) zh[i] = 4.0f * check_random(&seed);
    zh[3] = 80.0f; /* large logits must not overflow */
    int labels[5] = {0, 6, 3, 3, 1};
    write_front(z, zh, (size_t)(B * K));
    CHECK(softmax_ce_set_labels(&s, labels, B) == MOECL_OK, "%s", moecl_last_error());
    float *g = NULL;
    /* plain, then with label smoothing 0.2 (targets 0.8 onehot + 0.2 / K) */
    for (int smooth = 0; smooth < 2; smooth++) {
        double eps = smooth ? 0.2 : 0.0;
        s.smoothing = (float)eps;
        CHECK(softmax_ce_forward(&s, z, B) == MOECL_OK, "%s", moecl_last_error());
        float loss[5];
        int pred[5];
        softmax_ce_read(&s, B, loss, pred);
        float probs[35];
        double want = ref_softmax_ce_smoothed(zh, labels, probs, B, K, eps), got = 0;
        for (int i = 0; i < B; i++) got += loss[i];
        got /= B;
        CHECK(fabs(got - want) < 1e-4 * (1 + fabs(want)), "smoothing %g: loss %g, expected %g", eps,
              got, want);
        CHECK(pred[0] == 3, "argmax of the first row is 3, got %d", pred[0]);
        CHECK(isfinite(got), "no overflow with a logit of 80");

        CHECK(softmax_ce_backward(&s, B) == MOECL_OK, "%s", moecl_last_error());
        free(g);
        g = read_front(s.grad, (size_t)(B * K));
        float worst = 0;
        for (int j = 0; j < B * K; j++) {
            float keep = zh[j];
            float pr[35];
            zh[j] = keep + 1e-2f;
            double up = ref_softmax_ce_smoothed(zh, labels, pr, B, K, eps);
            zh[j] = keep - 1e-2f;
            double down = ref_softmax_ce_smoothed(zh, labels, pr, B, K, eps);
            zh[j] = keep;
            worst = (float)check_worst(worst, fabs((up - down) / 2e-2 - g[j]));
        }
        CHECK(worst < 1e-3f, "smoothing %g: softmax-CE gradient off by %g", eps, worst);
    }
    int bad[2] = {0, 7};
    CHECK(softmax_ce_set_labels(&s, bad, 2) == MOECL_ERR_INVALID_ARG, "label 7 of 7 classes");
    CHECK(strstr(moecl_last_error(), "label 7") != NULL, "%s", moecl_last_error());
    free(g);
    moecl_tensor_destroy(z);
    softmax_ce_free(&s);
}

int main(void)
{
    ctx = check_open_device(NULL);
    test_conv2d();
    test_dirac_init();
    test_dense();
    test_dense_moe();
    test_dense_moe_gates();
    test_dense_moe_importance();
    test_conv_moe();
    test_pooling();
    test_maxpool_ties_and_nan();
    test_elementwise();
    test_batchnorm();
    test_softmax_ce();
    moecl_ctx_destroy(ctx);
    return check_summary("test_layers");
}
