#include "evaluate.h"
#include "frozen_cache.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const TTA_NAMES[] = {"none", "flip", "translate"};

const char *tta_name(int level) { return level >= 0 && level <= TTA_TRANSLATE ? TTA_NAMES[level] : "?"; }

bool tta_parse(const char *s, int *level)
{
    for (int i = 0; i <= TTA_TRANSLATE; i++)
        if (strcmp(s, TTA_NAMES[i]) == 0) return *level = i, true;
    return false;
}

/* The views of test-time augmentation after the plain one, and their
 * weights: flips, the mirror image at 1/2; translations (airbench's level
 * 2), half the weight on the image and its mirror, a quarter on each
 * pair shifted by one pixel up-left and down-right (the border reflected). */
typedef struct tta_view {
    bool mirrored;
    int dy, dx;
    float weight;
} tta_view;

static int tta_views(int level, float *plain_weight, tta_view *v)
{
    if (level == TTA_FLIP) {
        *plain_weight = 0.5f;
        v[0] = (tta_view){true, 0, 0, 0.5f};
        return 1;
    }
    *plain_weight = 0.25f;
    v[0] = (tta_view){true, 0, 0, 0.25f};
    for (int s = 0, k = 1; s < 2; s++)
        for (int m = 0; m < 2; m++) v[k++] = (tta_view){m == 1, s ? 1 : -1, s ? 1 : -1, 0.125f};
    return 5;
}

/* Test-time augmentation: the batch just evaluated (images start .. start
 * + n - 1 of d) again in each view; each image's class probabilities are
 * the views' weighted mean, its prediction their argmax, its loss -log of
 * the mean at its target. probs: room for 2 n C floats; the means end in
 * the first n C. The routing stays the plain pass's. */
static moecl_status run_tta(model *net, const dataset *d, const normalizer *norm, float *host_batch,
                            int start, int *idx, const int *labels, int n, int C, float *probs,
                            float *loss, int *pred)
{
    tta_view views[5];
    float plain_weight = 1;
    int count = tta_views(net->tta, &plain_weight, views);
    MOECL_TRY(model_read_probs(net, n, probs));
    for (size_t i = 0; i < (size_t)n * C; i++) probs[i] *= plain_weight;
    for (int i = 0; i < n; i++) idx[i] = start + i;
    int *view_labels = malloc((size_t)n * sizeof *view_labels);
    if (!view_labels) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    float *view = probs + (size_t)n * C;
    layer_run run = {.training = false};
    moecl_status st = MOECL_OK;
    for (int v = 0; v < count && st == MOECL_OK; v++) {
        dataset_make_view_batch(d, idx, n, norm, views[v].mirrored, views[v].dy, views[v].dx,
                                host_batch, view_labels);
        st = moecl_tensor_upload_part(net->images, host_batch, (size_t)n * CIFAR_IMAGE_BYTES);
        if (st == MOECL_OK) st = model_forward(net, n, &run);
        if (st == MOECL_OK) st = model_read_probs(net, n, view);
        for (size_t i = 0; st == MOECL_OK && i < (size_t)n * C; i++) probs[i] += views[v].weight * view[i];
    }
    free(view_labels);
    MOECL_TRY(st);
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * C;
        int best = 0;
        for (int k = 0; k < C; k++)
            if (p[k] > p[best] || isnan(p[k])) best = k;
        pred[i] = best;
        loss[i] = -logf(p[model_target(net, labels[i])]);
    }
    return MOECL_OK;
}

moecl_status evaluate_images(model *net, const dataset *d, const normalizer *norm, float *host_batch,
                             eval_result *r, const eval_images *out)
{
    memset(r, 0, sizeof *r);
    int B = net->batch;
    int *idx = malloc((size_t)B * sizeof *idx), *labels = malloc((size_t)B * sizeof *labels);
    int *pred = malloc((size_t)B * sizeof *pred);
    float *loss = malloc((size_t)B * sizeof *loss);
    bool mixture = model_gate_is_soft(net);
    int K = model_routed_experts(net);
    int *route = malloc((size_t)B * sizeof *route);
    long route_right = 0;
    float *gates = malloc((size_t)B * (K ? K : 1) * sizeof *gates);
    int C = model_output_classes(net);
    float *probs = malloc((size_t)B * C * 2 * sizeof *probs); /* a batch, then its mirror's */
    moecl_status st = (idx && labels && pred && loss && gates && route && probs) ? MOECL_OK
                      : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    layer_run run = {.training = false};
    double total = 0;
    for (int start = 0; st == MOECL_OK && start < d->count; start += B) {
        int n = d->count - start < B ? d->count - start : B;
        for (int i = 0; i < n; i++) idx[i] = start + i;
        dataset_make_batch(d, idx, n, norm, NULL, NULL, host_batch, labels, NULL);
        st = moecl_tensor_upload_part(net->images, host_batch, (size_t)n * CIFAR_IMAGE_BYTES);
        if (st == MOECL_OK) st = model_set_labels(net, labels, n);
        /* a sub-gate stage's validation set: the frozen parts from the table */
        bool cached = frozen_cache_eval_row(net->cache, d, 0) >= 0;
        for (int i = 0; cached && i < n; i++) idx[i] = frozen_cache_eval_row(net->cache, d, start + i);
        net->cache_rows = cached ? idx : NULL;
        if (st == MOECL_OK) st = model_forward(net, n, &run);
        net->cache_rows = NULL;
        if (st == MOECL_OK) st = model_read(net, n, loss, pred);
        /* each image's expert (hard: the route; soft: the largest weight) and weights */
        if (st == MOECL_OK && K) st = model_read_choice(net, n, route, gates);
        if (st == MOECL_OK && net->tta)
            st = run_tta(net, d, norm, host_batch, start, idx, labels, n, C, probs, loss, pred);
        else if (st == MOECL_OK && out && out->probs) st = model_read_probs(net, n, probs);
        if (st == MOECL_OK && out && out->probs)
            memcpy(out->probs + (size_t)start * C, probs, (size_t)n * C * sizeof *probs);
        for (int i = 0; st == MOECL_OK && i < n && K; i++) {
            if (route[i] < 0) {
                r->dropped++;
                continue;
            }
            r->routed[route[i]][labels[i]]++;
            if (mixture) /* soft: the mean weight; hard: the share routed */
                for (int k = 0; k < K; k++) r->mean_gate[k] += gates[i * K + k];
            else
                r->mean_gate[route[i]] += 1.0;
            if (net->head == HEAD_HIERARCHICAL)
                route_right += route[i] == net->group_of_class[labels[i]];
        }
        for (int i = 0; st == MOECL_OK && i < n; i++) {
            if (!isfinite(loss[i])) r->non_finite = true;
            total += loss[i];
            int target = model_target(net, labels[i]);
            r->confusion[target][pred[i]]++;
            r->class_count[target]++;
        }
        if (st == MOECL_OK && out && out->pred) memcpy(out->pred + start, pred, (size_t)n * sizeof *pred);
        if (st == MOECL_OK && out && out->expert && K) memcpy(out->expert + start, route, (size_t)n * sizeof *route);
        if (st == MOECL_OK && out && out->weights && K)
            memcpy(out->weights + (size_t)start * K, gates, (size_t)n * K * sizeof *gates);
    }
    if (st == MOECL_OK) {
        int correct = 0;
        for (int k = 0; k < CIFAR_CLASSES; k++) {
            correct += r->confusion[k][k];
            r->class_accuracy[k] = r->class_count[k] ? (double)r->confusion[k][k] / r->class_count[k] : 0;
        }
        double routed[MODEL_MAX_PARTS] = {0};
        for (int k = 0; k < K; k++)
            for (int c = 0; c < CIFAR_CLASSES; c++) routed[k] += r->routed[k][c];
        eval_routing_finish(r, K, d->count, routed, r->mean_gate);
        r->gate_accuracy = net->head == HEAD_HIERARCHICAL && K && d->count > 0
                               ? (double)route_right / d->count
                               : -1;
        r->loss = d->count ? total / d->count : 0;
        r->accuracy = d->count ? (double)correct / d->count : 0;
    }
    free(idx), free(labels), free(pred), free(loss), free(gates), free(route), free(probs);
    return st;
}

moecl_status evaluate(model *net, const dataset *d, const normalizer *norm, float *host_batch,
                      eval_result *r)
{
    return evaluate_images(net, d, norm, host_batch, r, NULL);
}

void eval_routing_finish(eval_result *r, int n_experts, int count, const double *routed,
                         const double *gate_sum)
{
    r->count = count;
    r->n_experts = n_experts;
    r->dead_expert = r->collapsed = false;
    double most = 0;
    for (int k = 0; k < n_experts && count > 0; k++) {
        r->share[k] = routed[k] / count;
        r->mean_gate[k] = gate_sum[k] / count;
        if (routed[k] > most) most = routed[k];
        /* dead: dominant for under 1% of the images and a small mean weight */
        if (r->share[k] < 0.01 && r->mean_gate[k] < 0.5 / n_experts) r->dead_expert = true;
    }
    r->collapsed = n_experts > 1 && count > 0 && most / count > 0.95;
}

void eval_routing_summary(const model *m, const eval_result *r, const char *label, char *buf,
                          size_t size)
{
    buf[0] = '\0';
    /* no images (--val 0): no shares to give, rather than all experts at 0% */
    if (r->n_experts == 0 || r->count == 0) return;
    size_t used = (size_t)snprintf(buf, size, "%s:", label);
    char name[32];
    for (int k = 0; k < r->n_experts && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, " %s %.1f%%",
                                 model_expert_name(m, k, name, sizeof name),
                                 100 * r->share[k]);
    if (r->dropped > 0 && used < size)
        used += (size_t)snprintf(buf + used, size - used, " | %d images dropped (experts full)", r->dropped);
    if (r->gate_accuracy >= 0 && used < size)
        used += (size_t)snprintf(buf + used, size - used, " | gate accuracy %.1f%%", 100 * r->gate_accuracy);
    if (r->collapsed && used < size)
        used += (size_t)snprintf(buf + used, size - used, " | WARNING: the gate has collapsed onto one expert");
    if (r->dead_expert && used < size)
        snprintf(buf + used, size - used, " | WARNING: an expert is dead (dominant for under 1%% of images)");
}
