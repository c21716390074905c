/* The soft-mixture head on odd shapes: its loss and probabilities against a
 * plain C reference computed from the parts' own outputs, and the gradients
 * of every expert's and the gate's parameters against finite differences
 * of the mean loss. */
#include "check.h"
#include "model.h"

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
    layer_run run = {.training = true};
    model_forward(m, n, &run);
    CHECK(model_backward(m, n) == MOECL_OK, "%s", moecl_last_error());
    model_param *list = NULL;
    int count = 0;
    model_params(m, &list, &count);
    CHECK(count == 10, "%d parameters (a: 2, b: 4, c: 2, gate: 2)", count);
    for (int p = 0; p < count; p++) {
        moecl_param *prm = list[p].param;
        if (!prm->grad) continue;
        float *v = read_all(prm->value), *g = read_all(prm->grad);
        float worst = 0;
        for (size_t j = 0; j < prm->value->count; j++) {
            float keep = v[j];
            v[j] = keep + 1e-2f;
            moecl_tensor_upload(prm->value, v, prm->value->count);
            double up = mean_loss(m, n);
            v[j] = keep - 1e-2f;
            moecl_tensor_upload(prm->value, v, prm->value->count);
            double down = mean_loss(m, n);
            v[j] = keep;
            moecl_tensor_upload(prm->value, v, prm->value->count);
            double fd = (up - down) / 2e-2;
            worst = fmaxf(worst, (float)(fabs(fd - g[j]) / (1 + fabs(fd))));
        }
        CHECK(worst < 2e-3f, "%s: gradient off by %g", list[p].name, worst);
        free(v), free(g);
    }
    CHECK(strcmp(list[0].name, "a.dense_1.kernel") == 0, "part-qualified names: %s", list[0].name);
    free(list);
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
    moecl_ctx_destroy(ctx);
    return check_summary("test_mixture");
}
