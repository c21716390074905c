/* The soft-mixture head on odd shapes: its loss and probabilities against a
 * plain C reference computed from the parts' own outputs, and the gradients
 * of every expert's and the gate's parameters against finite differences
 * of the mean loss; parts frozen in a stage run as evaluated. The
 * hierarchical head is in test_hierarchical.c, the sparse gates in
 * test_sparse_gates.c. */
#include "mixture_check.h"

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

/* The mean loss plus the soft gate's importance loss of the same forward. */
static double soft_objective(model *m, int n)
{
    double s = mean_loss(m, n);
    float aux = 0;
    moecl_tensor_download(m->kaux, &aux, 1);
    return s + aux;
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

/* A part that does not learn in a stage runs as in evaluation while the
 * rest trains: no dropout, batch norm on running statistics that stay as
 * they were. Where it learns, both are on (so these checks can fail). */
static void test_frozen_parts_run_as_evaluated(void)
{
    const int B = 7, n = 7;
    float x[7 * 18];
    model *m = model_on_random_images(STAGED, "staged.json", B, 5, 21, 2.0f, 0.5f, x);
    if (!m) return;
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

int main(void)
{
    ctx = check_open_device(NULL);
    const int B = 6, n = 5, K = 3, C = 5;
    float x[6 * 18];
    model *m = model_on_random_images(MODEL, "test", B, 3, 9, 1.0f, 0.0f, x);
    if (!m) return check_summary("test_mixture");
    CHECK(m->head == HEAD_SOFT_MIXTURE && m->n_experts == 3 && m->gate == 3, "parsed the mixture");
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
        for (int c = 0; c < C; c++) worst_p = check_worst(worst_p, fabs(P[c] - probs[i * C + c]));
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
    test_frozen_parts_run_as_evaluated();
    moecl_ctx_destroy(ctx);
    return check_summary("test_mixture");
}

