/* The soft-mixture head on odd shapes: its loss and probabilities against a
 * plain C reference computed from the parts' own outputs, and the gradients
 * of every expert's and the gate's parameters against finite differences
 * of the mean loss. */
#include "check.h"
#include "evaluate.h"
#include "model.h"
#include "frozen_cache.h"
#include "train.h"

static const char MODEL[] =
    "{\"name\": \"mix\", \"input\": [2, 3, 3], \"classes\": 5,"
    " \"parts\": ["
    "  {\"name\": \"a\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"b\", \"layers\": [{\"type\": \"conv2d\", \"filters\": 3, \"padding\": \"same\"},"
    "                                {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"c\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"gate\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]}"
    " ],"
    " \"mixture\": {\"type\": \"soft\", \"gate\": \"gate\", \"experts\": [\"a\", \"b\", \"c\"]}}";

static moecl_ctx *ctx;

static float *read_all(const moecl_tensor *t)
{
    float *h = malloc(t->count * sizeof *h);
    moecl_tensor_download(t, h, t->count);
    return h;
}

static double mean_loss(model *m, int n)
{
    layer_run run = {.training = false};
    float loss[8];
    if (model_forward(m, n, &run) != MOECL_OK || model_read(m, n, loss, NULL) != MOECL_OK) return NAN;
    double s = 0;
    for (int i = 0; i < n; i++) s += loss[i];
    return s / n;
}

/* The mean loss plus the soft gate's importance loss of the same forward. */
static double soft_objective(model *m, int n)
{
    double s = mean_loss(m, n);
    float aux = 0;
    moecl_tensor_download(m->kaux, &aux, 1);
    return s + aux;
}

/* A small hierarchical model: classes {0, 2} go to expert x, {1, 3, 4} to y. */
static const char HIER[] =
    "{\"name\": \"hier\", \"input\": [2, 3, 3], \"classes\": 5,"
    " \"parts\": ["
    "  {\"name\": \"base\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"gate\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]},"
    "  {\"name\": \"x\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"y\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"sx\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"
    "  {\"name\": \"sy\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]}"
    " ],"
    " \"mixture\": {\"type\": \"hierarchical\", \"baseline\": \"base\", \"gate\": \"gate\","
    "   \"experts\": [\"x\", \"y\"], \"subgates\": [\"sx\", \"sy\"], \"groups\": [[0, 2], [1, 3, 4]]},"
    " \"stages\": [{\"name\": \"gate\", \"train\": [\"gate\"]},"
    "   {\"name\": \"x\", \"train\": [\"x\"], \"classes\": [0, 2]},"
    "   {\"name\": \"subgates\", \"train\": [\"sx\", \"sy\"]}]}";

/* Every parameter that learns (skipping frozen layers) against central
 * finite differences of an objective, after one forward and backward. */
typedef double (*objective_fn)(model *m, int n);

static void check_grads_after(model *m, int n, const layer_run *run, objective_fn objective,
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
            worst = fmaxf(worst, (float)(fabs(fd - g[j]) / (1 + fabs(fd))));
        }
        CHECK(worst < tol, "%s: %s: gradient off by %g", when, list[p].name, worst);
        free(v), free(g);
    }
    CHECK(checked > 0, "%s: some parameters learn", when);
    free(list);
}

static void check_grads(model *m, int n, objective_fn objective, float eps, float tol,
                        const char *when)
{
    layer_run run = {.training = false};
    check_grads_after(m, n, &run, objective, eps, tol, when);
}

/* A soft mixture whose expert a has batch norm and dropout, trained in two
 * stages: the experts, then the gate alone through the head. */
static const char STAGED[] =
    "{\"name\": \"staged\", \"input\": [2, 3, 3], \"classes\": 5,"
    " \"parts\": ["
    "  {\"name\": \"a\", \"layers\": [{\"type\": \"batchnorm\", \"momentum\": 0.5},"
    "     {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 7, \"activation\": \"relu\"},"
    "     {\"type\": \"dropout\", \"rate\": 0.5}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"b\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"gate\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 2}]}"
    " ],"
    " \"mixture\": {\"type\": \"soft\", \"gate\": \"gate\", \"experts\": [\"a\", \"b\"]},"
    " \"stages\": [{\"name\": \"experts\", \"train\": [\"a\", \"b\"]},"
    "   {\"name\": \"gate\", \"train\": [\"gate\"]}]}";

/* Largest difference between two arrays of n floats. */
static float max_diff(const float *x, const float *y, size_t n)
{
    float worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmaxf(worst, fabsf(x[i] - y[i]));
    return worst;
}

/* A part that does not learn in a stage runs as in evaluation while the
 * rest trains: no dropout, batch norm on running statistics that stay as
 * they were. Where it learns, both are on (so these checks can fail). */
static void test_frozen_parts_run_as_evaluated(void)
{
    model *m = NULL;
    CHECK(model_parse(STAGED, "staged.json", &m) == MOECL_OK, "%s", moecl_last_error());
    if (!m) return;
    const int B = 7, n = 7;
    CHECK(model_setup(m, ctx, B, 5) == MOECL_OK, "%s", moecl_last_error());
    unsigned seed = 21;
    float x[7 * 18];
    for (int i = 0; i < B * 18; i++) x[i] = 2.0f * check_random(&seed) + 0.5f;
    moecl_tensor_upload(m->images, x, (size_t)B * 18);
    int labels[7] = {0, 4, 2, 2, 3, 1, 0};
    CHECK(model_set_labels(m, labels, n) == MOECL_OK, "%s", moecl_last_error());
    const moecl_tensor *out = network_output(m->parts[0]);
    moecl_tensor *moving_mean = m->parts[0]->layers[0]->params[2].value;
    layer_run eval = {.training = false}, step1 = {.training = true, .seed = 3, .step = 1},
              step2 = {.training = true, .seed = 3, .step = 2};

    for (int s = 0; s < 2; s++) {
        bool learns = s == 0;
        CHECK(model_set_stage(m, s) == MOECL_OK, "%s", moecl_last_error());
        CHECK(model_forward(m, n, &eval) == MOECL_OK, "%s", moecl_last_error());
        float *evaluated = read_all(out), *mean_before = read_all(moving_mean);
        CHECK(model_forward(m, n, &step1) == MOECL_OK, "%s", moecl_last_error());
        float *first = read_all(out), *mean_after = read_all(moving_mean);
        model_forward(m, n, &step2);
        float *second = read_all(out);
        size_t count = (size_t)n * 5;
        float masks = max_diff(first, second, count), vs_eval = max_diff(first, evaluated, count);
        float drift = max_diff(mean_before, mean_after, moving_mean->count);
        if (learns) {
            CHECK(masks > 1e-3f, "a learning part: dropout masks differ by step (%g)", masks);
            CHECK(drift > 1e-3f, "a learning part: batch norm updates its running mean (%g)", drift);
        } else {
            CHECK(masks == 0 && vs_eval < 1e-6f,
                  "a frozen part runs as evaluated (steps differ by %g, evaluation by %g)", masks,
                  vs_eval);
            CHECK(drift == 0, "a frozen part's running mean stays (moved %g)", drift);
        }
        free(evaluated), free(mean_before), free(first), free(mean_after), free(second);
    }
    /* the gate stage trained with dropout on: the gate's gradient is that of
     * the evaluated mixture */
    check_grads_after(m, n, &step1, mean_loss, 1e-2f, 2e-3f, "gate stage, training run");
    model_free(m);
}

static void test_hierarchical(void)
{
    model *m = NULL;
    CHECK(model_parse(HIER, "hier", &m) == MOECL_OK, "%s", moecl_last_error());
    if (!m) return;
    CHECK(m->head == HEAD_HIERARCHICAL && m->n_stages == 3, "parsed");
    CHECK(m->stages[0].alone == m->gate && m->stages[1].alone == 2 && m->stages[2].alone == -1,
          "stages: the gate alone, expert x alone, the sub-gates through the head");
    const int B = 6, n = 6, C = 5;
    CHECK(model_setup(m, ctx, B, 5) == MOECL_OK, "%s", moecl_last_error());
    unsigned seed = 21;
    float x[6 * 18];
    for (int i = 0; i < B * 18; i++) x[i] = check_random(&seed);
    moecl_tensor_upload(m->images, x, (size_t)B * 18);
    int labels[6] = {0, 1, 2, 3, 4, 2};

    /* the whole model, routed: each expert and sub-gate on its images only */
    model_set_stage(m, -1);
    model_set_labels(m, labels, n);
    layer_run eval_run = {.training = false};
    float routed_loss[6], dense_loss[6];
    model_forward(m, n, &eval_run);
    model_read(m, n, routed_loss, NULL);
    int routed_images = m->expert_counts[0] + m->expert_counts[1];
    CHECK(routed_images == n && m->expert_counts[0] > 0 && m->expert_counts[1] > 0,
          "every image to one expert, both used: %d + %d", m->expert_counts[0], m->expert_counts[1]);
    /* the dense evaluation (both experts on every image) gives the same losses,
     * and leaves every part's output per image for the reference */
    m->dense_eval = true;
    model_forward(m, n, &eval_run);
    model_read(m, n, dense_loss, NULL);
    double worst_routed = 0;
    for (int i = 0; i < n; i++) worst_routed = fmax(worst_routed, fabs(routed_loss[i] - dense_loss[i]));
    CHECK(worst_routed < 1e-6, "routed and dense hierarchical losses differ by %g", worst_routed);
    double got = mean_loss(m, n);
    float *a = read_all(network_output(m->parts[1])), *zb = read_all(network_output(m->parts[0]));
    float *z[2] = {read_all(network_output(m->parts[2])), read_all(network_output(m->parts[3]))};
    float *v[2] = {read_all(network_output(m->parts[4])), read_all(network_output(m->parts[5]))};
    double want = 0;
    for (int i = 0; i < n; i++) {
        int e = a[i * 2 + 1] > a[i * 2] ? 1 : 0;
        double pb[5], pe[5], w[10], sb = 0, se = 0, sw = 0, P[5], total = 0;
        for (int c = 0; c < C; c++) sb += (pb[c] = exp(zb[i * C + c])), se += (pe[c] = exp(z[e][i * C + c]));
        for (int j = 0; j < 2 * C; j++) sw += (w[j] = exp(v[e][i * 2 * C + j]));
        for (int c = 0; c < C; c++) total += (P[c] = w[2 * c] / sw * pb[c] / sb + w[2 * c + 1] / sw * pe[c] / se);
        want -= log(P[labels[i]] / total);
    }
    want /= n;
    CHECK(fabs(got - want) < 1e-5, "hierarchical loss %.7f, reference %.7f", got, want);
    free(a), free(zb);
    for (int k = 0; k < 2; k++) free(z[k]), free(v[k]);
    check_grads(m, n, mean_loss, 1e-2f, 2e-3f, "whole model, dense");
    m->dense_eval = false;
    check_grads(m, n, mean_loss, 1e-2f, 2e-3f, "whole model, routed");

    /* stage 3: only the sub-gates learn, through the head */
    model_set_stage(m, 2);
    model_set_labels(m, labels, n);
    check_grads(m, n, mean_loss, 1e-2f, 2e-3f, "sub-gate stage");
    /* stage 2: expert x alone on every image of its batch (not routed) */
    model_set_stage(m, 1);
    int x_labels[6] = {0, 2, 2, 0, 0, 2};
    model_set_labels(m, x_labels, n);
    check_grads(m, n, mean_loss, 1e-2f, 2e-3f, "expert stage");

    /* stage 1: the gate alone on the groups: labels become 0 / 1 */
    model_set_stage(m, 0);
    model_set_labels(m, labels, n);
    float loss[6];
    int pred[6];
    layer_run run = {.training = false};
    model_forward(m, n, &run);
    model_read(m, n, loss, pred);
    int binary = 0;
    for (int i = 0; i < n; i++) binary += pred[i] == 0 || pred[i] == 1;
    CHECK(binary == n, "the gate stage predicts groups");
    check_grads(m, n, mean_loss, 1e-2f, 2e-3f, "gate stage");
    model_free(m);

    const char *no_stages = strstr(HIER, ", \"stages\"") ? NULL : "";
    (void)no_stages;
    char broken[4096];
    snprintf(broken, sizeof broken, "%.*s}", (int)(strstr(HIER, ", \"stages\"") - HIER), HIER);
    CHECK(model_parse(broken, "nostages.json", &m) == MOECL_ERR_FORMAT, "hierarchical without stages");
    CHECK(strstr(moecl_last_error(), "stages") != NULL, "%s", moecl_last_error());
}

/* A hierarchical model on CIFAR-shaped images, with dropout in its gate:
 * for the frozen parts' table of the sub-gate stage. */
static const char HIER32[] =
    "{\"name\": \"hier32\", \"input\": [3, 32, 32], \"classes\": 10,"
    " \"parts\": ["
    "  {\"name\": \"base\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"
    "  {\"name\": \"gate\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dropout\", \"rate\": 0.5},"
    "     {\"type\": \"dense\", \"units\": 2}]},"
    "  {\"name\": \"x\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"
    "  {\"name\": \"y\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"
    "  {\"name\": \"sx\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 20}]},"
    "  {\"name\": \"sy\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 20}]}"
    " ],"
    " \"mixture\": {\"type\": \"hierarchical\", \"baseline\": \"base\", \"gate\": \"gate\","
    "   \"experts\": [\"x\", \"y\"], \"subgates\": [\"sx\", \"sy\"],"
    "   \"groups\": [[0, 1, 8, 9], [2, 3, 4, 5, 6, 7]]},"
    " \"stages\": [{\"name\": \"base\", \"train\": [\"base\"]},"
    "   {\"name\": \"subgates\", \"train\": [\"sx\", \"sy\"]}]}";

/* The mean loss, probabilities and learning gradients of one training
 * step, with the frozen parts run or read from the table (rows != NULL). */
static void hier_step(model *m, int n, const int *rows, double *loss, float *probs, float **grads,
                      int *n_grads)
{
    layer_run run = {.training = true, .seed = 4, .step = 7};
    m->cache_rows = rows;
    moecl_status st = model_forward(m, n, &run);
    m->cache_rows = NULL;
    CHECK(st == MOECL_OK, "%s", moecl_last_error());
    float l[16];
    model_read(m, n, l, NULL);
    *loss = 0;
    for (int i = 0; i < n; i++) *loss += l[i] / n;
    CHECK(moecl_tensor_download(m->loss.probs, probs, m->loss.probs->count) == MOECL_OK, "%s",
          moecl_last_error());
    CHECK(model_backward(m, n) == MOECL_OK, "%s", moecl_last_error());
    model_param *list = NULL;
    int count = 0;
    model_params(m, &list, &count);
    *n_grads = 0;
    for (int p = 0; p < count; p++)
        if (list[p].param->grad && !list[p].owner->frozen) grads[(*n_grads)++] = read_all(list[p].param->grad);
    free(list);
}

/* The sub-gate stage from the table gives what running the frozen parts
 * gives: loss, probabilities, gradients; mirrored rows hold the mirror
 * images' outputs. */
static void test_frozen_cache(void)
{
    model *m = NULL;
    CHECK(model_parse(HIER32, "hier32.json", &m) == MOECL_OK, "%s", moecl_last_error());
    if (!m) return;
    const int B = 8, n = 7, C = 10;
    dataset d = {0};
    CHECK(dataset_synthetic(20, 3, &d) == MOECL_OK, "%s", moecl_last_error());
    normalizer norm = normalizer_fit(&d);
    CHECK(model_setup(m, ctx, B, 11) == MOECL_OK, "%s", moecl_last_error());
    float *host = malloc((size_t)B * CIFAR_IMAGE_BYTES * sizeof *host);
    int labels[8];
    model_set_stage(m, 0);
    CHECK(!frozen_cache_applies(m), "no table while the baseline learns");
    model_set_stage(m, 1);
    CHECK(frozen_cache_applies(m), "a table when only the sub-gates learn");
    bool stopped = true;
    dataset val = {0};
    CHECK(dataset_synthetic(13, 4, &val) == MOECL_OK, "%s", moecl_last_error());
    CHECK(frozen_cache_build(m, &d, &val, &norm, true, host, labels, NULL, &stopped) == MOECL_OK &&
          !stopped, "%s", moecl_last_error());
    CHECK(m->cache && m->cache->rows == 53, "20 images, their mirrors and 13 validation images "
          "(partial batches included)");
    if (!m->cache) goto done;
    CHECK(frozen_cache_eval_row(m->cache, &val, 4) == 44, "validation image 4 is row 40 + 4");
    CHECK(frozen_cache_eval_row(m->cache, &d, 4) == -1, "other sets are not in the table");

    /* validation from the table equals running the parts (a copy of the set
     * is not the one the table covers, so it runs the whole model) */
    dataset val_copy = val;
    eval_result from_table, from_parts;
    CHECK(evaluate(m, &val, &norm, host, &from_table) == MOECL_OK, "%s", moecl_last_error());
    CHECK(evaluate(m, &val_copy, &norm, host, &from_parts) == MOECL_OK, "%s", moecl_last_error());
    CHECK(fabs(from_table.loss - from_parts.loss) < 1e-5 && from_table.count == 13 &&
          memcmp(from_table.confusion, from_parts.confusion, sizeof from_table.confusion) == 0,
          "validation loss %.7f from the table, %.7f running the parts", from_table.loss,
          from_parts.loss);
    /* and it does read the table: change the baseline's rows of the validation images */
    for (size_t i = 0; i < (size_t)13 * C; i++) m->cache->baseline[(size_t)40 * C + i] = 0.1f;
    CHECK(evaluate(m, &val, &norm, host, &from_table) == MOECL_OK, "%s", moecl_last_error());
    CHECK(fabs(from_table.loss - from_parts.loss) > 1e-4, "validation reads the table (%.7f, %.7f)",
          from_table.loss, from_parts.loss);

    /* a batch of images in another order, some mirrored */
    int idx[7] = {3, 17, 0, 9, 12, 5, 19}, rows[7];
    bool mirror[7] = {1, 0, 1, 1, 0, 0, 1};
    for (int i = 0; i < n; i++) {
        dataset_make_mirrored_batch(&d, &idx[i], 1, &norm, mirror[i], host + (size_t)i * CIFAR_IMAGE_BYTES,
                                    &labels[i]);
        rows[i] = frozen_cache_row(m->cache, idx[i], mirror[i]);
    }
    CHECK(rows[0] == 23 && rows[1] == 17, "rows: image i, its mirror 20 + i");
    moecl_tensor_upload_part(m->images, host, (size_t)n * CIFAR_IMAGE_BYTES);
    model_set_labels(m, labels, n);
    double run_loss, table_loss;
    float run_p[80], table_p[80], *run_g[8], *table_g[8];
    int run_n = 0, table_n = 0;
    hier_step(m, n, NULL, &run_loss, run_p, run_g, &run_n);
    hier_step(m, n, rows, &table_loss, table_p, table_g, &table_n);
    CHECK(fabs(run_loss - table_loss) < 1e-5, "loss %.7f from the table, %.7f running the parts",
          table_loss, run_loss);
    CHECK(max_diff(run_p, table_p, (size_t)n * C) < 1e-5f, "probabilities off by %g",
          max_diff(run_p, table_p, (size_t)n * C));
    CHECK(run_n == 4 && table_n == 4, "the sub-gates' kernels and biases learn (%d, %d)", run_n, table_n);
    for (int g = 0; g < run_n && g < table_n; g++) {
        size_t count = g % 2 ? 20 : (size_t)CIFAR_IMAGE_BYTES * 20;
        CHECK(max_diff(run_g[g], table_g[g], count) < 1e-5f, "gradient %d off by %g", g,
              max_diff(run_g[g], table_g[g], count));
    }
    for (int g = 0; g < run_n; g++) free(run_g[g]);
    for (int g = 0; g < table_n; g++) free(table_g[g]);
    /* a mirrored row is the mirror image's, not the image's */
    float worst = max_diff(m->cache->baseline + 3 * C, m->cache->baseline + 23 * C, C);
    CHECK(worst > 1e-4f, "image 3 and its mirror differ in the table (%g)", worst);
    /* Ctrl-C while building: no table */
    moecl_interrupted = 1;
    CHECK(frozen_cache_build(m, &d, NULL, &norm, false, host, labels, NULL, &stopped) == MOECL_OK && stopped &&
          !m->cache, "an interrupted build keeps no table");
    moecl_interrupted = 0;
done:
    free(host);
    dataset_free(&val);
    dataset_free(&d);
    model_free(m);
}

static const char SWITCH[] =
    "{\"name\": \"sw\", \"input\": [2, 3, 3], \"classes\": 5,"
    " \"parts\": ["
    "  {\"name\": \"e0\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e1\", \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"padding\": \"same\"},"
    "                                 {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e2\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"router\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]}"
    " ],"
    " \"mixture\": {\"type\": \"switch\", \"gate\": \"router\", \"experts\": [\"e0\", \"e1\", \"e2\"],"
    "   \"capacity_factor\": 3.0, \"aux_loss\": 0.5, \"z_loss\": 0.1}}";

/* The switch objective as training sees it: mean CE + aux + z-loss, from
 * the per-example losses and the router's logits (argmax shares held fixed). */
static double switch_objective(model *m, int n)
{
    layer_run run = {.training = false};
    float loss[8], a[8 * 3];
    if (model_forward(m, n, &run) != MOECL_OK || model_read(m, n, loss, NULL) != MOECL_OK) return NAN;
    moecl_tensor_download(network_output(m->parts[3]), a, m->batch * 3);
    double ce = 0, P[3] = {0}, z = 0;
    for (int i = 0; i < n; i++) {
        ce += loss[i];
        double mx = fmax(a[i * 3], fmax(a[i * 3 + 1], a[i * 3 + 2])), s = 0;
        for (int k = 0; k < 3; k++) s += exp(a[i * 3 + k] - mx);
        for (int k = 0; k < 3; k++) P[k] += exp(a[i * 3 + k] - mx) / s / n;
        z += pow(mx + log(s), 2) / n;
    }
    double aux = 0;
    for (int k = 0; k < 3; k++) aux += (double)m->expert_counts[3 + 1 + k] / n * P[k];
    return ce / n + m->aux_weight * 3 * aux + m->z_weight * z;
}

static void test_switch(void)
{
    model *m = NULL;
    CHECK(model_parse(SWITCH, "switch", &m) == MOECL_OK, "%s", moecl_last_error());
    if (!m) return;
    CHECK(m->head == HEAD_SWITCH && m->capacity_factor == 3.0f, "parsed the switch");
    const int B = 6, n = 6, C = 5;
    CHECK(model_setup(m, ctx, B, 11) == MOECL_OK, "%s", moecl_last_error());
    unsigned seed = 5;
    float x[6 * 18];
    for (int i = 0; i < B * 18; i++) x[i] = 2 * check_random(&seed);
    moecl_tensor_upload(m->images, x, (size_t)B * 18);
    int labels[6] = {4, 1, 0, 3, 2, 2};
    model_set_labels(m, labels, n);

    /* routed (each expert on its images) equals dense (every expert on all) */
    layer_run run = {.training = false};
    float routed[6], dense[6];
    model_forward(m, n, &run);
    model_read(m, n, routed, NULL);
    int used = 0;
    for (int k = 0; k < 3; k++) used += m->expert_counts[k] > 0;
    m->dense_eval = true;
    model_forward(m, n, &run);
    model_read(m, n, dense, NULL);
    /* reference from the dense pass: y = p[e] * z_e, e = argmax */
    float *a = read_all(network_output(m->parts[3]));
    float *z[3] = {read_all(network_output(m->parts[0])), read_all(network_output(m->parts[1])),
                   read_all(network_output(m->parts[2]))};
    double worst = 0, worst_ref = 0;
    for (int i = 0; i < n; i++) {
        int e = 0;
        for (int k = 1; k < 3; k++) if (a[i * 3 + k] > a[i * 3 + e]) e = k;
        double s = 0;
        for (int k = 0; k < 3; k++) s += exp(a[i * 3 + k]);
        double pe = exp(a[i * 3 + e]) / s, mx = -1e30, sum = 0;
        for (int c = 0; c < C; c++) mx = fmax(mx, pe * z[e][i * C + c]);
        for (int c = 0; c < C; c++) sum += exp(pe * z[e][i * C + c] - mx);
        double ref = log(sum) + mx - pe * z[e][i * C + labels[i]];
        worst = fmax(worst, fabs(routed[i] - dense[i]));
        worst_ref = fmax(worst_ref, fabs(routed[i] - ref));
    }
    CHECK(worst < 1e-5, "routed and dense evaluation differ by %g", worst);
    CHECK(worst_ref < 1e-5, "routed loss differs from the reference by %g", worst_ref);
    CHECK(used >= 2, "the router uses %d experts on this batch", used);
    free(a);
    for (int k = 0; k < 3; k++) free(z[k]);
    m->dense_eval = false;

    /* gradients of CE + load-balancing loss + z-loss */
    check_grads(m, n, switch_objective, 1e-3f, 5e-3f, "switch");

    /* evaluation keeps every image by default, whatever the training capacity */
    {
        float cap_loss[6];
        m->capacity_factor = 0.5f;
        model_forward(m, n, &run);
        model_read(m, n, cap_loss, NULL);
        CHECK(m->expert_counts[3] == 0, "no drops in evaluation by default (%d)", m->expert_counts[3]);
    }
    /* a small capacity drops images: they get no expert and a uniform guess */
    m->capacity_factor = 0.5f; /* ceil(0.5 * 6 / 3) = 1 slot per expert */
    m->eval_capacity_factor = 0.5f; /* evaluation keeps every image unless told */
    float loss[6];
    int route[6];
    model_forward(m, n, &run);
    model_read(m, n, loss, NULL);
    model_read_route(m, n, route);
    int dropped = 0, uniform = 0;
    for (int i = 0; i < n; i++)
        if (route[i] < 0) dropped++, uniform += fabs(loss[i] - log(5.0)) < 1e-5;
    CHECK(m->expert_counts[3] == dropped && dropped >= 3, "%d images dropped, counted %d", dropped,
          m->expert_counts[3]);
    CHECK(uniform == dropped, "dropped images predict uniformly");
    for (int k = 0; k < 3; k++) CHECK(m->expert_counts[k] <= 1, "expert %d within capacity", k);
    model_free(m);
}

static const char TOPK[] =
    "{\"name\": \"tk\", \"input\": [2, 3, 3], \"classes\": 5,"
    " \"parts\": ["
    "  {\"name\": \"e0\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e1\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e2\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e3\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"g\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 8}]}"
    " ],"
    " \"mixture\": {\"type\": \"topk\", \"gate\": \"g\", \"experts\": [\"e0\", \"e1\", \"e2\", \"e3\"],"
    "   \"k\": 2, \"noise\": true, \"importance_loss\": 0.3, \"load_loss\": 0.0}}";

/* Mean CE plus the importance loss, in training mode (noise at a fixed step). */
static double topk_objective(model *m, int n)
{
    layer_run run = {.training = true, .seed = 3, .step = 7};
    float loss[8], aux = 0;
    if (model_forward(m, n, &run) != MOECL_OK || model_read(m, n, loss, NULL) != MOECL_OK) return NAN;
    moecl_tensor_download(m->kaux, &aux, 1);
    double s = 0;
    for (int i = 0; i < n; i++) s += loss[i];
    return s / n + aux;
}

static void test_topk(void)
{
    model *m = NULL;
    CHECK(model_parse(TOPK, "topk", &m) == MOECL_OK, "%s", moecl_last_error());
    if (!m) return;
    CHECK(m->head == HEAD_TOPK && m->topk == 2 && m->noisy, "parsed top-k");
    const int B = 6, n = 6, C = 5, E = 4, IN = 18;
    CHECK(model_setup(m, ctx, B, 13) == MOECL_OK, "%s", moecl_last_error());
    unsigned seed = 17;
    float x[6 * 18];
    for (int i = 0; i < B * IN; i++) x[i] = 2 * check_random(&seed);
    moecl_tensor_upload(m->images, x, (size_t)B * IN);
    int labels[6] = {1, 0, 4, 3, 2, 1};
    model_set_labels(m, labels, n);

    /* evaluation (no noise) against a reference from the weights */
    float loss[6];
    layer_run eval = {.training = false};
    model_forward(m, n, &eval);
    model_read(m, n, loss, NULL);
    float *w[4], *b[4];
    for (int k = 0; k < E; k++) {
        w[k] = read_all(m->parts[k]->layers[1]->params[0].value);
        b[k] = read_all(m->parts[k]->layers[1]->params[1].value);
    }
    float *gw = read_all(m->parts[4]->layers[1]->params[0].value);
    float *gb = read_all(m->parts[4]->layers[1]->params[1].value);
    double worst = 0;
    int total_routes = 0;
    for (int i = 0; i < n; i++) {
        double c[4];
        for (int e = 0; e < E; e++) {
            c[e] = gb[e];
            for (int j = 0; j < IN; j++) c[e] += x[i * IN + j] * gw[j * 8 + e];
        }
        int first = 0, second = -1;
        for (int e = 1; e < E; e++) if (c[e] > c[first]) first = e;
        for (int e = 0; e < E; e++) if (e != first && (second < 0 || c[e] > c[second])) second = e;
        double g1 = 1 / (1 + exp(c[second] - c[first])), g2 = 1 - g1, y[5], mx = -1e30, s = 0;
        for (int k = 0; k < C; k++) {
            double z1 = b[first][k], z2 = b[second][k];
            for (int j = 0; j < IN; j++) z1 += x[i * IN + j] * w[first][j * C + k], z2 += x[i * IN + j] * w[second][j * C + k];
            y[k] = g1 * z1 + g2 * z2;
            mx = fmax(mx, y[k]);
        }
        for (int k = 0; k < C; k++) s += exp(y[k] - mx);
        worst = fmax(worst, fabs(loss[i] - (log(s) + mx - y[labels[i]])));
    }
    for (int e = 0; e < E; e++) total_routes += m->expert_counts[e];
    CHECK(worst < 1e-5, "top-2 loss differs from the reference by %g", worst);
    CHECK(total_routes == 2 * n, "each image went to 2 experts (%d routes)", total_routes);
    for (int k = 0; k < E; k++) free(w[k]), free(b[k]);
    free(gw), free(gb);

    /* training mode: noise moves the choice, deterministically for a step */
    float l1[6], l2[6];
    layer_run tr = {.training = true, .seed = 3, .step = 7};
    model_forward(m, n, &tr);
    model_read(m, n, l1, NULL);
    model_forward(m, n, &tr);
    model_read(m, n, l2, NULL);
    CHECK(memcmp(l1, l2, sizeof l1) == 0, "the same step draws the same noise");

    /* gradients of CE + importance loss through the noisy top-k softmax */
    layer_run run = tr;
    model_forward(m, n, &run);
    CHECK(model_backward(m, n) == MOECL_OK, "%s", moecl_last_error());
    model_param *list = NULL;
    int count = 0;
    model_params(m, &list, &count);
    for (int p = 0; p < count; p++) {
        moecl_param *prm = list[p].param;
        float *v = read_all(prm->value), *g = read_all(prm->grad);
        float bad = 0;
        int kinks = 0;
        for (size_t j = 0; j < prm->value->count; j++) {
            float keep = v[j];
            v[j] = keep + 1e-3f;
            moecl_tensor_upload(prm->value, v, prm->value->count);
            double up = topk_objective(m, n);
            v[j] = keep - 1e-3f;
            moecl_tensor_upload(prm->value, v, prm->value->count);
            double down = topk_objective(m, n);
            v[j] = keep;
            moecl_tensor_upload(prm->value, v, prm->value->count);
            double center = topk_objective(m, n), fd = (up - down) / 2e-3;
            if (fabs((up - center) - (center - down)) > 1e-2 * 1e-3 * (1 + fabs(fd))) { kinks++; continue; }
            bad = fmaxf(bad, (float)(fabs(fd - g[j]) / (1 + fabs(fd))));
        }
        CHECK(bad < 5e-3f, "top-k: %s: gradient off by %g", list[p].name, bad);
        CHECK(kinks * 5 <= (int)prm->value->count, "top-k: %s: %d samples change the choice", list[p].name, kinks);
        free(v), free(g);
    }
    free(list);
    model_free(m);
}

int main(void)
{
    ctx = check_open_device(NULL);
    model *m = NULL;
    CHECK(model_parse(MODEL, "test", &m) == MOECL_OK, "%s", moecl_last_error());
    if (!m) return check_summary("test_mixture");
    CHECK(m->head == HEAD_SOFT_MIXTURE && m->n_experts == 3 && m->gate == 3, "parsed the mixture");
    const int B = 6, n = 5, K = 3, C = 5;
    CHECK(model_setup(m, ctx, B, 3) == MOECL_OK, "%s", moecl_last_error());
    unsigned seed = 9;
    float x[6 * 18];
    for (int i = 0; i < B * 18; i++) x[i] = check_random(&seed);
    moecl_tensor_upload(m->images, x, (size_t)B * 18);
    int labels[5] = {0, 4, 2, 2, 3};
    CHECK(model_set_labels(m, labels, n) == MOECL_OK, "%s", moecl_last_error());

    /* forward against a reference built from the parts' outputs */
    double got = mean_loss(m, n);
    float *gate = read_all(network_output(m->parts[3]));
    float *z[3] = {read_all(network_output(m->parts[0])), read_all(network_output(m->parts[1])),
                   read_all(network_output(m->parts[2]))};
    float *probs = read_all(m->loss.probs);
    double want = 0, worst_p = 0;
    for (int i = 0; i < n; i++) {
        double g[3], gs = 0, P[5] = {0};
        for (int k = 0; k < K; k++) gs += (g[k] = exp(gate[i * K + k]));
        for (int k = 0; k < K; k++) {
            double zs = 0;
            for (int c = 0; c < C; c++) zs += exp(z[k][i * C + c]);
            for (int c = 0; c < C; c++) P[c] += g[k] / gs * exp(z[k][i * C + c]) / zs;
        }
        want -= log(P[labels[i]]);
        for (int c = 0; c < C; c++) worst_p = fmax(worst_p, fabs(P[c] - probs[i * C + c]));
    }
    want /= n;
    CHECK(fabs(got - want) < 1e-5, "mixture loss %.7f, reference %.7f", got, want);
    CHECK(worst_p < 1e-6, "mixture probabilities off by %g", worst_p);
    free(gate), free(probs);
    for (int k = 0; k < 3; k++) free(z[k]);

    /* backward against finite differences of the mean loss */
    check_grads(m, n, mean_loss, 1e-2f, 2e-3f, "soft mixture");
    model_param *list = NULL;
    int count = 0;
    model_params(m, &list, &count);
    CHECK(count == 10, "%d parameters (a: 2, b: 4, c: 2, gate: 2)", count);
    CHECK(strcmp(list[0].name, "a.dense_1.kernel") == 0, "part-qualified names: %s", list[0].name);
    free(list);

    /* the optional importance loss: its value against a reference from the
     * gate weights, and the gradients of loss + importance loss */
    m->importance_weight = 0.7f;
    mean_loss(m, n);
    float *g = read_all(m->gates), aux = 0;
    moecl_tensor_download(m->kaux, &aux, 1);
    double I[3] = {0}, mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) I[k] += g[i * K + k];
    for (int k = 0; k < K; k++) mean += I[k] / K;
    for (int k = 0; k < K; k++) var += (I[k] - mean) * (I[k] - mean) / K;
    CHECK(fabs(aux - 0.7 * var / (mean * mean)) < 1e-6, "importance loss %g, reference %g", aux,
          0.7 * var / (mean * mean));
    CHECK(aux > 0, "an unbalanced batch has a positive importance loss");
    free(g);
    check_grads(m, n, soft_objective, 1e-2f, 2e-3f, "soft mixture with importance loss");
    model_free(m);
    const char *with_loss =
        "{\"parts\": [{\"name\": \"e\", \"layers\": [{\"type\": \"dense\", \"units\": 10}]},"
        " {\"name\": \"f\", \"layers\": [{\"type\": \"dense\", \"units\": 10}]},"
        " {\"name\": \"g\", \"layers\": [{\"type\": \"dense\", \"units\": 2}]}],"
        " \"mixture\": {\"gate\": \"g\", \"experts\": [\"e\", \"f\"], \"importance_loss\": 0.25}}";
    CHECK(model_parse(with_loss, "soft.json", &m) == MOECL_OK && m->importance_weight == 0.25f,
          "importance_loss in a soft mixture: %s", moecl_last_error());
    model_free(m);

    /* model-file errors name the part */
    const char *bad_gate =
        "{\"parts\": [{\"name\": \"e\", \"layers\": [{\"type\": \"dense\", \"units\": 10}]},"
        " {\"name\": \"g\", \"layers\": [{\"type\": \"dense\", \"units\": 2}]}],"
        " \"mixture\": {\"gate\": \"g\", \"experts\": [\"e\"]}}";
    CHECK(model_parse(bad_gate, "bad.json", &m) == MOECL_ERR_FORMAT, "gate with 2 outputs for 1 expert");
    CHECK(strstr(moecl_last_error(), "part g") && strstr(moecl_last_error(), "one per expert"),
          "%s", moecl_last_error());
    const char *no_expert =
        "{\"parts\": [{\"name\": \"e\", \"layers\": [{\"type\": \"dense\", \"units\": 10}]},"
        " {\"name\": \"g\", \"layers\": [{\"type\": \"dense\", \"units\": 1}]}],"
        " \"mixture\": {\"gate\": \"g\", \"experts\": [\"nope\"]}}";
    CHECK(model_parse(no_expert, "bad.json", &m) == MOECL_ERR_FORMAT, "unknown expert");
    CHECK(strstr(moecl_last_error(), "nope") != NULL, "%s", moecl_last_error());
    test_hierarchical();
    test_frozen_parts_run_as_evaluated();
    test_frozen_cache();
    test_switch();
    test_topk();
    moecl_ctx_destroy(ctx);
    return check_summary("test_mixture");
}
