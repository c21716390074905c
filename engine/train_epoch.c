/* One training epoch (see train_epoch.h): shuffling, batches, the step,
 * the data-parallel exchange, the optimiser, progress. */
#include "train_epoch.h"
#include "frozen_cache.h"
#include "internal.h"
#include "progress.h"

#include <math.h>
#include <stdlib.h>

uint64_t train_mix(uint64_t a, uint64_t b)
{
    uint64_t s = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    return moecl_rng_next(&s);
}

static void shuffle(int *idx, int n, uint64_t seed, int epoch)
{
    uint64_t rng = train_mix(seed, (uint64_t)epoch);
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(moecl_rng_next(&rng) % (uint64_t)(i + 1));
        int t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
}

/* Gradient accumulation over the pieces of a share (--micro-batch): the
 * active parameters' gradients (read into piece, as large as the largest),
 * times weight, added to acc (set when first), on the host; then put back
 * into the gradients. */
static moecl_status accumulate_grads(const param_list *pl, float *acc, float *piece, float weight,
                                     bool first)
{
    size_t at = 0;
    for (int i = 0; i < pl->n_active; i++) {
        const moecl_tensor *g = pl->active[i]->grad;
        if (!g) continue;
        MOECL_TRY(moecl_tensor_download(g, piece, g->count));
        for (size_t j = 0; j < g->count; j++) acc[at + j] = (first ? 0.0f : acc[at + j]) + weight * piece[j];
        at += g->count;
    }
    return MOECL_OK;
}

static moecl_status upload_grads(const param_list *pl, const float *acc)
{
    size_t at = 0;
    for (int i = 0; i < pl->n_active; i++) {
        moecl_tensor *g = pl->active[i]->grad;
        if (!g) continue;
        MOECL_TRY(moecl_tensor_upload(g, acc + at, g->count));
        at += g->count;
    }
    return MOECL_OK;
}

/* Host room for accumulate_grads: the active gradients, then the largest. */
static float *accumulation_buffer(const param_list *pl, float **piece)
{
    size_t total = 0, largest = 0;
    for (int i = 0; i < pl->n_active; i++)
        if (pl->active[i]->grad) {
            total += pl->active[i]->grad->count;
            if (pl->active[i]->grad->count > largest) largest = pl->active[i]->grad->count;
        }
    float *acc = malloc((total + largest + 1) * sizeof *acc);
    *piece = acc ? acc + total : NULL;
    return acc;
}

/* The piece's routing (m images) added to the step's counts: images per
 * expert, then the dropped, then the summed gate weights (a soft gate's;
 * a hard one's count what was routed, as evaluate.c does). */
static moecl_status count_routing(model *net, int m, int K, int *route, float *gates, float *counts)
{
    bool soft = model_gate_is_soft(net);
    MOECL_TRY(model_read_choice(net, m, route, gates));
    for (int i = 0; i < m; i++) {
        if (route[i] < 0) {
            counts[K]++;
            continue;
        }
        counts[route[i]]++;
        for (int k = 0; k < K; k++) counts[K + 1 + k] += soft ? gates[(size_t)i * K + k] : k == route[i];
    }
    return MOECL_OK;
}

static moecl_status run_batches(model *net, const train_options *o, const dataset *train,
                                const normalizer *norm, uint64_t seed, param_list *pl,
                                run_state *rs, float *host, int *labels, int *idx, float *loss,
                                int *pred, long total_steps, grad_exchange *gx, FILE *log,
                                bool *stopped, float **acc_out, int *route, float *gates)
{
    int B = o->batch, n_train = train->count;
    int batches = (n_train + B - 1) / B;
    double split[DIST_MAX_SPLIT]; /* --split: each rank's weight (checked at the start) */
    if (o->split[0] && dist_split_parse(o->split, split, dist_size()) != MOECL_OK)
        return MOECL_ERR_INVALID_ARG;
    shuffle(idx, n_train, seed, rs->epoch);
    progress bar;
    progress_start(&bar, log, n_train, "img");
    progress_resume_at(&bar, (long)rs->batch_pos * B);
    layer_run run = {.training = true, .seed = (uint32_t)seed};
    bool flipped[B];
    int rows[B];
    float *acc = NULL, *piece_grads = NULL; /* --micro-batch: the share's summed gradients */
    for (int b = rs->batch_pos; b < batches; b++) {
        int start = b * B, n = n_train - start < B ? n_train - start : B;
        uint64_t aug_rng = train_mix(train_mix(seed, (uint64_t)rs->epoch), (uint64_t)b + 1);
        augment aug = o->aug;
        aug.epoch = rs->epoch;
        aug.seed = seed;
        dataset_make_batch(train, idx + start, n, norm, &aug, &aug_rng, host, labels, flipped);
        int first = 0, mine = n; /* this rank's share: images first .. first + mine - 1 */
        dist_share(n, o->split[0] ? split : NULL, &first, &mine);
        run.step = (uint32_t)rs->global_step;
        run.sync_bn = o->sync_bn;
        run.global_n = n;
        /* batch norm over every rank, and the experts' exchange, need an
         * image on each rank (every rank sees the same n: all stop alike) */
        if ((o->sync_bn || net->exchange) && mine == 0)
            return moecl_fail(MOECL_ERR_INVALID_ARG,
                              "%s: batch %d of epoch %d holds %d images, fewer than the %d "
                              "ranks, and each rank's %s needs an image: choose a --batch that "
                              "leaves a last batch of none or at least %d",
                              o->sync_bn ? "--sync-bn" : "--expert-parallel", b + 1,
                              rs->epoch + 1, n, dist_size(),
                              o->sync_bn ? "batch norm" : "share of the routing", dist_size());
        /* the step's loss sum, correct count, non-finite losses, Ctrl-C */
        double loss_sum = 0;
        float counts[4 + MODEL_MAX_PARTS + 2 * MODEL_MAX_PARTS + 1] = {0};
        int n_counts = 4 + (o->lazy_experts ? net->n_parts : 0); /* then each part: busy */
        int K = route ? model_routed_experts(net) : 0, at_routing = n_counts; /* then the routing */
        n_counts += K ? 2 * K + 1 : 0;
        /* the share in pieces the device holds (--micro-batch), their
         * gradients summed as the share's mean; random numbers keyed by
         * each image's place as without pieces */
        for (int at = 0, piece = net->batch; at < mine; at += piece) {
            int m = mine - at < piece ? mine - at : piece, from = first + at;
            run.image_offset = from;
            MOECL_TRY(moecl_tensor_upload_part(net->images, host + (size_t)from * CIFAR_IMAGE_BYTES,
                                               (size_t)m * CIFAR_IMAGE_BYTES));
            MOECL_TRY(model_set_labels(net, labels + from, m));
            if (net->cache)
                for (int i = 0; i < m; i++)
                    rows[i] = frozen_cache_row(net->cache, idx[start + from + i], flipped[from + i]);
            net->cache_rows = net->cache ? rows : NULL; /* this step only, not evaluation */
            moecl_status fst = model_forward(net, m, &run);
            net->cache_rows = NULL;
            MOECL_TRY(fst);
            MOECL_TRY(model_backward(net, m));
            MOECL_TRY(model_read(net, m, loss, pred));
            for (int i = 0; i < m; i++) {
                loss_sum += loss[i];
                counts[1] += pred[i] == model_target(net, labels[from + i]);
                counts[2] += !isfinite(loss[i]);
            }
            for (int p = 0; p < at_routing - 4; p++) counts[4 + p] += !model_part_idle(net, p);
            if (K) MOECL_TRY(count_routing(net, m, K, route, gates, counts + at_routing));
            if (m < mine && !acc && !(*acc_out = acc = accumulation_buffer(pl, &piece_grads)))
                return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
            if (m < mine) MOECL_TRY(accumulate_grads(pl, acc, piece_grads, (float)m / mine, at == 0));
        }
        if (mine > net->batch) MOECL_TRY(upload_grads(pl, acc));
        if (mine == 0) { /* more ranks than images: this rank adds nothing */
            for (int i = 0; i < pl->n_active; i++)
                if (pl->active[i]->grad) MOECL_TRY(moecl_tensor_fill(pl->active[i]->grad, 0.0f));
        }
        counts[0] = (float)loss_sum;
        counts[3] = moecl_interrupted != 0;
        MOECL_TRY(exchange_gradients(gx, pl, (float)mine / (float)n, counts, n_counts));
        if (dist_size() > 1) loss_sum = counts[0];
        rs->global_step++;
        float lr = optim_lr_at(&o->optim, rs->global_step - 1, batches, total_steps);
        if (counts[2] > 0) {
            char saved[1200] = "no epoch had finished, so no weights were saved";
            if (rs->epoch > 0)
                snprintf(saved, sizeof saved, "the weights of epoch %d are in "
                         "%s/last.safetensors", rs->epoch, o->out_dir);
            return moecl_fail(MOECL_ERR_DIVERGED,
                              "training diverged: the loss is %s at epoch %d, batch %d "
                              "(learning rate %g); %s. Try a lower --lr",
                              isnan(loss_sum) ? "NaN" : "infinite", rs->epoch + 1, b + 1, lr, saved);
        }
        moecl_param **step = pl->active; /* lazy experts: less those no rank gave an image */
        int n_step = pl->n_active;
        if (o->lazy_experts) {
            bool idle[MODEL_MAX_PARTS];
            for (int p = 0; p < net->n_parts; p++) idle[p] = counts[4 + p] == 0;
            n_step = select_busy(pl, idle);
            step = pl->step;
        }
        MOECL_TRY(optim_update(&o->optim, step, n_step, lr, rs->global_step));
        if (o->ema > 0) MOECL_TRY(ema_update(pl, o->ema));
        rs->part_loss += loss_sum;
        rs->part_correct += (long)counts[1];
        rs->part_seen += n;
        for (int k = 0; k < K; k++) {
            rs->part_routed[k] += counts[at_routing + k];
            rs->part_gate[k] += counts[at_routing + K + 1 + k];
        }
        if (K) rs->part_dropped += (long)counts[at_routing + K], rs->part_route_seen += n;
        rs->batch_pos = b + 1;
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f acc %.2f%%", rs->part_loss / rs->part_seen,
                 100.0 * rs->part_correct / rs->part_seen);
        progress_update(&bar, (long)(start + n), extra);
        if (counts[3] > 0) {
            *stopped = true;
            break;
        }
    }
    progress_clear(&bar);
    return MOECL_OK;
}

moecl_status run_epoch(model *net, const train_options *o, const dataset *train,
                       const normalizer *norm, uint64_t seed, param_list *pl, run_state *rs,
                       float *host, int *labels, int *idx, float *loss, int *pred,
                       long total_steps, grad_exchange *gx, FILE *log, bool *stopped)
{
    float *acc = NULL;
    /* room for a piece's routing, where the model routes */
    int K = model_routed_experts(net);
    int *route = K ? malloc((size_t)net->batch * sizeof *route) : NULL;
    float *gates = K ? malloc((size_t)net->batch * K * sizeof *gates) : NULL;
    if (K && (!route || !gates)) {
        free(route), free(gates);
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    moecl_status st = run_batches(net, o, train, norm, seed, pl, rs, host, labels, idx, loss, pred,
                                  total_steps, gx, log, stopped, &acc, route, gates);
    free(acc), free(route), free(gates);
    /* every rank leaves at the same step: the experts' running statistics
     * from the ranks that computed them, for rank 0 to evaluate and save */
    if (st == MOECL_OK && net->exchange) st = gather_part_statistics(gx, pl, net);
    return st;
}
