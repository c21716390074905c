/* What the mixture tests share: the device, reading a tensor back, the
 * mean loss of a forward, and gradients against central finite
 * differences of an objective. */
#ifndef MOECL_MIXTURE_CHECK_H
#define MOECL_MIXTURE_CHECK_H

#include "check.h"
#include "model.h"

static moecl_ctx *ctx;

static inline float *read_all(const moecl_tensor *t)
{
    float *h = malloc(t->count * sizeof *h);
    moecl_tensor_download(t, h, t->count);
    return h;
}

static inline double mean_loss(model *m, int n)
{
    layer_run run = {.training = false};
    float loss[8];
    if (model_forward(m, n, &run) != MOECL_OK || model_read(m, n, loss, NULL) != MOECL_OK) return NAN;
    double s = 0;
    for (int i = 0; i < n; i++) s += loss[i];
    return s / n;
}

/* A model file's text parsed and set up on the test device for batches of
 * B (weights drawn from init_seed), its images random: scale * uniform +
 * offset from image_seed, kept in x (B * input size floats) for host
 * references. NULL, the failure counted, where it does not parse or set up. */
static inline model *model_on_random_images(const char *json, const char *file, int B,
                                            unsigned init_seed, unsigned image_seed, float scale,
                                            float offset, float *x)
{
    model *m = NULL;
    CHECK(model_parse(json, file, &m) == MOECL_OK, "%s: %s", file, moecl_last_error());
    if (!m) return NULL;
    if (model_setup(m, ctx, B, init_seed) != MOECL_OK) {
        CHECK(0, "%s: set up: %s", file, moecl_last_error());
        model_free(m);
        return NULL;
    }
    size_t count = (size_t)B * shape3_size(m->input);
    for (size_t i = 0; i < count; i++) x[i] = scale * check_random(&image_seed) + offset;
    moecl_tensor_upload(m->images, x, count);
    return m;
}

/* Every parameter that learns (skipping frozen layers) against central
 * finite differences of an objective, after one forward and backward. */
typedef double (*objective_fn)(model *m, int n);

static inline void check_grads_after(model *m, int n, const layer_run *run, objective_fn objective,
                              float eps, float tol, const char *when)
{
    model_forward(m, n, run);
    CHECK(model_backward(m, n) == MOECL_OK, "%s: %s", when, moecl_last_error());
    model_param *list = NULL;
    int count = 0;
    model_params(m, &list, &count);
    int checked = 0;
    for (int p = 0; p < count; p++) {
        moecl_param *prm = list[p].param;
        if (!prm->grad || list[p].owner->frozen) continue;
        checked++;
        float *v = read_all(prm->value), *g = read_all(prm->grad);
        float worst = 0;
        for (size_t j = 0; j < prm->value->count; j++) {
            float keep = v[j];
            v[j] = keep + eps;
            moecl_tensor_upload(prm->value, v, prm->value->count);
            double up = objective(m, n);
            v[j] = keep - eps;
            moecl_tensor_upload(prm->value, v, prm->value->count);
            double down = objective(m, n);
            v[j] = keep;
            moecl_tensor_upload(prm->value, v, prm->value->count);
            double fd = (up - down) / (2.0 * eps);
            worst = (float)check_worst(worst, fabs(fd - g[j]) / (1 + fabs(fd)));
        }
        CHECK(worst < tol, "%s: %s: gradient off by %g", when, list[p].name, worst);
        free(v), free(g);
    }
    CHECK(checked > 0, "%s: some parameters learn", when);
    free(list);
}

static inline void check_grads(model *m, int n, objective_fn objective, float eps, float tol,
                        const char *when)
{
    layer_run run = {.training = false};
    check_grads_after(m, n, &run, objective, eps, tol, when);
}

/* Largest difference between two arrays of n floats. */
static inline float max_diff(const float *x, const float *y, size_t n)
{
    float worst = 0;
    for (size_t i = 0; i < n; i++) worst = (float)check_worst(worst, fabsf(x[i] - y[i]));
    return worst;
}

#endif
