/* moecl bench train: images per second of a model's training step
 * (forward, loss, backward, Adam update) and of inference, at a batch
 * size, on synthetic images. */
#include "bench.h"
#include "cli.h"
#include "train_dist.h"
#include "data.h"
#include "model.h"
#include "optim.h"
#include "expert_devices.h"
#include "expert_exchange.h"

#include <stdlib.h>
#include <string.h>

moecl_status bench_step(model *net, const layer_run *run, const optim_config *adam,
                        moecl_param **params, int nparams, const model_param *lazy_list,
                        bench_dp *dp, bool training, int t)
{
    int rows = dp ? dp->rows : net->batch;
    MOECL_TRY(model_forward(net, rows, run));
    if (training) {
        moecl_profile_scope(net->ctx, "model", "backward");
        MOECL_TRY(model_backward(net, rows));
        moecl_profile_scope(net->ctx, "optimizer", NULL);
        moecl_param *busy[nparams > 0 ? nparams : 1];
        int n = nparams;
        if (lazy_list) { /* --lazy-experts: as train's step, none for an expert with no image */
            n = 0;
            for (int i = 0; i < nparams; i++)
                if (!model_part_idle(net, lazy_list[i].part)) busy[n++] = params[i];
            params = busy;
        }
        if (dp) { /* data parallel: the step's gradients summed across ranks, as train does */
            param_list pl = {.active = params, .n_active = n};
            MOECL_TRY(exchange_gradients(&dp->gx, &pl, dp->weight, NULL, 0));
        }
        MOECL_TRY(optim_update(adam, params, n, adam->lr, t));
    }
    moecl_profile_scope(net->ctx, NULL, NULL);
    return MOECL_OK;
}

/* Every rank here: all start and stop the clock together. */
static moecl_status meet(model *net)
{
    MOECL_TRY(model_finish(net)); /* with every device its experts live on */
    float token = 0;
    return dist_sum(&token, 1);
}

static moecl_status time_steps(model *net, moecl_param **params, int nparams,
                               const model_param *lazy_list, bench_dp *dp, bool training,
                               int steps, double *seconds)
{
    optim_config adam = optim_defaults(OPTIM_ADAM);
    layer_run run = {.training = training, .seed = 1};
    double start = 0;
    for (int s = -1; s < steps; s++) { /* step -1 warms up, untimed */
        if (s == 0) {
            MOECL_TRY(meet(net));
            start = moecl_seconds();
        }
        run.step = (uint32_t)(s + 1);
        MOECL_TRY(bench_step(net, &run, &adam, params, nparams, lazy_list, dp, training, s + 2));
        /* the per-step sync a real loop has: reading the loss */
        MOECL_TRY(model_read(net, dp ? dp->rows : net->batch, NULL, NULL));
    }
    MOECL_TRY(meet(net));
    *seconds = moecl_seconds() - start;
    return MOECL_OK;
}

/* The options both benchmarks take; capacity only where allowed. */
typedef struct bench_options {
    const char *model;
    long batch, steps;
    double capacity; /* bench moe: 0 = the model's */
    bool profile;    /* bench train: per-kernel and per-layer times of a step */
    bool lazy;       /* --lazy-experts: no optimiser step for an expert with no image */
    const char *experts_on; /* bench train: the devices the experts are placed on */
    bool expert_parallel;   /* bench train: routed experts spread over the ranks */
} bench_options;

static int parse_bench_options(const char *what, int argc, char **argv, bool capacity_ok,
                               bench_options *o)
{
    for (int i = 1; i < argc; i++) {
        if (!capacity_ok && strcmp(argv[i], "--profile") == 0) {
            o->profile = true;
        } else if (strcmp(argv[i], "--lazy-experts") == 0) {
            o->lazy = true;
        } else if (!capacity_ok && strcmp(argv[i], "--expert-parallel") == 0) {
            o->expert_parallel = true;
        } else if (!capacity_ok && strcmp(argv[i], "--experts-on") == 0 && i + 1 < argc) {
            o->experts_on = argv[++i];
        } else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
            o->model = argv[++i];
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &o->batch) || o->batch < 1)
                return cli_usage_error("%s: --batch takes a positive whole number", what);
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], &o->steps) || o->steps < 1)
                return cli_usage_error("%s: --steps takes a positive whole number", what);
        } else if (capacity_ok && strcmp(argv[i], "--capacity-factor") == 0 && i + 1 < argc) {
            if (!cli_parse_double(argv[++i], &o->capacity))
                return cli_usage_error("%s: --capacity-factor takes a number > 0", what);
        } else {
            return cli_usage_error("%s: unknown option or missing value '%s'", what, argv[i]);
        }
    }
    return 0;
}

/* One synthetic batch uploaded with its labels, and every parameter ready
 * for Adam: what a timed step needs. */
typedef struct bench_batch {
    model_param *list;
    moecl_param **params;
    int nparams;
} bench_batch;

static moecl_status bench_prepare(model *net, bench_batch *b)
{
    int n = net->batch;
    dataset d = {0};
    float *host = malloc((size_t)n * CIFAR_IMAGE_BYTES * sizeof *host);
    int *labels = malloc((size_t)n * sizeof *labels), *idx = malloc((size_t)n * sizeof *idx);
    moecl_status st = host && labels && idx ? dataset_synthetic(n, 7, &d) : MOECL_ERR_OUT_OF_MEMORY;
    if (st == MOECL_OK) {
        for (int i = 0; i < n; i++) idx[i] = i;
        normalizer norm = normalizer_fit(&d);
        dataset_make_batch(&d, idx, n, &norm, NULL, NULL, host, labels, NULL);
        st = moecl_tensor_upload_part(net->images, host, (size_t)n * CIFAR_IMAGE_BYTES);
    }
    if (st == MOECL_OK) st = model_set_labels(net, labels, n);
    if (st == MOECL_OK) st = model_params(net, &b->list, &b->nparams);
    if (st == MOECL_OK) {
        b->params = calloc((size_t)b->nparams + 1, sizeof *b->params);
        for (int i = 0; b->params && i < b->nparams; i++) b->params[i] = b->list[i].param;
        optim_config adam = optim_defaults(OPTIM_ADAM);
        st = b->params ? optim_prepare(&adam, b->params, b->nparams) : MOECL_ERR_OUT_OF_MEMORY;
    }
    free(host), free(labels), free(idx);
    dataset_free(&d);
    return st;
}

static void bench_release(bench_batch *b)
{
    free(b->list);
    free(b->params);
}

/* One rank of bench train (cli_run_ranks): with several, each runs its
 * share of the batch and the gradients are exchanged as in training. */
static int bench_train_rank(const cli_globals *g, int argc, char **argv)
{
    bench_options o = {.model = MOECL_BENCH_MODEL, .batch = 128, .steps = 5};
    int rc = parse_bench_options("bench train", argc, argv, false, &o);
    if (rc) return rc;
    int ranks = dist_size(), first = 0, mine = (int)o.batch;
    if (ranks > 1 && o.profile)
        return cli_usage_error("bench train: --profile times one device; run it without a device "
                               "list or mpirun");
    if (ranks > 1 && o.experts_on)
        return cli_usage_error("bench train: --experts-on places experts within one process; run "
                               "it without a device list or mpirun");
    if (o.batch < ranks)
        return cli_usage_error("bench train: --batch %ld is smaller than the %d ranks", o.batch, ranks);
    dist_share((int)o.batch, NULL, &first, &mine);
    model *net = NULL;
    moecl_ctx *ctx = NULL;
    cli_globals opened = *g;
    opened.profiling = o.profile;
    expert_devices placed = {0};
    /* expert parallel: an expert's rank runs it on the rows of every rank (at most the batch) */
    int held = o.expert_parallel ? (int)o.batch : mine;
    rc = cli_open_model_placed(&opened, o.model, held, o.experts_on, &ctx, &net, &placed);
    if (rc) return rc;
    bench_batch b = {0};
    bench_dp dp = {.weight = (float)mine / (float)o.batch, .rows = mine};
    bench_dp *dpp = ranks > 1 ? &dp : NULL;
    double t_train = 0, t_infer = 0;
    moecl_status st = o.expert_parallel ? model_exchange_experts(net, true) : MOECL_OK;
    if (st == MOECL_OK) st = bench_prepare(net, &b);
    model_set_lazy_experts(net, o.lazy && ranks == 1);
    const model_param *lazy = o.lazy ? b.list : NULL;
    if (st == MOECL_OK) st = time_steps(net, b.params, b.nparams, lazy, dpp, true, (int)o.steps, &t_train);
    if (st == MOECL_OK) st = time_steps(net, b.params, b.nparams, lazy, dpp, false, (int)o.steps, &t_infer);
    if (st == MOECL_OK && dist_rank() > 0) {
        /* rank 0 reports */
    } else if (st == MOECL_OK) {
        double images = (double)o.batch * o.steps;
        double flops = (double)model_flops_per_image(net);
        printf("model %s, batch %ld, %ld steps, device %s", net->name, o.batch, o.steps,
               moecl_ctx_device(ctx)->name);
        if (ranks > 1)
            printf(" and %d more rank%s (%d images a step here%s)", ranks - 1, ranks > 2 ? "s" : "",
                   mine, o.expert_parallel ? ", expert parallel" : "");
        printf("\n");
        printf("training:  %8.1f images/s  (%.3f s per step, ~%.1f GFLOPS counting 3x forward)\n",
               images / t_train, t_train / o.steps, 3 * flops * images / t_train * 1e-9);
        printf("inference: %8.1f images/s  (%.3f s per batch, %.1f GFLOPS)\n", images / t_infer,
               t_infer / o.steps, flops * images / t_infer * 1e-9);
        if (o.profile) st = bench_profile_step(net, b.params, b.nparams);
        if (st != MOECL_OK) rc = cli_report(st);
    } else {
        rc = cli_report(st);
    }
    grad_exchange_free(&dp.gx);
    bench_release(&b);
    model_free(net);
    expert_devices_close(&placed); /* after the tensors on them */
    moecl_ctx_destroy(ctx);
    return rc;
}

int bench_train(const cli_globals *g, int argc, char **argv)
{
    return cli_run_ranks(g, argc, argv, bench_train_rank);
}

/* moecl bench moe: a switch or hierarchical model's images per second with
 * conditional computation (each expert on its images) against the dense
 * evaluation (every expert on every image, then the chosen one kept). */
int bench_moe(const cli_globals *g, int argc, char **argv)
{
    bench_options o = {.model = "switch", .batch = 128, .steps = 3};
    int rc = parse_bench_options("bench moe", argc, argv, true, &o);
    if (rc) return rc;
    model *net = NULL;
    moecl_ctx *ctx = NULL;
    rc = cli_open_model(g, o.model, (int)o.batch, &ctx, &net);
    if (rc) return rc;
    if (net->head != HEAD_SWITCH && net->head != HEAD_HIERARCHICAL) {
        model_free(net);
        moecl_ctx_destroy(ctx);
        return cli_usage_error("bench moe: model %s has no switch or hierarchical routing", o.model);
    }
    if (o.capacity > 0) net->capacity_factor = net->eval_capacity_factor = (float)o.capacity;
    bench_batch b = {0};
    moecl_status st = bench_prepare(net, &b);
    model_set_lazy_experts(net, o.lazy);
    double t[2][2] = {{0}}; /* [dense][training] */
    for (int dense = 0; dense < 2 && st == MOECL_OK; dense++) {
        net->dense_eval = dense;
        for (int training = 1; training >= 0 && st == MOECL_OK; training--)
            st = time_steps(net, b.params, b.nparams, o.lazy ? b.list : NULL, NULL, training,
                            (int)o.steps, &t[dense][training]);
    }
    if (st == MOECL_OK) {
        double images = (double)o.batch * o.steps;
        printf("model %s, batch %ld, %ld steps, %d experts, ", net->name, o.batch, o.steps, net->n_experts);
        if (net->head == HEAD_SWITCH) printf("capacity factor %g, ", net->capacity_factor);
        else printf("hard binary gate (training: every part but the gate, through the head), ");
        printf("device %s\n", moecl_ctx_device(ctx)->name);
        printf("%-10s %14s %14s %8s\n", "", "routed img/s", "dense img/s", "speed-up");
        printf("%-10s %14.1f %14.1f %7.2fx\n", "training", images / t[0][1], images / t[1][1],
               t[1][1] / t[0][1]);
        printf("%-10s %14.1f %14.1f %7.2fx\n", "inference", images / t[0][0], images / t[1][0],
               t[1][0] / t[0][0]);
        net->dense_eval = false;
        layer_run run = {.training = false};
        st = model_forward(net, (int)o.batch, &run);
        printf("expert images in the last routed step:");
        for (int k = 0; k < net->n_experts && st == MOECL_OK; k++) printf(" %d", net->expert_counts[k]);
        printf(", dropped %d\n", net->expert_counts[net->n_experts]);
    }
    if (st != MOECL_OK) rc = cli_report(st);
    bench_release(&b);
    model_free(net);
    moecl_ctx_destroy(ctx);
    return rc;
}
