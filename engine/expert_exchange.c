/* Expert parallelism across ranks (expert_exchange.h). The rows of a step
 * travel through host memory: a rank's rows for the experts of rank d are
 * packed by expert, and an expert's rows on its rank by origin rank, so
 * both sides find a block from the counts every rank shares first. */
#include "expert_exchange.h"
#include "dist.h"
#include "internal.h"
#include "model_parts.h"

#include <stdlib.h>
#include <string.h>

static bool routed_head(const model *m) { return m->head == HEAD_SWITCH || m->head == HEAD_TOPK; }

moecl_status model_exchange_experts(model *m, bool on)
{
    if (!on) {
        expert_exchange_free(m->exchange);
        m->exchange = NULL;
        return MOECL_OK;
    }
    if (!routed_head(m))
        return moecl_fail(MOECL_ERR_INVALID_ARG, "--expert-parallel: model %s has no routed "
                          "experts to spread over the ranks (a switch or top-k head has; a soft "
                          "or hierarchical mixture sends every rank's images to every expert)",
                          m->name);
    for (int k = 0; k < m->n_experts; k++)
        if (m->part_ctx[m->experts[k]])
            return moecl_fail(MOECL_ERR_INVALID_ARG, "--expert-parallel with --experts-on: "
                              "experts are spread over the ranks or placed on devices, not both");
    if (!m->exchange && !(m->exchange = calloc(1, sizeof *m->exchange)))
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    return MOECL_OK;
}

void expert_exchange_free(expert_exchange *x)
{
    if (!x) return;
    free(x->meta);
    free(x->send);
    free(x->recv);
    free(x->send_n);
    free(x->recv_n);
    free(x);
}

bool expert_exchange_active(const model *m, const layer_run *run)
{
    return m->exchange && run && run->training && dist_size() > 1;
}

static int rank_of_expert(int k) { return k % dist_size(); }

int model_part_rank(const model *m, int part)
{
    if (!m->exchange || dist_size() == 1) return -1;
    for (int k = 0; k < m->n_experts; k++)
        if (m->experts[k] == part) return rank_of_expert(k);
    return -1;
}

/* ---- host buffers and rows ------------------------------------------------- */

static moecl_status grow(float **buf, size_t *cap, size_t n)
{
    if (n <= *cap) return MOECL_OK;
    float *b = realloc(*buf, n * sizeof *b);
    if (!b) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory (%zu floats to exchange)", n);
    *buf = b, *cap = n;
    return MOECL_OK;
}

/* n floats of t from offset off (floats), blocking. */
static moecl_status rows_down(const moecl_tensor *t, size_t off, size_t n, float *host)
{
    if (n == 0) return MOECL_OK;
    MOECL_CL_CHECK(&t->ctx->device, clEnqueueReadBuffer(t->ctx->queue, t->buf, CL_TRUE,
                                                        off * sizeof(float), n * sizeof(float),
                                                        host, 0, NULL, NULL));
    return MOECL_OK;
}

static moecl_status rows_up(moecl_tensor *t, size_t off, size_t n, const float *host)
{
    if (n == 0) return MOECL_OK;
    MOECL_CL_CHECK(&t->ctx->device, clEnqueueWriteBuffer(t->ctx->queue, t->buf, CL_TRUE,
                                                         off * sizeof(float), n * sizeof(float),
                                                         host, 0, NULL, NULL));
    return MOECL_OK;
}

/* Rank r's images for expert k, and its share of the batch (from meta). */
static int count_of(const model *m, int r, int k)
{
    return (int)m->exchange->meta[(size_t)r * (m->n_experts + 1) + k];
}

static float share_of(const model *m, int r)
{
    return m->exchange->meta[(size_t)r * (m->n_experts + 1) + m->n_experts];
}

/* Images of every rank for expert k (on its rank: the expert's batch). */
static int total_of(const model *m, int k)
{
    int t = 0;
    for (int r = 0; r < dist_size(); r++) t += count_of(m, r, k);
    return t;
}

/* Where expert k's rows lie on this device: a tensor, and an offset in it. */
typedef const moecl_tensor *(*rows_of_fn)(const model *m, int k, size_t *off);

/* The floats to and from each rank (`width` a row), towards the experts'
 * ranks or back from them, and host room for them. */
static moecl_status plan_exchange(model *m, size_t width, bool to_experts)
{
    expert_exchange *x = m->exchange;
    int R = dist_size(), me = dist_rank();
    size_t *outward = to_experts ? x->send_n : x->recv_n, *inward = to_experts ? x->recv_n : x->send_n;
    size_t s_total = 0, r_total = 0;
    for (int r = 0; r < R; r++) x->send_n[r] = 0, x->recv_n[r] = 0;
    for (int k = 0; k < m->n_experts; k++) {
        outward[rank_of_expert(k)] += (size_t)count_of(m, me, k) * width; /* this rank's rows */
        if (rank_of_expert(k) == me) /* every rank's rows of an expert computed here */
            for (int r = 0; r < R; r++) inward[r] += (size_t)count_of(m, r, k) * width;
    }
    for (int r = 0; r < R; r++) s_total += x->send_n[r], r_total += x->recv_n[r];
    MOECL_TRY(grow(&x->send, &x->send_cap, s_total));
    return grow(&x->recv, &x->recv_cap, r_total);
}

/* Sends this rank's rows for each expert (count_of(me, k) rows of `width`
 * floats, where rows_of says) to the expert's rank, which gets them in recv
 * by origin rank, then expert. */
static moecl_status send_to_experts(model *m, rows_of_fn rows_of, size_t width)
{
    expert_exchange *x = m->exchange;
    int R = dist_size(), me = dist_rank(), E = m->n_experts;
    MOECL_TRY(plan_exchange(m, width, true));
    size_t at = 0;
    for (int d = 0; d < R; d++)
        for (int k = d; k < E; k += R) {
            size_t off, n = (size_t)count_of(m, me, k) * width;
            const moecl_tensor *t = rows_of(m, k, &off);
            MOECL_TRY(rows_down(t, off, n, x->send + at));
            at += n;
        }
    return dist_alltoall(x->send, x->send_n, x->recv, x->recv_n);
}

/* Where rank r's rows for expert k (owned here) lie in recv after
 * send_to_experts: after every earlier rank's block, and within r's block
 * after this rank's earlier experts. */
static size_t block_in_recv(const model *m, int r, int k, size_t width)
{
    int R = dist_size(), me = dist_rank();
    size_t at = 0;
    for (int q = 0; q < r; q++)
        for (int j = me; j < m->n_experts; j += R) at += (size_t)count_of(m, q, j) * width;
    for (int j = me; j < k; j += R) at += (size_t)count_of(m, r, j) * width;
    return at;
}

/* The reverse: rows of the experts owned here, by origin rank (row offset
 * of rank r's rows within expert k's batch: the earlier ranks' counts),
 * back to their ranks; each rank gets, by owner then expert, its own rows. */
static moecl_status send_back(model *m, rows_of_fn rows_of, size_t width, bool unscale)
{
    expert_exchange *x = m->exchange;
    int R = dist_size(), me = dist_rank(), E = m->n_experts;
    MOECL_TRY(plan_exchange(m, width, false));
    size_t at = 0;
    for (int r = 0; r < R; r++)
        for (int k = me; k < E; k += R) {
            size_t off, first = 0, n = (size_t)count_of(m, r, k) * width;
            for (int q = 0; q < r; q++) first += (size_t)count_of(m, q, k) * width;
            const moecl_tensor *t = rows_of(m, k, &off);
            MOECL_TRY(rows_down(t, off + first, n, x->send + at));
            /* input gradients of rows that came scaled (exchange_experts_backward) */
            float s = unscale ? share_of(m, r) / share_of(m, me) : 1.0f;
            if (s != 1.0f)
                for (size_t i = 0; i < n; i++) x->send[at + i] /= s;
            at += n;
        }
    return dist_alltoall(x->send, x->send_n, x->recv, x->recv_n);
}

static const moecl_tensor *expert_input(const model *m, int k, size_t *off)
{
    *off = 0;
    return m->expert_in[k];
}

static const moecl_tensor *expert_output(const model *m, int k, size_t *off)
{
    *off = 0;
    return network_output(m->parts[m->experts[k]]);
}

static const moecl_tensor *stacked_grad(const model *m, int k, size_t *off)
{
    *off = (size_t)k * model_stack_stride(m);
    return m->dstacked;
}

static const moecl_tensor *expert_input_grad(const model *m, int k, size_t *off)
{
    *off = 0;
    return m->parts[m->experts[k]]->layers[0]->grad_input;
}

/* ---- the two passes ------------------------------------------------------- */

moecl_status exchange_experts_forward(model *m, int n, const layer_run *run)
{
    expert_exchange *x = m->exchange;
    int R = dist_size(), me = dist_rank(), E = m->n_experts, C = m->classes;
    if (x->ranks != R) { /* the first step (or another number of ranks) */
        free(x->meta), free(x->send_n), free(x->recv_n);
        x->meta = malloc((size_t)R * (E + 1) * sizeof *x->meta);
        x->send_n = malloc((size_t)R * sizeof *x->send_n);
        x->recv_n = malloc((size_t)R * sizeof *x->recv_n);
        x->ranks = x->meta && x->send_n && x->recv_n ? R : 0;
        if (!x->ranks) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    x->this_step = true;
    float mine[MODEL_MAX_EXPERTS + 1];
    for (int k = 0; k < E; k++) mine[k] = (float)m->expert_counts[k];
    mine[E] = (float)n;
    MOECL_TRY(dist_allgather(mine, x->meta, (size_t)E + 1));
    size_t cols = m->expert_in[0]->count / (size_t)m->batch;
    MOECL_TRY(send_to_experts(m, expert_input, cols));
    /* each expert here on the rows of every rank, in rank order: the order
     * one device would give them, so random numbers (dropout) are drawn by
     * the row's place in the expert's whole batch, as there */
    layer_run whole = *run;
    whole.image_offset = 0;
    for (int k = me; k < E; k += R) {
        size_t at = 0;
        for (int r = 0; r < R; r++) {
            size_t rows = (size_t)count_of(m, r, k) * cols;
            MOECL_TRY(rows_up(m->expert_in[k], at, rows, x->recv + block_in_recv(m, r, k, cols)));
            at += rows;
        }
        if (total_of(m, k) > m->batch)
            return moecl_fail(MOECL_ERR_INVALID_ARG, "expert %d got %d images, more than the %d "
                              "its buffers hold", k, total_of(m, k), m->batch);
        if (total_of(m, k) > 0) MOECL_TRY(model_forward_part(m, m->experts[k], total_of(m, k), &whole));
    }
    MOECL_TRY(send_back(m, expert_output, (size_t)C, false));
    /* this rank's outputs of each expert, by owner then expert, to their stack rows */
    size_t at = 0;
    for (int d = 0; d < R; d++)
        for (int k = d; k < E; k += R) {
            size_t rows = (size_t)m->expert_counts[k] * C;
            MOECL_TRY(rows_up(m->stacked, (size_t)k * model_stack_stride(m), rows, x->recv + at));
            at += rows;
        }
    return MOECL_OK;
}

moecl_status exchange_experts_backward(model *m)
{
    expert_exchange *x = m->exchange;
    int R = dist_size(), me = dist_rank(), E = m->n_experts, C = m->classes;
    MOECL_TRY(send_to_experts(m, stacked_grad, (size_t)C));
    /* Rank r's loss is the mean over its share; data parallelism weighs
     * each rank's gradients by its share. This rank's sum will be weighed
     * by its own share, so rank r's rows are scaled by share_r / share_here. */
    for (int k = 0; k < E; k++) {
        network *expert = m->parts[m->experts[k]];
        if (!model_part_learns(m, m->experts[k])) continue;
        if (rank_of_expert(k) != me || total_of(m, k) == 0) { /* its rank gives its gradient */
            MOECL_TRY(network_zero_grads(expert));
            continue;
        }
        size_t at = 0;
        for (int r = 0; r < R; r++) {
            size_t rows = (size_t)count_of(m, r, k) * C;
            float *block = x->recv + block_in_recv(m, r, k, (size_t)C);
            float s = share_of(m, r) / share_of(m, me);
            for (size_t i = 0; i < rows; i++) block[i] *= s;
            MOECL_TRY(rows_up(m->dexpert[k], at, rows, block));
            at += rows;
        }
        MOECL_TRY(network_backward(expert, m->dexpert[k], total_of(m, k)));
    }
    if (m->trunk < 0) return MOECL_OK;
    size_t cols = m->expert_in[0]->count / (size_t)m->batch;
    MOECL_TRY(send_back(m, expert_input_grad, cols, true));
    size_t at = 0;
    for (int d = 0; d < R; d++)
        for (int k = d; k < E; k += R) {
            size_t rows = (size_t)m->expert_counts[k] * cols;
            MOECL_TRY(rows_up(m->expert_in[k], 0, rows, x->recv + at));
            at += rows;
        }
    return MOECL_OK;
}
