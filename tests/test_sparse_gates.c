/* The sparse gates on odd shapes: Switch-style top-1 routing (capacity,
 * dropped images, auxiliary and router z-losses) and noisy top-k gating
 * (importance and load losses), forward against host references, backward
 * against finite differences, and routed evaluation against the dense one. */
#include "mixture_check.h"
#include "train_weights.h"

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
    moecl_tensor_download(network_output(m->parts[m->gate]), a, m->batch * 3);
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
    const int B = 6, n = 6, C = 5;
    float x[6 * 18];
    model *m = model_on_random_images(SWITCH, "switch", B, 11, 5, 2.0f, 0.0f, x);
    if (!m) return;
    CHECK(m->head == HEAD_SWITCH && m->capacity_factor == 3.0f, "parsed the switch");
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
        worst = check_worst(worst, fabs(routed[i] - dense[i]));
        worst_ref = check_worst(worst_ref, fabs(routed[i] - ref));
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

/* A trunk: one network's first layers on every image, then the switch
 * over expert blocks reading its output (the trunk listed last, to check
 * that parts are found by role). TRUNK_FLAT is the same model with the
 * trunk's layers repeated at the start of every part. */
#define TRUNK_LAYERS "{\"type\": \"conv2d\", \"filters\": 3, \"padding\": \"same\", \"activation\": \"gelu\"}"
static const char TRUNK[] =
    "{\"name\": \"trunk\", \"input\": [2, 5, 3], \"classes\": 5,"
    " \"parts\": ["
    "  {\"name\": \"e0\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e1\", \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"padding\": \"same\"},"
    "                                 {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e2\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"router\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]},"
    "  {\"name\": \"stem\", \"layers\": [" TRUNK_LAYERS "]}"
    " ],"
    " \"mixture\": {\"type\": \"switch\", \"gate\": \"router\", \"experts\": [\"e0\", \"e1\", \"e2\"],"
    "   \"trunk\": \"stem\", \"capacity_factor\": 3.0, \"aux_loss\": 0.5, \"z_loss\": 0.1}}";
static const char TRUNK_FLAT[] =
    "{\"name\": \"flat\", \"input\": [2, 5, 3], \"classes\": 5,"
    " \"parts\": ["
    "  {\"name\": \"e0\", \"layers\": [" TRUNK_LAYERS ", {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e1\", \"layers\": [" TRUNK_LAYERS ", {\"type\": \"conv2d\", \"filters\": 2, \"padding\": \"same\"},"
    "                                 {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e2\", \"layers\": [" TRUNK_LAYERS ", {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"router\", \"layers\": [" TRUNK_LAYERS ", {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 3}]}"
    " ],"
    " \"mixture\": {\"type\": \"switch\", \"gate\": \"router\", \"experts\": [\"e0\", \"e1\", \"e2\"],"
    "   \"capacity_factor\": 3.0, \"aux_loss\": 0.5, \"z_loss\": 0.1}}";

static void copy_param(const moecl_param *from, moecl_param *to)
{
    float *v = read_all(from->value);
    moecl_tensor_upload(to->value, v, to->value->count);
    free(v);
}

static void test_switch_trunk(void)
{
    const int n = 6;
    float x[6 * 30], y[6 * 30];
    model *m = model_on_random_images(TRUNK, "trunk", n, 11, 5, 2.0f, 0.0f, x);
    model *f = model_on_random_images(TRUNK_FLAT, "trunk_flat", n, 12, 5, 2.0f, 0.0f, y);
    if (!m || !f) {
        model_free(m), model_free(f);
        return;
    }
    CHECK(m->trunk == 4 && m->gate == 3 && m->n_experts == 3, "parsed the trunk (%d)", m->trunk);
    /* the same weights: the trunk's in front of every flat part */
    const network *stem = m->parts[4];
    for (int p = 0; p < 4; p++) {
        network *to = f->parts[p];
        for (int j = 0; j < stem->layers[0]->n_params; j++)
            copy_param(&stem->layers[0]->params[j], &to->layers[0]->params[j]);
        for (int l = 0; l < m->parts[p]->n_layers; l++)
            for (int j = 0; j < m->parts[p]->layers[l]->n_params; j++)
                copy_param(&m->parts[p]->layers[l]->params[j], &to->layers[l + 2]->params[j]);
    }
    int labels[6] = {4, 1, 0, 3, 2, 2};
    model_set_labels(m, labels, n);
    model_set_labels(f, labels, n);
    layer_run run = {.training = false};
    float with[6], flat[6];
    model_forward(m, n, &run);
    model_read(m, n, with, NULL);
    model_forward(f, n, &run);
    model_read(f, n, flat, NULL);
    int used = 0;
    for (int k = 0; k < 3; k++) used += m->expert_counts[k] > 0;
    CHECK(max_diff(with, flat, 6) < 1e-5, "a trunk equals its layers repeated in every part (off by %g)",
          max_diff(with, flat, 6));
    CHECK(used >= 2, "the router uses %d experts on this batch", used);
    /* gradients of every weight, the trunk's through the router and the experts */
    check_grads(m, n, switch_objective, 1e-3f, 5e-3f, "switch with a trunk");
    /* a dropped image: the trunk learns through the router alone */
    m->capacity_factor = 0.5f;
    layer_run train = {.training = true};
    model_forward(m, n, &train);
    CHECK(m->expert_counts[3] >= 3, "images dropped (%d)", m->expert_counts[3]);
    CHECK(model_backward(m, n) == MOECL_OK, "backward with drops: %s", moecl_last_error());
    model_free(m), model_free(f);
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
    "   \"k\": 2, \"noise\": true, \"importance_loss\": 0.3, \"load_loss\": 0.4}}";

/* Mean CE plus the importance and load losses, in training mode (noise at a fixed step). */
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
    const int B = 6, n = 6, C = 5, E = 4, IN = 18;
    float x[6 * 18];
    model *m = model_on_random_images(TOPK, "topk", B, 13, 17, 2.0f, 0.0f, x);
    if (!m) return;
    CHECK(m->head == HEAD_TOPK && m->topk == 2 && m->noisy, "parsed top-k");
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
        worst = check_worst(worst, fabs(loss[i] - (log(s) + mx - y[labels[i]])));
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

    /* gradients of CE + importance and load losses through the noisy top-k
     * softmax, the noise and the load estimator (with its threshold) */
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
            bad = (float)check_worst(bad, fabs(fd - g[j]) / (1 + fabs(fd)));
        }
        CHECK(bad < 5e-3f, "top-k: %s: gradient off by %g", list[p].name, bad);
        CHECK(kinks * 5 <= (int)prm->value->count, "top-k: %s: %d samples change the choice", list[p].name, kinks);
        free(v), free(g);
    }
    free(list);
    model_free(m);
}

/* k = E: every expert is chosen for every image, so no expert has a
 * threshold to beat; the load estimate is 1 for each and its gradient 0
 * (the forward had no k-th largest other to read). */
static const char TOPK_ALL[] =
    "{\"name\": \"tk3\", \"input\": [2, 3, 3], \"classes\": 5,"
    " \"parts\": ["
    "  {\"name\": \"e0\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e1\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"e2\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 5}]},"
    "  {\"name\": \"g\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 6}]}"
    " ],"
    " \"mixture\": {\"type\": \"topk\", \"gate\": \"g\", \"experts\": [\"e0\", \"e1\", \"e2\"],"
    "   \"k\": 3, \"noise\": true, \"importance_loss\": 0.3, \"load_loss\": 0.4}}";

static void test_topk_every_expert(void)
{
    const int B = 5, n = 5, E = 3;
    float x[5 * 18];
    model *m = model_on_random_images(TOPK_ALL, "topk_all", B, 19, 23, 2.0f, 0.0f, x);
    if (!m) return;
    int labels[5] = {4, 0, 1, 3, 2};
    model_set_labels(m, labels, n);
    layer_run tr = {.training = true, .seed = 3, .step = 7};
    CHECK(isfinite(topk_objective(m, n)), "k = E: a finite objective");
    float *P = read_all(m->kload);
    int ones = 0;
    for (int i = 0; i < n * E; i++) ones += P[i] == 1.0f;
    CHECK(ones == n * E, "k = E: every load estimate is 1 (%d of %d)", ones, n * E);
    free(P);
    check_grads_after(m, n, &tr, topk_objective, 1e-3f, 5e-3f, "top-k with k = E");
    model_free(m);
}

/* Every gradient of a part equals v (within 0: exact). */
static bool part_grads_all(model *m, int part, float v)
{
    network *net = m->parts[part];
    bool all = true;
    for (int i = 0; i < net->n_layers; i++)
        for (int j = 0; j < net->layers[i]->n_params; j++) {
            float *g = read_all(net->layers[i]->params[j].grad);
            for (size_t k = 0; k < net->layers[i]->params[j].grad->count; k++) all &= g[k] == v;
            free(g);
        }
    return all;
}

static void fill_grads(model *m, float v)
{
    for (int p = 0; p < m->n_parts; p++)
        for (int i = 0; i < m->parts[p]->n_layers; i++)
            for (int j = 0; j < m->parts[p]->layers[i]->n_params; j++)
                moecl_tensor_fill(m->parts[p]->layers[i]->params[j].grad, v);
}

/* Lazy experts (train --lazy-experts): with one image, one expert is busy
 * and two idle; the idle ones are reported, their gradients left as they
 * were (not cleared), and the step's parameters leave them out. */
static void test_lazy_experts(void)
{
    const int B = 6, n = 1;
    float x[6 * 18];
    model *m = model_on_random_images(SWITCH, "lazy", B, 11, 5, 2.0f, 0.0f, x);
    if (!m) return;
    int labels[1] = {3};
    model_set_labels(m, labels, n);
    layer_run tr = {.training = true, .seed = 1, .step = 1};
    for (int lazy = 0; lazy < 2; lazy++) {
        model_set_lazy_experts(m, lazy);
        fill_grads(m, 7.0f);
        CHECK(model_forward(m, n, &tr) == MOECL_OK && model_backward(m, n) == MOECL_OK,
              "lazy %d: a step: %s", lazy, moecl_last_error());
        int busy = -1, idle = 0;
        for (int k = 0; k < 3; k++) {
            bool is_idle = model_part_idle(m, m->experts[k]);
            CHECK(is_idle == (m->expert_counts[k] == 0), "expert %d idle exactly when it got no image", k);
            if (is_idle) {
                idle++;
                CHECK(part_grads_all(m, m->experts[k], lazy ? 7.0f : 0.0f),
                      "lazy %d: idle expert %d's gradients %s", lazy, k, lazy ? "left as they were" : "cleared");
            } else {
                busy = k;
            }
        }
        CHECK(idle == 2 && busy >= 0, "one image: one busy expert, two idle (%d idle)", idle);
        CHECK(!model_part_idle(m, m->gate), "the router is never idle");
        if (busy >= 0) CHECK(!part_grads_all(m, m->experts[busy], 7.0f), "the busy expert's gradients are new");
        param_list pl = {0};
        CHECK(collect_params(m, &pl) == MOECL_OK, "params");
        bool idle_part[MODEL_MAX_PARTS] = {false};
        int expected = 0;
        for (int p = 0; p < m->n_parts; p++) idle_part[p] = model_part_idle(m, p);
        for (int i = 0; i < pl.count; i++) expected += !idle_part[pl.e[i].part];
        int got = select_busy(&pl, idle_part);
        CHECK(got == expected && got < pl.count, "the step leaves out the idle experts' %d parameters",
              pl.count - got);
        for (int i = 0; i < got; i++)
            for (int k = 0; k < 3; k++)
                if (m->expert_counts[k] == 0)
                    for (int j = 0; j < pl.count; j++)
                        if (pl.e[j].param == pl.step[i]) CHECK(pl.e[j].part != m->experts[k], "no idle expert's parameter in the step");
        free_params(&pl);
    }
    model_free(m);
}

int main(void)
{
    ctx = check_open_device(NULL);
    test_switch();
    test_switch_trunk();
    test_topk();
    test_topk_every_expert();
    test_lazy_experts();
    moecl_ctx_destroy(ctx);
    return check_summary("test_sparse_gates");
}
