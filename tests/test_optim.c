/* Optimiser steps against a host reference: Adam (Keras's form), SGD with
 * momentum, Nesterov and weight decay; learning-rate schedules. */
#include "check.h"
#include "optim.h"

static moecl_ctx *ctx;

static void run_steps_scaled(optim_config c, int steps, const float *w0, const float *grads, int n,
                             float lr_scale, float *w_out)
{
    moecl_param p;
    memset(&p, 0, sizeof p);
    p.lr_scale = lr_scale;
    p.ndim = 1;
    p.shape[0] = n;
    moecl_tensor_create(ctx, 1, &n, &p.value);
    moecl_tensor_create(ctx, 1, &n, &p.grad);
    moecl_tensor_upload(p.value, w0, (size_t)n);
    moecl_param *list[1] = {&p};
    CHECK(optim_prepare(&c, list, 1) == MOECL_OK, "%s", moecl_last_error());
    for (int s = 0; s < steps; s++) {
        moecl_tensor_upload(p.grad, grads + s * n, (size_t)n);
        CHECK(optim_update(&c, list, 1, c.lr, s + 1) == MOECL_OK, "%s", moecl_last_error());
    }
    moecl_tensor_download(p.value, w_out, (size_t)n);
    moecl_tensor_destroy(p.value), moecl_tensor_destroy(p.grad);
    moecl_tensor_destroy(p.slot[0]), moecl_tensor_destroy(p.slot[1]);
}

static void run_steps(optim_config c, int steps, const float *w0, const float *grads, int n,
                      float *w_out)
{
    run_steps_scaled(c, steps, w0, grads, n, 0.0f, w_out); /* 0: unset, the rate as it is */
}

static void host_adam(const optim_config *c, int steps, const float *w0, const float *g, int n,
                      float *w)
{
    double m[16] = {0}, v[16] = {0}, ww[16];
    for (int i = 0; i < n; i++) ww[i] = w0[i];
    for (int t = 1; t <= steps; t++) {
        double alpha = c->lr * sqrt(1 - pow(c->beta2, t)) / (1 - pow(c->beta1, t));
        for (int i = 0; i < n; i++) {
            double gi = g[(t - 1) * n + i];
            m[i] = c->beta1 * m[i] + (1 - c->beta1) * gi;
            v[i] = c->beta2 * v[i] + (1 - c->beta2) * gi * gi;
            ww[i] -= c->lr * c->weight_decay * ww[i];
            ww[i] -= alpha * m[i] / (sqrt(v[i]) + c->eps);
        }
    }
    for (int i = 0; i < n; i++) w[i] = (float)ww[i];
}

static void host_sgd(const optim_config *c, int steps, const float *w0, const float *g, int n,
                     float *w)
{
    double vel[16] = {0}, ww[16];
    for (int i = 0; i < n; i++) ww[i] = w0[i];
    for (int t = 0; t < steps; t++)
        for (int i = 0; i < n; i++) {
            double gi = g[t * n + i] + c->weight_decay * ww[i];
            vel[i] = c->momentum * vel[i] - c->lr * gi;
            ww[i] += c->nesterov ? c->momentum * vel[i] - c->lr * gi : vel[i];
        }
    for (int i = 0; i < n; i++) w[i] = (float)ww[i];
}

static void compare(const char *what, const float *got, const float *want, int n)
{
    float worst = 0;
    for (int i = 0; i < n; i++) worst = (float)check_worst(worst, fabsf(got[i] - want[i]));
    CHECK(worst < 1e-6f, "%s: off by %g", what, worst);
}

int main(void)
{
    ctx = check_open_device(NULL);
    enum { N = 7, STEPS = 3 };
    float w0[N], g[STEPS * N], got[N], want[N];
    unsigned seed = 3;
    for (int i = 0; i < N; i++) w0[i] = check_random(&seed);
    for (int i = 0; i < STEPS * N; i++) g[i] = check_random(&seed);

    optim_config adam = optim_defaults(OPTIM_ADAM);
    CHECK(adam.lr == 1e-3f && adam.beta1 == 0.9f && adam.beta2 == 0.999f && adam.eps == 1e-7f,
          "Keras's Adam defaults");
    run_steps(adam, STEPS, w0, g, N, got);
    host_adam(&adam, STEPS, w0, g, N, want);
    compare("adam", got, want, N);
    adam.weight_decay = 0.1f;
    run_steps(adam, STEPS, w0, g, N, got);
    host_adam(&adam, STEPS, w0, g, N, want);
    compare("adamw", got, want, N);

    optim_config sgd = optim_defaults(OPTIM_SGD);
    sgd.lr = 0.1f;
    run_steps(sgd, STEPS, w0, g, N, got);
    host_sgd(&sgd, STEPS, w0, g, N, want);
    compare("sgd momentum", got, want, N);
    sgd.nesterov = true;
    sgd.weight_decay = 0.01f;
    run_steps(sgd, STEPS, w0, g, N, got);
    host_sgd(&sgd, STEPS, w0, g, N, want);
    compare("sgd nesterov + weight decay", got, want, N);

    optim_config c = optim_defaults(OPTIM_SGD);
    c.lr = 1.0f;
    c.schedule = SCHEDULE_STEP;
    c.step_epochs = 2;
    c.step_gamma = 0.5f;
    CHECK(optim_lr_at(&c, 0, 10, 100) == 1.0f && optim_lr_at(&c, 19, 10, 100) == 1.0f &&
          optim_lr_at(&c, 20, 10, 100) == 0.5f && optim_lr_at(&c, 45, 10, 100) == 0.25f,
          "step schedule");
    c.schedule = SCHEDULE_COSINE;
    CHECK(fabsf(optim_lr_at(&c, 50, 10, 100) - 0.5f) < 1e-6f && optim_lr_at(&c, 0, 10, 100) == 1.0f,
          "cosine schedule");
    c.schedule = SCHEDULE_ONECYCLE;
    CHECK(fabsf(optim_lr_at(&c, 0, 10, 100) - 0.04f) < 1e-6f &&
          fabsf(optim_lr_at(&c, 30, 10, 100) - 1.0f) < 1e-6f && optim_lr_at(&c, 99, 10, 100) < 0.01f,
          "one-cycle schedule");
    /* a parameter's lr_scale: the same as the whole rate multiplied by it
     * with the weight decay divided by it (the decay's strength stays the run's) */
    {
        float w0[5] = {0.5f, -1, 2, 0.25f, -0.75f}, g[15], a[5], b[5];
        unsigned seed = 3;
        for (int k = 0; k < 15; k++) g[k] = check_random(&seed);
        for (int kind = 0; kind < 2; kind++) {
            optim_config base = optim_defaults(kind ? OPTIM_SGD : OPTIM_ADAM);
            base.weight_decay = 0.01f;
            base.nesterov = kind;
            optim_config times64 = base;
            times64.lr *= 64.0f;
            times64.weight_decay /= 64.0f;
            run_steps_scaled(base, 3, w0, g, 5, 64.0f, a);
            run_steps(times64, 3, w0, g, 5, b);
            double off = 0, moved = 0;
            for (int k = 0; k < 5; k++) {
                off = check_worst(off, fabs(a[k] - b[k]));
                moved += fabs(a[k] - w0[k]);
            }
            CHECK(off < 1e-6 && moved > 1e-3, "%s: lr_scale 64 is the rate times 64, the decay not (off by %g)",
                  kind ? "SGD" : "Adam", off);
        }
    }
    c.schedule = SCHEDULE_TRIANGLE;
    CHECK(fabsf(optim_lr_at(&c, 0, 10, 100) - 0.2f) < 1e-6f &&
          fabsf(optim_lr_at(&c, 23, 10, 100) - 1.0f) < 1e-6f &&
          fabsf(optim_lr_at(&c, 50, 10, 100) - 0.5f / 0.77f) < 1e-5f &&
          fabsf(optim_lr_at(&c, 100, 10, 100)) < 1e-6f,
          "triangle schedule: 0.2 lr, up to lr at 23%%, down to 0");
    lr_schedule parsed = SCHEDULE_CONSTANT;
    CHECK(lr_schedule_parse("triangle", &parsed) && parsed == SCHEDULE_TRIANGLE &&
          strcmp(lr_schedule_name(SCHEDULE_TRIANGLE), "triangle") == 0, "triangle by name");
    moecl_ctx_destroy(ctx);
    return check_summary("test_optim");
}
