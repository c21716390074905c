/* The hierarchical head on odd shapes (a hard binary gate choosing an
 * expert, sub-gates mixing it class by class with the baseline): forward
 * against a host reference, backward against finite differences, its
 * stages; and the sub-gate stage's table of frozen outputs against running
 * the frozen parts. */
#include "evaluate.h"
#include "frozen_cache.h"
#include "mixture_check.h"
#include "train.h"

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

static void test_hierarchical(void)
{
    const int B = 6, n = 6, C = 5;
    float x[6 * 18];
    model *m = model_on_random_images(HIER, "hier", B, 5, 21, 1.0f, 0.0f, x);
    if (!m) return;
    CHECK(m->head == HEAD_HIERARCHICAL && m->n_stages == 3, "parsed");
    CHECK(m->stages[0].alone == m->gate && m->stages[1].alone == 2 && m->stages[2].alone == -1,
          "stages: the gate alone, expert x alone, the sub-gates through the head");
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
    for (int i = 0; i < n; i++) worst_routed = check_worst(worst_routed, fabs(routed_loss[i] - dense_loss[i]));
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
        dataset_make_view_batch(&d, &idx[i], 1, &norm, mirror[i], 0, 0, host + (size_t)i * CIFAR_IMAGE_BYTES,
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

int main(void)
{
    ctx = check_open_device(NULL);
    test_hierarchical();
    test_frozen_cache();
    moecl_ctx_destroy(ctx);
    return check_summary("test_hierarchical");
}
