/* moecl bench train: images per second of a model's training step
 * (forward, loss, backward, Adam update) and of inference, at a batch
 * size, on synthetic images. */
#include "cli.h"
#include "data.h"
#include "model.h"
#include "optim.h"

#include <stdlib.h>
#include <string.h>

static moecl_status time_steps(model *net, moecl_param **params, int nparams, bool training,
                               int steps, double *seconds)
{
    optim_config adam = optim_defaults(OPTIM_ADAM);
    layer_run run = {.training = training, .seed = 1};
    double start = 0;
    for (int s = -1; s < steps; s++) { /* step -1 warms up, untimed */
        if (s == 0) {
            MOECL_TRY(moecl_ctx_finish(net->ctx));
            start = moecl_seconds();
        }
        run.step = (uint32_t)(s + 1);
        MOECL_TRY(model_forward(net, net->batch, &run));
        if (training) {
            MOECL_TRY(model_backward(net, net->batch));
            MOECL_TRY(optim_update(&adam, net->ctx, params, nparams, adam.lr, s + 2));
        }
        /* the per-step sync a real loop has: reading the loss */
        MOECL_TRY(model_read(net, net->batch, NULL, NULL));
    }
    *seconds = moecl_seconds() - start;
    return MOECL_OK;
}

int bench_train(const cli_globals *g, int argc, char **argv)
{
    const char *spec = MOECL_DEFAULT_MODEL;
    long batch = 128, steps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) spec = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &batch) || batch < 1)
                return cli_usage_error("bench train: --batch takes a positive whole number");
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &steps) || steps < 1)
                return cli_usage_error("bench train: --steps takes a positive whole number");
        } else
            return cli_usage_error("bench train: unknown option or missing value '%s'", argv[i]);
    }
    model *net = NULL;
    moecl_ctx *ctx = NULL;
    int rc = cli_open_model(g, spec, (int)batch, &ctx, &net);
    if (rc) return rc;
    dataset d = {0};
    float *host = malloc((size_t)batch * CIFAR_IMAGE_BYTES * sizeof *host);
    int *labels = malloc((size_t)batch * sizeof *labels), *idx = malloc((size_t)batch * sizeof *idx);
    moecl_param **params = NULL;
    model_param *list = NULL;
    int nparams = 0;
    moecl_status st = dataset_synthetic((int)batch, 7, &d);
    if (st == MOECL_OK && host && labels && idx) {
        for (int i = 0; i < batch; i++) idx[i] = i;
        normalizer norm = normalizer_fit(&d);
        dataset_make_batch(&d, idx, (int)batch, &norm, NULL, NULL, host, labels);
        st = moecl_tensor_upload_part(net->images, host, (size_t)batch * CIFAR_IMAGE_BYTES);
        if (st == MOECL_OK) st = model_set_labels(net, labels, (int)batch);
        if (st == MOECL_OK) st = model_params(net, &list, &nparams);
        params = calloc((size_t)nparams + 1, sizeof *params);
        for (int i = 0; params && i < nparams; i++) params[i] = list[i].param;
        optim_config adam = optim_defaults(OPTIM_ADAM);
        if (st == MOECL_OK) st = optim_prepare(&adam, params, nparams);
    }
    double t_train = 0, t_infer = 0;
    if (st == MOECL_OK) st = time_steps(net, params, nparams, true, (int)steps, &t_train);
    if (st == MOECL_OK) st = time_steps(net, params, nparams, false, (int)steps, &t_infer);
    if (st == MOECL_OK) {
        double images = (double)batch * steps;
        double flops = (double)model_flops_per_image(net);
        printf("model %s, batch %ld, %ld steps, device %s\n", net->name, batch, steps,
               moecl_ctx_device(ctx)->name);
        printf("training:  %8.1f images/s  (%.3f s per step, ~%.1f GFLOPS counting 3x forward)\n",
               images / t_train, t_train / steps, 3 * flops * images / t_train * 1e-9);
        printf("inference: %8.1f images/s  (%.3f s per batch, %.1f GFLOPS)\n", images / t_infer,
               t_infer / steps, flops * images / t_infer * 1e-9);
    } else {
        rc = cli_report(st);
    }
    free(params), free(list), free(host), free(labels), free(idx);
    dataset_free(&d);
    model_free(net);
    moecl_ctx_destroy(ctx);
    return rc;
}

/* moecl bench moe: a switch model's images per second with conditional
 * computation (each expert on its images) against the dense evaluation
 * (every expert on every image, then the chosen one kept). */
int bench_moe(const cli_globals *g, int argc, char **argv)
{
    const char *spec = "switch";
    long batch = 128, steps = 3;
    double capacity = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) spec = argv[++i];
        else if (strcmp(argv[i], "--capacity-factor") == 0 && i + 1 < argc) {
            if (!cli_parse_double(argv[++i], &capacity))
                return cli_usage_error("bench moe: --capacity-factor takes a number > 0");
        }
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &batch) || batch < 1)
                return cli_usage_error("bench moe: --batch takes a positive whole number");
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &steps) || steps < 1)
                return cli_usage_error("bench moe: --steps takes a positive whole number");
        } else
            return cli_usage_error("bench moe: unknown option or missing value '%s'", argv[i]);
    }
    model *net = NULL;
    moecl_ctx *ctx = NULL;
    int rc = cli_open_model(g, spec, (int)batch, &ctx, &net);
    if (rc) return rc;
    if (net->head != HEAD_SWITCH) {
        model_free(net);
        moecl_ctx_destroy(ctx);
        return cli_usage_error("bench moe: model %s has no switch routing", spec);
    }
    if (capacity > 0) net->capacity_factor = (float)capacity;
    dataset d = {0};
    float *host = malloc((size_t)batch * CIFAR_IMAGE_BYTES * sizeof *host);
    int *labels = malloc((size_t)batch * sizeof *labels), *idx = malloc((size_t)batch * sizeof *idx);
    model_param *list = NULL;
    moecl_param **params = NULL;
    int nparams = 0;
    moecl_status st = host && labels && idx ? dataset_synthetic((int)batch, 7, &d) : MOECL_ERR_OUT_OF_MEMORY;
    if (st == MOECL_OK) {
        for (int i = 0; i < batch; i++) idx[i] = i;
        normalizer norm = normalizer_fit(&d);
        dataset_make_batch(&d, idx, (int)batch, &norm, NULL, NULL, host, labels);
        st = moecl_tensor_upload_part(net->images, host, (size_t)batch * CIFAR_IMAGE_BYTES);
    }
    if (st == MOECL_OK) st = model_set_labels(net, labels, (int)batch);
    if (st == MOECL_OK) st = model_params(net, &list, &nparams);
    params = calloc((size_t)nparams + 1, sizeof *params);
    for (int i = 0; params && i < nparams; i++) params[i] = list[i].param;
    optim_config adam = optim_defaults(OPTIM_ADAM);
    if (st == MOECL_OK) st = optim_prepare(&adam, params, nparams);
    double t[2][2] = {{0}}; /* [dense][training] */
    for (int dense = 0; dense < 2 && st == MOECL_OK; dense++) {
        net->dense_eval = dense;
        for (int training = 1; training >= 0 && st == MOECL_OK; training--)
            st = time_steps(net, params, nparams, training, (int)steps, &t[dense][training]);
    }
    if (st == MOECL_OK) {
        double images = (double)batch * steps;
        printf("model %s, batch %ld, %ld steps, %d experts, capacity factor %g, device %s\n",
               net->name, batch, steps, net->n_experts, net->capacity_factor,
               moecl_ctx_device(ctx)->name);
        printf("%-10s %14s %14s %8s\n", "", "routed img/s", "dense img/s", "speed-up");
        printf("%-10s %14.1f %14.1f %7.2fx\n", "training", images / t[0][1], images / t[1][1],
               t[1][1] / t[0][1]);
        printf("%-10s %14.1f %14.1f %7.2fx\n", "inference", images / t[0][0], images / t[1][0],
               t[1][0] / t[0][0]);
        printf("expert images in the last routed step:");
        net->dense_eval = false;
        layer_run run = {.training = false};
        st = model_forward(net, (int)batch, &run);
        for (int k = 0; k < net->n_experts && st == MOECL_OK; k++) printf(" %d", net->expert_counts[k]);
        printf(", dropped %d\n", net->expert_counts[net->n_experts]);
    }
    if (st != MOECL_OK) rc = cli_report(st);
    free(params), free(list), free(host), free(labels), free(idx);
    dataset_free(&d);
    model_free(net);
    moecl_ctx_destroy(ctx);
    return rc;
}
