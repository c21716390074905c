/* Running a model: its parts, then its head (see model.h). */
#include "model.h"
#include "model_heads.h"
#include "model_parts.h"
#include "internal.h"
#include "frozen_cache.h"
#include "expert_exchange.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void model_free(model *m)
{
    if (!m) return;
    free(m->recipe);
    frozen_cache_free(m);
    expert_exchange_free(m->exchange);
    for (int i = 0; i < m->n_parts; i++) network_free(m->parts[i]);
    moecl_tensor_destroy(m->images);
    if (m->ctx) softmax_ce_free(&m->loss);
    moecl_tensor_destroy(m->stacked);
    moecl_tensor_destroy(m->dstacked);
    moecl_tensor_destroy(m->gates);
    moecl_tensor_destroy(m->resp);
    moecl_tensor_destroy(m->dgate);
    for (int k = 0; k < MODEL_MAX_PARTS; k++) {
        moecl_tensor_destroy(m->dexpert[k]);
        moecl_tensor_destroy(m->dsub[k]);
        if (m->part_loss[k].ctx) softmax_ce_free(&m->part_loss[k]);
    }
    moecl_tensor_destroy(m->subgate_out);
    moecl_tensor_destroy(m->dsubgate_out);
    moecl_tensor_destroy(m->dbaseline);
    moecl_tensor_destroy(m->route);
    for (int k = 0; k < MODEL_MAX_PARTS; k++) moecl_tensor_destroy(m->expert_in[k]);
    moecl_tensor_destroy(m->probs);
    moecl_tensor_destroy(m->slot);
    moecl_tensor_destroy(m->index);
    moecl_tensor_destroy(m->counts);
    moecl_tensor_destroy(m->mixed);
    moecl_tensor_destroy(m->dtrunk);
    moecl_tensor_destroy(m->relay);
    free(m->host_relay);
    moecl_tensor *topk[] = {m->kgate, m->kroute, m->kslot, m->kload, m->ku, m->keps, m->kcoef, m->kaux};
    for (size_t i = 0; i < sizeof topk / sizeof topk[0]; i++) moecl_tensor_destroy(topk[i]);
    free(m->mapped_labels);
    free(m);
}

/* The gathered-images tensor a part reads when a gate routes images to it
 * (switch, top-k and hierarchical experts, hierarchical sub-gates), else NULL. */
static moecl_tensor *routed_input(const model *m, int part)
{
    bool routes = m->head == HEAD_SWITCH || m->head == HEAD_TOPK || m->head == HEAD_HIERARCHICAL;
    for (int k = 0; routes && k < m->n_experts; k++)
        if (m->experts[k] == part || (m->head == HEAD_HIERARCHICAL && m->subgates[k] == part))
            return m->expert_in[k];
    return NULL;
}

moecl_status model_place_experts(model *m, moecl_ctx *const *ctxs, int n)
{
    if (m->head == HEAD_SINGLE)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "model %s: experts are placed on devices in "
                          "mixtures; this model has no experts", m->name);
    /* a hierarchical expert's sub-gate reads the same routed images: it goes with it */
    for (int k = 0; k < m->n_experts && n > 0; k++) {
        m->part_ctx[m->experts[k]] = ctxs[k % n];
        if (m->head == HEAD_HIERARCHICAL) m->part_ctx[m->subgates[k]] = ctxs[k % n];
    }
    return MOECL_OK;
}

moecl_status model_finish(model *m)
{
    MOECL_TRY(moecl_ctx_finish(m->ctx));
    for (int i = 0; i < m->n_parts; i++)
        if (m->part_ctx[i] && m->part_ctx[i] != m->ctx) MOECL_TRY(moecl_ctx_finish(m->part_ctx[i]));
    return MOECL_OK;
}

moecl_status model_setup(model *m, moecl_ctx *ctx, int batch, uint64_t seed)
{
    m->ctx = ctx;
    m->batch = batch;
    int ishape[2] = {batch, (int)shape3_size(m->input)};
    MOECL_TRY(moecl_tensor_create(ctx, 2, ishape, &m->images));
    uint64_t rng = seed;
    /* a trunk first: the other parts read what it gives, and gather it */
    shape3 input = m->input;
    int eshape[2] = {batch, ishape[1]};
    if (m->trunk >= 0) {
        MOECL_TRY(network_setup(m->parts[m->trunk], ctx, m->input, batch, &rng, m->images));
        input = network_output_shape(m->parts[m->trunk]);
        eshape[1] = (int)shape3_size(input);
        MOECL_TRY(moecl_tensor_create(ctx, 2, eshape, &m->dtrunk));
    }
    bool routed = m->head == HEAD_SWITCH || m->head == HEAD_TOPK;
    if (routed) {
        int E = m->n_experts, C = m->classes;
        int zs[3] = {E, batch, C}, be[2] = {batch, E}, bc[2] = {batch, C}, idx = E * batch,
            cnt = 2 * E + 1;
        for (int k = 0; k < E; k++) { /* on the expert's device */
            moecl_ctx *at = model_part_ctx(m, m->experts[k]);
            MOECL_TRY(moecl_tensor_create(at, 2, eshape, &m->expert_in[k]));
            MOECL_TRY(moecl_tensor_create(at, 2, bc, &m->dexpert[k]));
        }
        MOECL_TRY(moecl_tensor_create(ctx, 3, zs, &m->stacked));
        MOECL_TRY(moecl_tensor_create(ctx, 3, zs, &m->dstacked));
        MOECL_TRY(moecl_tensor_create(ctx, 2, be, &m->probs));
        int bw[2] = {batch, m->head == HEAD_TOPK && m->noisy ? 2 * E : E};
        MOECL_TRY(moecl_tensor_create(ctx, 2, bw, &m->dgate));
        MOECL_TRY(moecl_tensor_create(ctx, 2, bc, &m->mixed));
        MOECL_TRY(moecl_tensor_create(ctx, 1, &batch, &m->route));
        MOECL_TRY(moecl_tensor_create(ctx, 1, &batch, &m->slot));
        MOECL_TRY(moecl_tensor_create(ctx, 1, &idx, &m->index));
        MOECL_TRY(moecl_tensor_create(ctx, 1, &cnt, &m->counts));
        if (m->head == HEAD_TOPK) {
            int bk = batch * m->topk, coef = 2 * E, one = 1;
            MOECL_TRY(moecl_tensor_create(ctx, 1, &bk, &m->kgate));
            MOECL_TRY(moecl_tensor_create(ctx, 1, &bk, &m->kroute));
            MOECL_TRY(moecl_tensor_create(ctx, 1, &bk, &m->kslot));
            MOECL_TRY(moecl_tensor_create(ctx, 2, be, &m->kload));
            MOECL_TRY(moecl_tensor_create(ctx, 2, be, &m->ku));
            MOECL_TRY(moecl_tensor_create(ctx, 2, be, &m->keps));
            MOECL_TRY(moecl_tensor_create(ctx, 1, &coef, &m->kcoef));
            MOECL_TRY(moecl_tensor_create(ctx, 1, &one, &m->kaux));
        }
    }
    if (m->head == HEAD_HIERARCHICAL) { /* each expert and its sub-gate run on the images routed to it */
        int E = m->n_experts, be[2] = {batch, E}, idx = E * batch, cnt = 2 * E + 1;
        for (int k = 0; k < E; k++) /* on the expert's (and its sub-gate's) device */
            MOECL_TRY(moecl_tensor_create(model_part_ctx(m, m->experts[k]), 2, ishape, &m->expert_in[k]));
        MOECL_TRY(moecl_tensor_create(ctx, 2, be, &m->probs));
        MOECL_TRY(moecl_tensor_create(ctx, 1, &batch, &m->slot));
        MOECL_TRY(moecl_tensor_create(ctx, 1, &idx, &m->index));
        MOECL_TRY(moecl_tensor_create(ctx, 1, &cnt, &m->counts));
    }
    const moecl_tensor *unrouted = m->trunk >= 0 ? network_output(m->parts[m->trunk]) : m->images;
    bool placed = false;
    for (int i = 0; i < m->n_parts; i++) {
        if (i == m->trunk) continue;
        const moecl_tensor *in = routed_input(m, i);
        moecl_ctx *at = model_part_ctx(m, i);
        if (!in && at != ctx) { /* a soft mixture's expert elsewhere: its copy of the images */
            int k = 0;
            while (m->experts[k] != i) k++;
            MOECL_TRY(moecl_tensor_create(at, 2, eshape, &m->expert_in[k]));
            in = m->expert_in[k];
        }
        placed |= at != ctx;
        m->parts[i]->input_grad = m->trunk >= 0; /* the trunk learns through them */
        MOECL_TRY(network_setup(m->parts[i], at, input, batch, &rng, in ? in : unrouted));
    }
    if (placed) { /* rows on their way between devices (a sub-gate's are 2 * classes wide) */
        int widest = m->head == HEAD_HIERARCHICAL ? 2 * m->classes : m->classes;
        int rshape[2] = {batch, eshape[1] > widest ? eshape[1] : widest};
        MOECL_TRY(moecl_tensor_create(ctx, 2, rshape, &m->relay));
    }
    MOECL_TRY(softmax_ce_init(&m->loss, ctx, batch, m->classes));
    m->mapped_labels = malloc((size_t)batch * sizeof *m->mapped_labels);
    if (!m->mapped_labels) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    m->stage = -1;
    if (m->head == HEAD_HIERARCHICAL) {
        int E = m->n_experts, C = m->classes;
        int zs[3] = {E, batch, C}, vs[3] = {E, batch, 2 * C}, bc[2] = {batch, C}, b2c[2] = {batch, 2 * C};
        MOECL_TRY(moecl_tensor_create(ctx, 3, zs, &m->stacked));
        MOECL_TRY(moecl_tensor_create(ctx, 3, zs, &m->dstacked));
        MOECL_TRY(moecl_tensor_create(ctx, 3, vs, &m->subgate_out));
        MOECL_TRY(moecl_tensor_create(ctx, 3, vs, &m->dsubgate_out));
        MOECL_TRY(moecl_tensor_create(ctx, 2, bc, &m->dbaseline));
        MOECL_TRY(moecl_tensor_create(ctx, 1, &batch, &m->route));
        for (int k = 0; k < E; k++) {
            MOECL_TRY(moecl_tensor_create(model_part_ctx(m, m->experts[k]), 2, bc, &m->dexpert[k]));
            MOECL_TRY(moecl_tensor_create(model_part_ctx(m, m->subgates[k]), 2, b2c, &m->dsub[k]));
        }
    }
    if (m->head == HEAD_SOFT_MIXTURE) {
        int K = m->n_experts;
        int stacked[3] = {K, batch, m->classes}, bk[2] = {batch, K}, bc[2] = {batch, m->classes};
        MOECL_TRY(moecl_tensor_create(ctx, 3, stacked, &m->stacked));
        MOECL_TRY(moecl_tensor_create(ctx, 3, stacked, &m->dstacked));
        MOECL_TRY(moecl_tensor_create(ctx, 2, bk, &m->gates));
        MOECL_TRY(moecl_tensor_create(ctx, 2, bk, &m->resp));
        int coef = K, one = 1;
        MOECL_TRY(moecl_tensor_create(ctx, 1, &coef, &m->kcoef));
        MOECL_TRY(moecl_tensor_create(ctx, 1, &one, &m->kaux));
        MOECL_TRY(moecl_tensor_create(ctx, 2, bk, &m->dgate));
        for (int k = 0; k < K; k++)
            MOECL_TRY(moecl_tensor_create(model_part_ctx(m, m->experts[k]), 2, bc, &m->dexpert[k]));
    }
    return MOECL_OK;
}

/* The loss object of the active stage: a part's own when it trains alone. */
static softmax_ce *active_loss(model *m)
{
    if (m->stage >= 0 && m->stages[m->stage].alone >= 0) return &m->part_loss[m->stages[m->stage].alone];
    return &m->loss;
}

static int alone_part(const model *m) { return m->stage >= 0 ? m->stages[m->stage].alone : -1; }

moecl_status model_set_stage(model *m, int s)
{
    if (s < -1 || s >= m->n_stages)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "model %s has no stage %d", m->name, s);
    m->stage = s;
    for (int i = 0; i < m->n_parts; i++)
        for (int j = 0; j < m->parts[i]->n_layers; j++)
            m->parts[i]->layers[j]->frozen =
                m->parts[i]->layers[j]->cfg.fixed || !model_part_learns(m, i);
    int alone = alone_part(m);
    if (alone >= 0 && !m->part_loss[alone].ctx) /* scored where the part lives */
        MOECL_TRY(softmax_ce_init(&m->part_loss[alone], model_part_ctx(m, alone), m->batch,
                                  network_output_shape(m->parts[alone]).c));
    return MOECL_OK;
}

int model_target(const model *m, int label)
{
    if (m->head == HEAD_HIERARCHICAL && alone_part(m) == m->gate) return m->group_of_class[label];
    return label;
}

moecl_status model_set_labels(model *m, const int *labels, int n)
{
    if (n > m->batch) return moecl_fail(MOECL_ERR_INVALID_ARG, "%d labels for a batch of %d", n, m->batch);
    const int *use = labels;
    if (m->head == HEAD_HIERARCHICAL && alone_part(m) == m->gate) {
        for (int i = 0; i < n; i++) {
            if (labels[i] < 0 || labels[i] >= m->classes)
                return moecl_fail(MOECL_ERR_INVALID_ARG, "label %d of example %d is outside 0..%d",
                                  labels[i], i, m->classes - 1);
            m->mapped_labels[i] = m->group_of_class[labels[i]];
        }
        use = m->mapped_labels;
    }
    return softmax_ce_set_labels(active_loss(m), use, n);
}

moecl_status model_forward(model *m, int n, const layer_run *run)
{
    /* label smoothing shapes training's targets; evaluation scores the plain loss */
    float smoothing = run && run->training ? m->label_smoothing : 0.0f;
    m->loss.smoothing = smoothing;
    for (int i = 0; i < m->n_parts; i++) m->part_loss[i].smoothing = smoothing;
    int alone = alone_part(m);
    if (alone >= 0) {
        moecl_tensor *in = routed_input(m, alone); /* trained alone: every image of the batch */
        if (in) MOECL_TRY(model_move_rows(m, m->images, 0, in, 0, (size_t)n * shape3_size(m->input)));
        MOECL_TRY(model_forward_part(m, alone, n, run));
        return softmax_ce_forward(&m->part_loss[alone], network_output(m->parts[alone]), n);
    }
    if (m->head == HEAD_SWITCH) return switch_forward(m, n, run);
    if (m->head == HEAD_TOPK) return topk_forward(m, n, run);
    if (m->head == HEAD_HIERARCHICAL) return hier_forward(m, n, run);
    for (int i = 0; i < m->n_parts; i++) {
        for (int k = 0; k < m->n_experts; k++) /* a placed expert's copy of the images */
            if (m->experts[k] == i && model_part_placed(m, i))
                MOECL_TRY(model_move_rows(m, m->images, 0, m->expert_in[k], 0,
                                          (size_t)n * shape3_size(m->input)));
        MOECL_TRY(model_forward_part(m, i, n, run));
    }
    if (m->head == HEAD_SINGLE)
        return softmax_ce_forward(&m->loss, network_output(m->parts[0]), n);
    return soft_forward(m, n);
}

moecl_status model_backward(model *m, int n)
{
    int alone = alone_part(m);
    if (alone >= 0) {
        MOECL_TRY(softmax_ce_backward(&m->part_loss[alone], n));
        return network_backward(m->parts[alone], m->part_loss[alone].grad, n);
    }
    if (m->head == HEAD_HIERARCHICAL) return hier_backward(m, n);
    if (m->head == HEAD_SWITCH) return switch_backward(m, n);
    if (m->head == HEAD_TOPK) return topk_backward(m, n);
    if (m->head == HEAD_SINGLE) {
        MOECL_TRY(softmax_ce_backward(&m->loss, n));
        return network_backward(m->parts[0], m->loss.grad, n);
    }
    return soft_backward(m, n);
}

static moecl_status read_floats(model *m, const moecl_tensor *t, size_t count, void *out)
{
    MOECL_CL_CHECK(&m->ctx->device, clEnqueueReadBuffer(m->ctx->queue, t->buf, CL_TRUE, 0,
                                                        count * sizeof(float), out, 0, NULL, NULL));
    return MOECL_OK;
}

const layer *model_layer_gate(const model *m)
{
    if (m->head != HEAD_SINGLE || m->n_parts < 1) return NULL;
    const network *net = m->parts[0];
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i]->kind == LAYER_DENSE_MOE)
            return net->layers[i]->cfg.n_experts <= MODEL_MAX_EXPERTS ? net->layers[i] : NULL;
    return NULL;
}

bool model_gate_is_soft(const model *m) { return m->head == HEAD_SOFT_MIXTURE || model_layer_gate(m); }

const char *model_expert_name(const model *m, int k, char *buf, size_t size)
{
    if (!model_layer_gate(m)) return m->parts[m->experts[k]]->name;
    snprintf(buf, size, "expert_%d", k + 1);
    return buf;
}

moecl_status model_read_gates(model *m, int n, float *gates)
{
    int E = m->n_experts;
    const layer *in_layer = model_layer_gate(m);
    if (in_layer) return dense_moe_read_gates(in_layer, n, gates);
    switch (m->head) {
    case HEAD_SOFT_MIXTURE: return read_floats(m, m->gates, (size_t)n * E, gates);
    case HEAD_SWITCH: return read_floats(m, m->probs, (size_t)n * E, gates);
    case HEAD_HIERARCHICAL: { /* the binary gate's logits, as probabilities */
        MOECL_TRY(read_floats(m, network_output(m->parts[m->gate]), (size_t)n * E, gates));
        for (int i = 0; i < n; i++) {
            float *g = gates + (size_t)i * E, top = g[0], sum = 0;
            for (int k = 1; k < E; k++) top = g[k] > top ? g[k] : top;
            for (int k = 0; k < E; k++) sum += g[k] = expf(g[k] - top);
            for (int k = 0; k < E; k++) g[k] /= sum;
        }
        return MOECL_OK;
    }
    case HEAD_TOPK: { /* the k chosen experts' weights; the others 0 */
        int K = m->topk;
        float *w = malloc((size_t)n * K * sizeof *w);
        int *r = malloc((size_t)n * K * sizeof *r);
        moecl_status st = w && r ? MOECL_OK : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
        if (st == MOECL_OK) st = read_floats(m, m->kgate, (size_t)n * K, w);
        if (st == MOECL_OK) st = read_floats(m, m->kroute, (size_t)n * K, r); /* ints, same size */
        for (int i = 0; st == MOECL_OK && i < n; i++) {
            for (int k = 0; k < E; k++) gates[(size_t)i * E + k] = 0;
            for (int j = 0; j < K; j++)
                if (r[i * K + j] >= 0 && r[i * K + j] < E) gates[(size_t)i * E + r[i * K + j]] = w[i * K + j];
        }
        free(w), free(r);
        return st;
    }
    default: return moecl_fail(MOECL_ERR_INVALID_ARG, "model %s has no gate", m->name);
    }
}

moecl_status model_read_choice(model *m, int n, int *expert, float *weights)
{
    MOECL_TRY(model_read_gates(m, n, weights));
    if (!model_gate_is_soft(m)) return model_read_route(m, n, expert);
    int E = model_routed_experts(m);
    for (int i = 0; i < n; i++) {
        const float *w = weights + (size_t)i * E;
        expert[i] = 0;
        for (int k = 1; k < E; k++)
            if (w[k] > w[expert[i]]) expert[i] = k;
    }
    return MOECL_OK;
}

int model_routed_experts(const model *m)
{
    bool hard = (m->head == HEAD_HIERARCHICAL || m->head == HEAD_SWITCH || m->head == HEAD_TOPK) &&
                m->stage < 0;
    const layer *in_layer = model_layer_gate(m);
    if (in_layer) return in_layer->cfg.n_experts;
    return m->head == HEAD_SOFT_MIXTURE || hard ? m->n_experts : 0;
}

int model_output_classes(const model *m) { return active_loss((model *)m)->classes; }

moecl_status model_read_probs(model *m, int n, float *probs)
{
    softmax_ce *loss = active_loss(m);
    MOECL_TRY(read_floats(m, loss->probs, (size_t)n * loss->classes, probs));
    /* the hierarchical head keeps its mixture unnormalised (its loss and
     * gradient divide by the row's sum on the device): probabilities here */
    if (m->head == HEAD_HIERARCHICAL && loss == &m->loss)
        for (int i = 0; i < n; i++) {
            float *row = probs + (size_t)i * loss->classes, total = 0.0f;
            for (int c = 0; c < loss->classes; c++) total += row[c];
            for (int c = 0; total > 0.0f && c < loss->classes; c++) row[c] /= total;
        }
    return MOECL_OK;
}

moecl_status model_read_route(model *m, int n, int *route)
{
    if (m->head == HEAD_TOPK) { /* the first (largest) of each image's k choices */
        int *all = malloc((size_t)n * m->topk * sizeof *all);
        if (!all) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
        cl_int err = clEnqueueReadBuffer(m->ctx->queue, m->kroute->buf, CL_TRUE, 0,
                                         (size_t)n * m->topk * sizeof(int), all, 0, NULL, NULL);
        for (int i = 0; i < n; i++) route[i] = all[i * m->topk];
        free(all);
        if (err != CL_SUCCESS) return moecl_cl_fail(err, "clEnqueueReadBuffer", &m->ctx->device);
        return MOECL_OK;
    }
    if (m->head != HEAD_HIERARCHICAL && m->head != HEAD_SWITCH)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "model %s has no hard gate", m->name);
    MOECL_CL_CHECK(&m->ctx->device,
                   clEnqueueReadBuffer(m->ctx->queue, m->route->buf, CL_TRUE, 0,
                                       (size_t)n * sizeof(int), route, 0, NULL, NULL));
    return MOECL_OK;
}

moecl_status model_read(model *m, int n, float *loss, int *pred)
{
    return softmax_ce_read(active_loss(m), n, loss, pred);
}

moecl_status model_params(const model *m, model_param **list, int *count)
{
    int total = 0;
    for (int p = 0; p < m->n_parts; p++)
        for (int i = 0; i < m->parts[p]->n_layers; i++) total += m->parts[p]->layers[i]->n_params;
    *list = calloc((size_t)(total ? total : 1), sizeof **list);
    if (!*list) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    *count = 0;
    for (int p = 0; p < m->n_parts; p++) {
        const network *net = m->parts[p];
        for (int i = 0; i < net->n_layers; i++)
            for (int j = 0; j < net->layers[i]->n_params; j++) {
                model_param *e = &(*list)[(*count)++];
                e->param = &net->layers[i]->params[j];
                e->owner = net->layers[i];
                e->part = p;
                snprintf(e->name, sizeof e->name, "%s%s%s.%s", net->name, net->name[0] ? "." : "",
                         net->layers[i]->name, net->layers[i]->params[j].name);
            }
    }
    return MOECL_OK;
}

size_t model_param_count(const model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->n_parts; i++) n += network_param_count(m->parts[i]);
    return n;
}

uint64_t model_flops_per_image(const model *m)
{
    /* routed parts run on the images routed to them: k of the E experts
     * (and their sub-gates) per image, counted as their mean */
    int per_image = m->head == HEAD_TOPK ? m->topk : 1;
    uint64_t f = 0, routed = 0;
    for (int i = 0; i < m->n_parts; i++) {
        if (routed_input(m, i) && !m->dense_eval) routed += network_flops_per_image(m->parts[i]);
        else f += network_flops_per_image(m->parts[i]);
    }
    return f + (m->n_experts > 0 ? routed * (uint64_t)per_image / (uint64_t)m->n_experts : 0);
}

void model_print(const model *m, FILE *out)
{
    fprintf(out, "%-28s %-15s %-14s %10s\n", "layer", "kind", "output", "params");
    for (int i = 0; i < m->n_parts; i++) {
        network_print(m->parts[i], out);
        if (m->n_parts > 1)
            fprintf(out, "  part %s: %zu parameters, %.1f MFLOPs per image\n", m->parts[i]->name,
                    network_param_count(m->parts[i]), network_flops_per_image(m->parts[i]) / 1e6);
    }
    if (m->head == HEAD_HIERARCHICAL) {
        fprintf(out, "head: hierarchical: gate %s switches between", m->parts[m->gate]->name);
        for (int k = 0; k < m->n_experts; k++) {
            fprintf(out, "%s %s (sub-gate %s, classes", k ? ";" : "", m->parts[m->experts[k]]->name,
                    m->parts[m->subgates[k]]->name);
            for (int c = 0; c < m->classes; c++)
                if (m->group_of_class[c] == k) fprintf(out, " %d", c);
            fprintf(out, ")");
        }
        fprintf(out, ", each mixed class by class with baseline %s\n", m->parts[m->baseline]->name);
    }
    for (int s = 0; s < m->n_stages; s++)
        fprintf(out, "stage %d %s: trains %s%s\n", s + 1, m->stages[s].name,
                m->stages[s].alone >= 0 ? m->parts[m->stages[s].alone]->name : "through the head",
                m->stages[s].alone >= 0 ? " alone" : "");
    if (m->head == HEAD_TOPK) {
        fprintf(out, "head: %stop-%d of %d experts (", m->noisy ? "noisy " : "", m->topk, m->n_experts);
        for (int k = 0; k < m->n_experts; k++)
            fprintf(out, "%s%s", k ? ", " : "", m->parts[m->experts[k]]->name);
        fprintf(out, ") by gate %s, importance loss %g, load loss %g; only the chosen experts "
                     "run on each image\n", m->parts[m->gate]->name, m->importance_weight,
                m->load_weight);
    }
    if (m->head == HEAD_SWITCH) {
        fprintf(out, "head: switch (top-1) routing over %d experts (", m->n_experts);
        for (int k = 0; k < m->n_experts; k++)
            fprintf(out, "%s%s", k ? ", " : "", m->parts[m->experts[k]]->name);
        fprintf(out, ") by gate %s, capacity factor %g (evaluation: %g, 0 = no limit), "
                     "load-balancing loss %g, z-loss %g; only the chosen expert runs on each image\n",
                m->parts[m->gate]->name, m->capacity_factor, m->eval_capacity_factor, m->aux_weight,
                m->z_weight);
    }
    if (m->trunk >= 0)
        fprintf(out, "trunk: %s runs on every image; the gate and the experts read its %dx%dx%d "
                     "output\n", m->parts[m->trunk]->name, network_output_shape(m->parts[m->trunk]).c,
                network_output_shape(m->parts[m->trunk]).h, network_output_shape(m->parts[m->trunk]).w);
    if (m->head == HEAD_SOFT_MIXTURE) {
        fprintf(out, "head: soft mixture of %d experts (", m->n_experts);
        for (int k = 0; k < m->n_experts; k++)
            fprintf(out, "%s%s", k ? ", " : "", m->parts[m->experts[k]]->name);
        fprintf(out, ") weighted by gate %s", m->parts[m->gate]->name);
        if (m->importance_weight > 0) fprintf(out, ", importance loss %g", m->importance_weight);
        fputc('\n', out);
    }
    fprintf(out, "total: %zu trainable parameters, %.1f MFLOPs per image forward\n",
            model_param_count(m), model_flops_per_image(m) / 1e6);
}

bool model_smoothing_applies(const model *m)
{
    return m->head == HEAD_SINGLE || m->head == HEAD_SWITCH || m->head == HEAD_TOPK;
}
