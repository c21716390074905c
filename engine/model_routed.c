/* The routed heads: Switch top-1, noisy top-k and the hierarchical hard
 * gate. A gate picks experts for each image; each expert runs only on the
 * images it got (gathered into a sub-batch), and its outputs are scattered
 * back, weighted (see model_heads.h). */
#include "model.h"
#include "model_heads.h"
#include "internal.h"
#include "frozen_cache.h"
#include "expert_exchange.h"

/* Reads the counts the routing kernel wrote (n_counts ints: one small read
 * a step; the expert sizes decide the launches) and gathers each expert's
 * images into expert_in[k]. */
static moecl_status gather_routed_images(model *m, int n, int n_counts)
{
    /* the images, or with a trunk what it made of them */
    bool trunk = m->trunk >= 0;
    const moecl_tensor *src = trunk ? network_output(m->parts[m->trunk]) : m->images;
    size_t cols = trunk ? shape3_size(network_output_shape(m->parts[m->trunk])) : shape3_size(m->input);
    MOECL_CL_CHECK(&m->ctx->device,
                   clEnqueueReadBuffer(m->ctx->queue, m->counts->buf, CL_TRUE, 0,
                                       (size_t)n_counts * sizeof(int), m->expert_counts, 0,
                                       NULL, NULL));
    for (int k = 0; k < m->n_experts; k++) {
        int nk = m->expert_counts[k];
        /* an expert on another device: gathered here, then only its rows cross */
        bool placed = model_part_placed(m, m->experts[k]);
        moecl_tensor *to = placed ? m->relay : m->expert_in[k];
        MOECL_TRY(MOECL_LAUNCH(m->ctx, "gather_rows_offset_f32", (size_t)nk * cols, 0,
                               MOECL_ARG_MEM(src->buf), MOECL_ARG_MEM(m->index->buf),
                               MOECL_ARG_INT(k * n), MOECL_ARG_MEM(to->buf),
                               MOECL_ARG_INT(nk), MOECL_ARG_INT(cols)));
        if (placed) MOECL_TRY(model_move_rows(m, m->relay, 0, m->expert_in[k], 0, (size_t)nk * cols));
    }
    return MOECL_OK;
}

/* Runs each expert on the images routed to it (counts and index as the
 * routing kernels wrote them) into the stacked outputs. */
static moecl_status run_routed_experts(model *m, int n, int n_counts, const layer_run *run)
{
    size_t zs = model_stack_stride(m);
    MOECL_TRY(gather_routed_images(m, n, n_counts));
    if (m->exchange) m->exchange->this_step = false;
    if (expert_exchange_active(m, run)) return exchange_experts_forward(m, n, run);
    /* every expert queued before any output is fetched: experts placed on
     * other devices run at the same time (fetching one waits for it) */
    for (int k = 0; k < m->n_experts; k++)
        if (m->expert_counts[k] > 0) MOECL_TRY(model_forward_part(m, m->experts[k], m->expert_counts[k], run));
    for (int k = 0; k < m->n_experts; k++)
        MOECL_TRY(model_move_rows(m, network_output(m->parts[m->experts[k]]), 0, m->stacked, k * zs,
                                  (size_t)m->expert_counts[k] * m->classes));
    return MOECL_OK;
}

/* The backward of one part per expert (the expert, or a hierarchical
 * sub-gate) on the images routed to that expert: rows 0..n_k of gradient
 * stack k (stride `stride`, `width` values a row) into grads[k]; zero
 * gradients for a part that got no image. Frozen parts are skipped. */
static moecl_status backward_routed_parts(model *m, const int *parts, const moecl_tensor *stack,
                                          size_t stride,
                                          int width, moecl_tensor *const *grads)
{
    for (int k = 0; k < m->n_experts; k++) {
        int nk = m->expert_counts[k];
        if (!model_part_learns(m, parts[k])) continue;
        if (nk == 0) { /* no step for it when lazy, else a zero gradient */
            if (!m->lazy_experts) MOECL_TRY(network_zero_grads(m->parts[parts[k]]));
            continue;
        }
        MOECL_TRY(model_move_rows(m, stack, k * stride, grads[k], 0, (size_t)nk * width));
        MOECL_TRY(network_backward(m->parts[parts[k]], grads[k], nk));
    }
    return MOECL_OK;
}

static bool exchanged(const model *m) { return m->exchange && m->exchange->this_step; }

static moecl_status backward_routed_experts(model *m)
{
    if (exchanged(m)) return exchange_experts_backward(m);
    return backward_routed_parts(m, m->experts, m->dstacked, model_stack_stride(m), m->classes,
                                 m->dexpert);
}

static moecl_status backward_gate(model *m, int n)
{
    if (!model_part_learns(m, m->gate)) return MOECL_OK;
    return network_backward(m->parts[m->gate], m->dgate, n);
}

/* A trunk's output gradient: the gate's input gradient on every image plus
 * each expert's on the rows it got (a dropped image gets the gate's alone),
 * then the trunk's backward pass. */
static moecl_status backward_trunk(model *m, int n)
{
    if (m->trunk < 0) return MOECL_OK;
    network *trunk = m->parts[m->trunk];
    size_t cols = shape3_size(network_output_shape(trunk));
    MOECL_TRY(model_copy_range(m->ctx, m->parts[m->gate]->layers[0]->grad_input->buf, 0,
                               m->dtrunk->buf, 0, (size_t)n * cols));
    for (int k = 0; k < m->n_experts; k++) {
        int nk = m->expert_counts[k];
        if (nk == 0) continue;
        /* exchanged: the rows came back from the expert's rank into expert_in[k] */
        const moecl_tensor *from = exchanged(m) ? m->expert_in[k]
                                                : m->parts[m->experts[k]]->layers[0]->grad_input;
        if (model_part_placed(m, m->experts[k])) { /* its rows back to this device first */
            MOECL_TRY(model_move_rows(m, from, 0, m->relay, 0, (size_t)nk * cols));
            from = m->relay;
        }
        MOECL_TRY(MOECL_LAUNCH(m->ctx, "scatter_add_rows_offset_f32", (size_t)nk * cols, 0,
                               MOECL_ARG_MEM(from->buf),
                               MOECL_ARG_MEM(m->index->buf), MOECL_ARG_INT(k * n),
                               MOECL_ARG_MEM(m->dtrunk->buf), MOECL_ARG_INT(nk), MOECL_ARG_INT(cols)));
    }
    return network_backward(trunk, m->dtrunk, n);
}

/* Top-1 routing by the gate's outputs (switch_route_f32): probabilities,
 * each image's expert and slot, each expert's images, at most `capacity`
 * per expert. */
static moecl_status route_top1(model *m, int n, int capacity)
{
    return MOECL_LAUNCH(m->ctx, "switch_route_f32", 1, 0,
                        MOECL_ARG_MEM(network_output(m->parts[m->gate])->buf),
                        MOECL_ARG_MEM(m->probs->buf), MOECL_ARG_MEM(m->route->buf),
                        MOECL_ARG_MEM(m->slot->buf), MOECL_ARG_MEM(m->index->buf),
                        MOECL_ARG_MEM(m->counts->buf), MOECL_ARG_INT(n), MOECL_ARG_INT(m->n_experts),
                        MOECL_ARG_INT(capacity), MOECL_ARG_INT(m->dense_eval));
}

/* Switch: the gate routes each image to one expert (up to its capacity);
 * each expert runs only on the images it got. */
moecl_status switch_forward(model *m, int n, const layer_run *run)
{
    int E = m->n_experts, C = m->classes;
    size_t zs = model_stack_stride(m);
    if (m->trunk >= 0) MOECL_TRY(model_forward_part(m, m->trunk, n, run));
    MOECL_TRY(model_forward_part(m, m->gate, n, run));
    /* Capacity bounds the work per expert while training; in evaluation
     * nothing is gained by dropping images unless asked for. */
    float factor = run && run->training ? m->capacity_factor : m->eval_capacity_factor;
    int capacity = factor > 0 ? (int)((factor * n + E - 1) / E) : n;
    if (capacity < 1) capacity = 1;
    if (capacity > n) capacity = n;
    MOECL_TRY(route_top1(m, n, capacity));
    MOECL_TRY(run_routed_experts(m, n, 2 * E + 1, run)); /* with drops and argmax counts */
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "switch_combine_f32", (size_t)n * C, 0,
                           MOECL_ARG_MEM(m->stacked->buf), MOECL_ARG_MEM(m->probs->buf),
                           MOECL_ARG_MEM(m->route->buf), MOECL_ARG_MEM(m->slot->buf),
                           MOECL_ARG_MEM(m->mixed->buf), MOECL_ARG_INT(n), MOECL_ARG_INT(E),
                           MOECL_ARG_INT(C), MOECL_ARG_INT(zs)));
    return softmax_ce_forward(&m->loss, m->mixed, n);
}

moecl_status switch_backward(model *m, int n)
{
    int E = m->n_experts, C = m->classes;
    size_t zs = model_stack_stride(m);
    MOECL_TRY(softmax_ce_backward(&m->loss, n));
    MOECL_TRY(moecl_tensor_fill(m->dstacked, 0.0f));
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "switch_backward_f32", (size_t)n, 0,
                           MOECL_ARG_MEM(m->stacked->buf), MOECL_ARG_MEM(m->probs->buf),
                           MOECL_ARG_MEM(network_output(m->parts[m->gate])->buf),
                           MOECL_ARG_MEM(m->route->buf), MOECL_ARG_MEM(m->slot->buf),
                           MOECL_ARG_MEM(m->loss.grad->buf), MOECL_ARG_MEM(m->counts->buf),
                           MOECL_ARG_MEM(m->dstacked->buf), MOECL_ARG_MEM(m->dgate->buf),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(E), MOECL_ARG_INT(C), MOECL_ARG_INT(zs),
                           MOECL_ARG_FLOAT(m->aux_weight), MOECL_ARG_FLOAT(m->z_weight)));
    MOECL_TRY(backward_routed_experts(m));
    MOECL_TRY(backward_gate(m, n));
    return backward_trunk(m, n);
}

/* Noisy top-k: each image to its k best experts, weighted by a softmax over
 * those k; importance and load losses balance the experts. */
moecl_status topk_forward(model *m, int n, const layer_run *run)
{
    int E = m->n_experts, C = m->classes, K = m->topk;
    bool noisy = m->noisy && run && run->training;
    const moecl_tensor *gate = network_output(m->parts[m->gate]);
    if (m->trunk >= 0) MOECL_TRY(model_forward_part(m, m->trunk, n, run));
    MOECL_TRY(model_forward_part(m, m->gate, n, run));
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "topk_route_f32", 1, 0, MOECL_ARG_MEM(gate->buf),
                           MOECL_ARG_MEM(m->ku->buf), MOECL_ARG_MEM(m->keps->buf),
                           MOECL_ARG_MEM(m->kroute->buf), MOECL_ARG_MEM(m->kslot->buf),
                           MOECL_ARG_MEM(m->kgate->buf), MOECL_ARG_MEM(m->kload->buf),
                           MOECL_ARG_MEM(m->index->buf), MOECL_ARG_MEM(m->counts->buf),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(E), MOECL_ARG_INT(K),
                           MOECL_ARG_INT(m->noisy), MOECL_ARG_INT(noisy),
                           MOECL_ARG_UINT(run ? run->seed : 0), MOECL_ARG_UINT(run ? run->step : 0),
                           MOECL_ARG_INT(run ? run->image_offset : 0)));
    MOECL_TRY(run_routed_experts(m, n, E, run));
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "topk_combine_f32", (size_t)n * C, 0,
                           MOECL_ARG_MEM(m->stacked->buf), MOECL_ARG_MEM(m->kroute->buf),
                           MOECL_ARG_MEM(m->kslot->buf), MOECL_ARG_MEM(m->kgate->buf),
                           MOECL_ARG_MEM(m->mixed->buf), MOECL_ARG_INT(n), MOECL_ARG_INT(K),
                           MOECL_ARG_INT(C), MOECL_ARG_INT(model_stack_stride(m))));
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "topk_aux_f32", 1, 0, MOECL_ARG_MEM(m->kroute->buf),
                           MOECL_ARG_MEM(m->kgate->buf), MOECL_ARG_MEM(m->kload->buf),
                           MOECL_ARG_MEM(m->kcoef->buf), MOECL_ARG_MEM(m->kaux->buf),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(E), MOECL_ARG_INT(K),
                           MOECL_ARG_INT(m->noisy), MOECL_ARG_FLOAT(m->importance_weight),
                           MOECL_ARG_FLOAT(m->load_weight)));
    return softmax_ce_forward(&m->loss, m->mixed, n);
}

moecl_status topk_backward(model *m, int n)
{
    int E = m->n_experts, C = m->classes, K = m->topk;
    MOECL_TRY(softmax_ce_backward(&m->loss, n));
    MOECL_TRY(moecl_tensor_fill(m->dstacked, 0.0f));
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "topk_backward_f32", (size_t)n, 0,
                           MOECL_ARG_MEM(m->stacked->buf),
                           MOECL_ARG_MEM(network_output(m->parts[m->gate])->buf),
                           MOECL_ARG_MEM(m->keps->buf), MOECL_ARG_MEM(m->kroute->buf),
                           MOECL_ARG_MEM(m->kslot->buf), MOECL_ARG_MEM(m->kgate->buf),
                           MOECL_ARG_MEM(m->kload->buf), MOECL_ARG_MEM(m->kcoef->buf),
                           MOECL_ARG_MEM(m->ku->buf), MOECL_ARG_MEM(m->loss.grad->buf),
                           MOECL_ARG_MEM(m->dstacked->buf), MOECL_ARG_MEM(m->dgate->buf),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(E), MOECL_ARG_INT(K), MOECL_ARG_INT(C),
                           MOECL_ARG_INT(model_stack_stride(m)), MOECL_ARG_INT(m->noisy)));
    MOECL_TRY(backward_routed_experts(m));
    MOECL_TRY(backward_gate(m, n));
    return backward_trunk(m, n);
}

/* Hierarchical: the baseline and the binary gate see every image; the
 * gate's argmax routes each image to one expert, and that expert and its
 * sub-gate run only on the images routed to them (conditional computation;
 * dense_eval runs both on every image, for comparison). */
moecl_status hier_frozen_forward(model *m, int n, const layer_run *run)
{
    MOECL_TRY(model_forward_part(m, m->baseline, n, run));
    MOECL_TRY(model_forward_part(m, m->gate, n, run));
    MOECL_TRY(route_top1(m, n, n)); /* no capacity limit: every image keeps its expert */
    return run_routed_experts(m, n, 2 * m->n_experts + 1, run); /* gathers into expert_in[k] */
}

/* The frozen half from the table of a sub-gate stage (frozen_cache.h): the
 * baseline's and gate's outputs uploaded, routing as computed, each image's
 * chosen expert output scattered to its slot, the images gathered for the
 * sub-gates. */
static moecl_status hier_frozen_from_cache(model *m, int n)
{
    MOECL_TRY(frozen_cache_upload(m, m->cache_rows, n));
    MOECL_TRY(route_top1(m, n, n));
    MOECL_TRY(gather_routed_images(m, n, 2 * m->n_experts + 1));
    return MOECL_LAUNCH(m->ctx, "scatter_routed_rows_f32", (size_t)n * m->classes, 0,
                        MOECL_ARG_MEM(m->cache->chosen_batch->buf), MOECL_ARG_MEM(m->route->buf),
                        MOECL_ARG_MEM(m->slot->buf), MOECL_ARG_MEM(m->stacked->buf),
                        MOECL_ARG_INT(n), MOECL_ARG_INT(m->classes),
                        MOECL_ARG_INT(model_stack_stride(m)));
}

moecl_status hier_forward(model *m, int n, const layer_run *run)
{
    int E = m->n_experts;
    size_t zs = model_stack_stride(m), vs = 2 * zs;
    if (m->cache && m->cache_rows) MOECL_TRY(hier_frozen_from_cache(m, n));
    else MOECL_TRY(hier_frozen_forward(m, n, run));
    for (int k = 0; k < E; k++) /* all queued first, as the experts (run_routed_experts) */
        if (m->expert_counts[k] > 0) MOECL_TRY(model_forward_part(m, m->subgates[k], m->expert_counts[k], run));
    for (int k = 0; k < E; k++)
        MOECL_TRY(model_move_rows(m, network_output(m->parts[m->subgates[k]]), 0, m->subgate_out,
                                  k * vs, (size_t)m->expert_counts[k] * 2 * m->classes));
    return MOECL_LAUNCH(m->ctx, "hier_forward_f32", (size_t)n, 0,
                        MOECL_ARG_MEM(network_output(m->parts[m->gate])->buf),
                        MOECL_ARG_MEM(network_output(m->parts[m->baseline])->buf),
                        MOECL_ARG_MEM(m->stacked->buf), MOECL_ARG_MEM(m->subgate_out->buf),
                        MOECL_ARG_MEM(m->slot->buf),
                        MOECL_ARG_MEM(m->loss.labels->buf), MOECL_ARG_MEM(m->loss.probs->buf),
                        MOECL_ARG_MEM(m->route->buf), MOECL_ARG_MEM(m->loss.loss->buf),
                        MOECL_ARG_MEM(m->loss.pred->buf), MOECL_ARG_INT(n),
                        MOECL_ARG_INT(m->classes), MOECL_ARG_INT(m->n_experts), MOECL_ARG_INT(zs),
                        MOECL_ARG_INT(vs));
}

moecl_status hier_backward(model *m, int n)
{
    size_t zs = model_stack_stride(m), vs = 2 * zs;
    MOECL_TRY(moecl_tensor_fill(m->dstacked, 0.0f));
    MOECL_TRY(moecl_tensor_fill(m->dsubgate_out, 0.0f));
    MOECL_TRY(MOECL_LAUNCH(m->ctx, "hier_backward_f32", (size_t)n, 0,
                           MOECL_ARG_MEM(network_output(m->parts[m->baseline])->buf),
                           MOECL_ARG_MEM(m->stacked->buf), MOECL_ARG_MEM(m->subgate_out->buf),
                           MOECL_ARG_MEM(m->slot->buf),
                           MOECL_ARG_MEM(m->loss.labels->buf), MOECL_ARG_MEM(m->loss.probs->buf),
                           MOECL_ARG_MEM(m->route->buf), MOECL_ARG_MEM(m->dbaseline->buf),
                           MOECL_ARG_MEM(m->dstacked->buf), MOECL_ARG_MEM(m->dsubgate_out->buf),
                           MOECL_ARG_INT(n), MOECL_ARG_INT(m->classes),
                           MOECL_ARG_INT(m->n_experts), MOECL_ARG_INT(zs), MOECL_ARG_INT(vs),
                           MOECL_ARG_FLOAT(1.0f / (float)n)));
    if (model_part_learns(m, m->baseline))
        MOECL_TRY(network_backward(m->parts[m->baseline], m->dbaseline, n));
    MOECL_TRY(backward_routed_experts(m));
    return backward_routed_parts(m, m->subgates, m->dsubgate_out, vs, 2 * m->classes, m->dsub);
}

bool model_part_idle(const model *m, int part)
{
    if (m->head != HEAD_SWITCH && m->head != HEAD_TOPK && m->head != HEAD_HIERARCHICAL) return false;
    for (int k = 0; k < m->n_experts; k++)
        if (part == m->experts[k] || (m->head == HEAD_HIERARCHICAL && part == m->subgates[k]))
            return m->expert_counts[k] == 0;
    return false;
}

void model_set_lazy_experts(model *m, bool lazy) { m->lazy_experts = lazy; }
