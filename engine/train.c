/* The training loop (see train.h). */
#include "train.h"
#include "frozen_cache.h"
#include "train_dist.h"
#include "train_epoch.h"
#include "train_weights.h"
#include "whiten.h"
#include "expert_devices.h"
#include "expert_exchange.h"
#include "draw/curves.h"
#include "internal.h"
#include "progress.h"
#include "run_result.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

volatile int moecl_interrupted = 0;

/* ---- the loop ----------------------------------------------------------- */


/* The training state (state.safetensors) is the run's commit point: one
 * atomic write holds the weights, the optimiser's slots, the counters and
 * the length of metrics.jsonl at that moment. The checkpoints
 * (last.safetensors, best.safetensors) are written after it and rebuilt
 * from it by a resume, so that a run killed anywhere resumes from its last
 * whole epoch with nothing half-written read and no epoch counted twice. */
#define STATE_FORMAT "moecl-state-2" /* -1: no weights in it (they were in last) */

/* The state's tensors: the weights (where it holds them), then the
 * optimiser's slots; free() the list. */
static st_tensor *state_tensors(const param_list *pl, bool with_weights, int *count)
{
    int slots = 0;
    st_tensor *e = state_entries(pl, &slots);
    st_tensor *all = e ? calloc((size_t)(slots + pl->count + 1), sizeof *all) : NULL;
    *count = 0;
    for (int i = 0; all && with_weights && i < pl->count; i++, (*count)++) {
        snprintf(all[i].name, sizeof all[i].name, "%s", pl->e[i].name);
        all[i].tensor = pl->p[i]->value;
    }
    if (all) memcpy(all + *count, e, (size_t)slots * sizeof *all);
    *count += slots;
    free(e);
    return all;
}

static moecl_status save_state(const char *dir, const param_list *pl, const run_state *rs)
{
    char path[1200], text[600];
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    snprintf(text, sizeof text, "%d %d %d %ld %.17g %.17g %d %d %.17g %ld %ld %.17g %ld", rs->stage,
             rs->epoch, rs->batch_pos, rs->global_step, rs->best_val_loss, rs->best_val_acc, rs->best_epoch,
             rs->bad_epochs, rs->part_loss, rs->part_correct, rs->part_seen, rs->part_seconds,
             rs->metrics_bytes);
    /* the partial epoch's routing on the training batches (absent from
     * states before it was kept: a resumed epoch then counts from there) */
    char routing[64 + 60 * MODEL_MAX_PARTS];
    int used = snprintf(routing, sizeof routing, "%ld %ld", rs->part_route_seen, rs->part_dropped);
    for (int k = 0; k < MODEL_MAX_PARTS; k++)
        used += snprintf(routing + used, sizeof routing - (size_t)used, " %.17g %.17g",
                         rs->part_routed[k], rs->part_gate[k]);
    st_meta meta[] = {{"format", STATE_FORMAT}, {"state", text}, {"routing", routing}};
    int count = 0;
    st_tensor *all = state_tensors(pl, true, &count);
    if (!all) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    moecl_status st = safetensors_save(path, all, count, meta, 3);
    free(all);
    return st;
}

/* *with_weights: the state held the weights (format 2), else they are
 * still to be read from last.safetensors. */
static moecl_status load_state(const char *dir, const param_list *pl, run_state *rs,
                               bool *with_weights)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    char *text = NULL, *format = NULL;
    MOECL_TRY(safetensors_meta(path, "format", &format));
    *with_weights = strcmp(format, STATE_FORMAT) == 0;
    bool known = *with_weights || strcmp(format, "moecl-state-1") == 0;
    free(format);
    if (!known) return moecl_fail(MOECL_ERR_FORMAT, "'%s' is not a moecl training state", path);
    MOECL_TRY(safetensors_meta(path, "state", &text));
    rs->part_seconds = 0; /* states written before it was kept have 11 fields */
    rs->metrics_bytes = -1; /* and before this, 12 */
    int got = sscanf(text, "%d %d %d %ld %lf %lf %d %d %lf %ld %ld %lf %ld", &rs->stage, &rs->epoch,
                     &rs->batch_pos,
                     &rs->global_step, &rs->best_val_loss, &rs->best_val_acc, &rs->best_epoch,
                     &rs->bad_epochs, &rs->part_loss, &rs->part_correct, &rs->part_seen, &rs->part_seconds,
                     &rs->metrics_bytes);
    free(text);
    if ((got < 11 || got > 13) || !(rs->part_seconds >= 0) || rs->stage < 0 || rs->epoch < 0 ||
        rs->batch_pos < 0 || rs->global_step < 0 || rs->best_epoch < 0 || rs->best_epoch > rs->epoch ||
        (got == 13 && rs->metrics_bytes < 0))
        return moecl_fail(MOECL_ERR_FORMAT, "'%s' is not a moecl training state (corrupt)", path);
    MOECL_TRY(safetensors_meta(path, "routing", &text));
    const char *at = text;
    int used = 0;
    bool routing = sscanf(at, "%ld %ld%n", &rs->part_route_seen, &rs->part_dropped, &used) == 2 &&
                   rs->part_route_seen >= 0 && rs->part_route_seen <= INT_MAX &&
                   rs->part_dropped >= 0 && rs->part_dropped <= rs->part_route_seen;
    for (int k = 0; routing && k < MODEL_MAX_PARTS; k++) {
        at += used;
        routing = sscanf(at, "%lf %lf%n", &rs->part_routed[k], &rs->part_gate[k], &used) == 2 &&
                  rs->part_routed[k] >= 0 && rs->part_gate[k] >= 0; /* (not NaN) */
    }
    free(text);
    if (!routing) { /* a state from before the routing was kept */
        rs->part_route_seen = rs->part_dropped = 0;
        for (int k = 0; k < MODEL_MAX_PARTS; k++) rs->part_routed[k] = rs->part_gate[k] = 0;
    }
    int count = 0;
    st_tensor *all = state_tensors(pl, *with_weights, &count);
    if (!all) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    moecl_status st = safetensors_load(path, all, count);
    free(all);
    return st;
}

/* After a resume has read the state: metrics.jsonl cut back to the state's
 * length (a line past it is from an epoch killed before its commit), and
 * the checkpoints the killed run may not have written rebuilt from it. */
static moecl_status repair_after_state(const train_options *o, const param_list *pl,
                                       const char *model_json, const normalizer *norm,
                                       const run_state *rs)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", o->out_dir);
    struct stat sb;
    if (rs->metrics_bytes >= 0 && stat(path, &sb) == 0 && sb.st_size > rs->metrics_bytes &&
        truncate(path, (off_t)rs->metrics_bytes) != 0)
        return moecl_fail(MOECL_ERR_IO, "cannot cut '%s' back to its last whole epoch: %s", path,
                          strerror(errno));
    snprintf(path, sizeof path, "%s/last.safetensors", o->out_dir);
    MOECL_TRY(save_weights(path, pl, model_json, norm, rs->epoch));
    if (rs->batch_pos == 0 && rs->epoch > 0 && rs->best_epoch == rs->epoch) {
        snprintf(path, sizeof path, "%s/best.safetensors", o->out_dir);
        MOECL_TRY(save_weights(path, pl, model_json, norm, rs->epoch));
    }
    return MOECL_OK;
}

typedef struct run_data {
    dataset train, val, test;
    normalizer norm;
} run_data;

static moecl_status load_data(const train_options *o, run_data *d, FILE *log)
{
    memset(d, 0, sizeof *d);
    int val = o->val;
    if (o->synthetic) {
        int n = o->train_examples > 0 ? o->train_examples : o->synthetic_count;
        if (val < 0) val = n / 10;
        MOECL_TRY(dataset_synthetic(n + val, o->seed, &d->train));
        int nt = o->test_examples > 0 ? o->test_examples : (n / 5 > 0 ? n / 5 : 1);
        MOECL_TRY(dataset_synthetic(nt, o->seed + 1000003, &d->test));
    } else {
        char dir[1024];
        MOECL_TRY(cifar10_locate(o->data_dir, dir, sizeof dir));
        int n = o->train_examples > 0 ? o->train_examples : 0;
        if (val < 0) val = n > 0 ? n / 10 : 5000;
        MOECL_TRY(cifar10_load(dir, true, n > 0 ? n + val : 0, &d->train));
        MOECL_TRY(cifar10_load(dir, false, o->test_examples, &d->test));
        if (log) fprintf(log, "data: %s\n", dir);
    }
    MOECL_TRY(dataset_split_tail(&d->train, val, &d->val));
    d->norm = normalizer_fit(&d->train);
    if (log)
        fprintf(log, "data: %d training, %d validation, %d test images%s\n", d->train.count,
                d->val.count, d->test.count, o->synthetic ? " (synthetic)" : "");
    return MOECL_OK;
}

static void free_data(run_data *d)
{
    dataset_free(&d->train);
    dataset_free(&d->val);
    dataset_free(&d->test);
}

static moecl_status make_dir(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    struct stat sb;
    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return moecl_fail(MOECL_ERR_INVALID_ARG, "the run directory '%s' is a file, not a directory",
                          dir);
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return moecl_fail(MOECL_ERR_IO, "cannot create run directory '%s': %s", dir, strerror(errno));
    return MOECL_OK;
}

/* Appends the epoch's line to metrics.jsonl; *bytes is the file's length
 * after it (kept in the training state: a line past it is from an epoch
 * that was never committed, and a resume cuts it off). */
/* A routing's shares as metrics keys, each name after `prefix`. */
static void write_routing(FILE *f, const char *prefix, const eval_result *r)
{
    fprintf(f, ", \"%sexpert_share\": [", prefix);
    for (int k = 0; k < r->n_experts; k++) {
        fprintf(f, "%s", k ? ", " : "");
        moecl_json_number(f, r->share[k], 6);
    }
    fprintf(f, "], \"%smean_gate\": [", prefix);
    for (int k = 0; k < r->n_experts; k++) {
        fprintf(f, "%s", k ? ", " : "");
        moecl_json_number(f, r->mean_gate[k], 6);
    }
    fprintf(f, "], \"%sdead_expert\": %s, \"%scollapsed\": %s, \"%sdropped\": %d", prefix,
            r->dead_expert ? "true" : "false", prefix, r->collapsed ? "true" : "false", prefix,
            r->dropped);
}

/* tr: the routing on the training batches (counted where v has no images) */
static moecl_status append_metrics(const char *dir, const char *stage, int epoch, double tl,
                                   double ta, const eval_result *v, const eval_result *tr,
                                   double secs, double ips, float lr, long *bytes)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "a");
    if (!f) return moecl_fail(MOECL_ERR_IO, "cannot append to '%s': %s", path, strerror(errno));
    fprintf(f, "{");
    if (stage) fprintf(f, "\"stage\": \"%s\", ", stage);
    fprintf(f, "\"epoch\": %d, \"train_loss\": ", epoch);
    moecl_json_number(f, tl, 6);
    fprintf(f, ", \"train_accuracy\": ");
    moecl_json_number(f, ta, 6);
    /* no validation images (--val 0): null, as a value that is not there */
    fprintf(f, ", \"val_loss\": ");
    moecl_json_number(f, v->count > 0 ? v->loss : NAN, 6);
    fprintf(f, ", \"val_accuracy\": ");
    moecl_json_number(f, v->count > 0 ? v->accuracy : NAN, 6);
    fprintf(f, ", \"seconds\": ");
    moecl_json_number(f, secs, 3);
    fprintf(f, ", \"images_per_second\": ");
    moecl_json_number(f, ips, 1);
    fprintf(f, ", \"lr\": %.6g", isfinite(lr) ? lr : 0.0);
    /* routing shares only where there were images to route */
    if (v->n_experts > 0 && v->count > 0) write_routing(f, "", v);
    if (tr->n_experts > 0 && tr->count > 0) { /* and the images counted (a whole epoch's) */
        write_routing(f, "train_", tr);
        fprintf(f, ", \"train_routed_images\": %d", tr->count);
    }
    fprintf(f, "}\n");
    *bytes = ftell(f);
    bool ok = !ferror(f);
    if (fclose(f) != 0) ok = false;
    if (!ok || *bytes < 0) return moecl_fail(MOECL_ERR_IO, "cannot append to '%s'", path);
    return MOECL_OK;
}

/* Everything a run holds while it trains. */
typedef struct trainer {
    const train_options *o;
    FILE *log;
    char *model_json;
    model *net;
    run_data d;
    param_list pl;
    float *host, *loss;
    int *labels, *idx, *pred;
    bool curves_warned;
    bool writer;     /* writes the run directory: rank 0 of a data-parallel run */
    grad_exchange gx; /* data parallel: the step's exchange buffer */
} trainer;

/* RUN_DIR/curves.png, redrawn from metrics.jsonl after every epoch; a
 * picture that cannot be written is a warning, never a lost run. */
static void draw_curves(trainer *t)
{
    if (!t->writer) return;
    char metrics[1200], png[1200], title[200];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", t->o->out_dir);
    snprintf(png, sizeof png, "%s/curves.png", t->o->out_dir);
    snprintf(title, sizeof title, "%s: training curves", t->net->name);
    if (curves_png(metrics, title, png) != MOECL_OK && t->log && !t->curves_warned) {
        fprintf(t->log, "moecl: warning: no curves.png: %s\n", moecl_last_error());
        t->curves_warned = true;
    }
}

/* The classes of a stage's task: the gate trained alone sees groups, the
 * others the classes they train on. */
static int stage_targets(const model *m, int s)
{
    if (s < 0) return m->classes;
    if (m->head == HEAD_HIERARCHICAL && m->stages[s].alone == m->gate) return m->n_experts;
    int n = 0;
    for (int c = 0; c < m->classes; c++) n += (m->stages[s].classes >> c) & 1u;
    return n;
}

/* A finished stage's task on the test set: its classes, its targets. */
static moecl_status stage_test(trainer *t, int stage, stage_result *r)
{
    model *net = t->net;
    const model_stage *ms = stage >= 0 ? &net->stages[stage] : NULL;
    snprintf(r->name, sizeof r->name, "%s", ms ? ms->name : net->name);
    r->targets = stage_targets(net, stage);
    MOECL_TRY(model_set_stage(net, stage));
    dataset test = {0};
    moecl_status st = ms ? dataset_subset(&t->d.test, ms->classes, &test) : MOECL_OK;
    net->tta = t->o->tta; /* the test alone: validation stays plain */
    if (st == MOECL_OK && t->writer)
        st = evaluate(net, ms ? &test : &t->d.test, &t->d.norm, t->host, &r->test);
    net->tta = TTA_NONE;
    dataset_free(&test);
    if (st == MOECL_OK) st = dist_broadcast_bytes(&r->test, sizeof r->test);
    return st;
}

/* An epoch whose validation loss or weights are not finite ends the run as
 * a non-finite training loss does: nothing of it is written, and the last
 * finished epoch's weights stay in last.safetensors. */
static moecl_status check_finite(trainer *t, const run_state *rs, const eval_result *v)
{
    const char *bad = NULL;
    if (v->count > 0 && !isfinite(v->loss)) bad = isnan(v->loss) ? "the validation loss is NaN" :
                                                                  "the validation loss is infinite";
    char name[160];
    bool finite = true;
    if (!bad) MOECL_TRY(params_finite(&t->pl, &finite, name, sizeof name));
    char what[256];
    if (!finite) snprintf(what, sizeof what, "parameter '%s' holds a NaN or infinite value", name);
    if (!bad && finite) return MOECL_OK;
    char saved[1200] = "no epoch had finished, so no weights were saved";
    if (rs->epoch > 0)
        snprintf(saved, sizeof saved, "the weights of epoch %d are in %s/last.safetensors", rs->epoch,
                 t->o->out_dir);
    return moecl_fail(MOECL_ERR_DIVERGED, "training diverged: %s after epoch %d; %s. Try a lower --lr",
                      bad ? bad : what, rs->epoch + 1, saved);
}

/* One stage (stage -1: a model without stages) from the state in *rs. */
static moecl_status train_stage(trainer *t, int stage, run_state *rs, stage_result *r,
                                bool *interrupted)
{
    const train_options *o = t->o;
    model *net = t->net;
    char path[1200];
    memset(r, 0, sizeof *r);
    MOECL_TRY(model_set_stage(net, stage));
    select_active(&t->pl);
    const model_stage *ms = stage >= 0 ? &net->stages[stage] : NULL;
    snprintf(r->name, sizeof r->name, "%s", ms ? ms->name : net->name);
    r->targets = stage_targets(net, stage);
    int epochs = ms && ms->epochs > 0 ? ms->epochs : o->epochs;
    int patience = ms && ms->patience >= 0 ? ms->patience : o->patience;
    uint64_t seed = stage < 0 ? o->seed : train_mix(o->seed, (uint64_t)stage + 1);
    dataset train = {0}, val = {0};
    moecl_status st = MOECL_OK;
    const dataset *tr = &t->d.train, *va = &t->d.val;
    if (ms) {
        st = dataset_subset(&t->d.train, ms->classes, &train);
        if (st == MOECL_OK) st = dataset_subset(&t->d.val, ms->classes, &val);
        tr = &train, va = &val;
        if (t->log)
            fprintf(t->log, "stage %d/%d %s: %d training, %d validation images, up to %d epochs\n",
                    stage + 1, net->n_stages, ms->name, tr->count, va->count, epochs);
    }
    long batches = (tr->count + o->batch - 1) / o->batch;
    long total_steps = batches * epochs;
    /* random crops make too many variants of each image to keep */
    bool cache = frozen_cache_applies(net) && !o->aug.crop && !o->aug.translate &&
                 !o->no_frozen_cache;
    bool stop = st != MOECL_OK || tr->count == 0;
    if (st == MOECL_OK && tr->count == 0)
        st = moecl_fail(MOECL_ERR_INVALID_ARG, "stage %s has no training images", r->name);
    while (!stop && rs->epoch < epochs) {
        double e0 = moecl_seconds();
        if (rs->epoch == 0 && rs->batch_pos == 0 && st == MOECL_OK)
            st = ema_reset(&t->pl); /* a stage starts: the averages from its first weights */
        if (st != MOECL_OK) break;
        if (rs->batch_pos == 0) {
            rs->part_loss = 0, rs->part_correct = 0, rs->part_seen = 0, rs->part_seconds = 0;
            rs->part_dropped = rs->part_route_seen = 0;
            for (int k = 0; k < MODEL_MAX_PARTS; k++) rs->part_routed[k] = rs->part_gate[k] = 0;
        }
        long seen_before = rs->part_seen;
        bool stopped = false;
        if (cache && !net->cache) { /* in the epoch's time: it stands in for its forwards */
            if (t->log)
                fprintf(t->log, "%s: the frozen baseline, gate and experts run once on the %d "
                        "training images%s and the %d validation images; their outputs are kept "
                        "for this stage\n", r->name, tr->count,
                        o->aug.flip || o->aug.alternate ? " (and their mirror images)" : "", va->count);
            st = frozen_cache_build(net, tr, va, &t->d.norm, o->aug.flip || o->aug.alternate, t->host, t->labels, t->log,
                                    &stopped);
            if (st != MOECL_OK) break;
        }
        if (!stopped)
            st = run_epoch(net, o, tr, &t->d.norm, seed, &t->pl, rs, t->host, t->labels, t->idx,
                           t->loss, t->pred, total_steps, &t->gx, t->log, &stopped);
        if (st != MOECL_OK) break;
        if (stopped) {
            rs->part_seconds += moecl_seconds() - e0;
            st = t->writer ? save_state(o->out_dir, &t->pl, rs) : MOECL_OK;
            snprintf(path, sizeof path, "%s/last.safetensors", o->out_dir);
            ema_swap(&t->pl); /* --ema: the checkpoints hold the averaged weights */
            if (st == MOECL_OK && t->writer)
                st = save_weights(path, &t->pl, t->model_json, &t->d.norm, rs->epoch);
            ema_swap(&t->pl);
            *interrupted = true;
            if (t->log) fprintf(t->log, "interrupted in epoch %d after batch %d: state saved; continue "
                                "with: moecl train --resume %s\n", rs->epoch + 1, rs->batch_pos, o->out_dir);
            break;
        }
        double since = moecl_seconds() - e0;
        double ips = (rs->part_seen - seen_before) / (since > 0 ? since : 1e-9);
        double secs = since + rs->part_seconds; /* the whole epoch, across an interrupt */
        /* rank 0's running statistics and evaluation, so that every rank
         * decides alike (best epoch, early stop, divergence) */
        eval_result v;
        memset(&v, 0, sizeof v);
#ifndef NDEBUG
        st = check_replicas_equal(&t->gx, &t->pl);
        if (st != MOECL_OK) break;
#endif
        st = sync_params(&t->gx, &t->pl);
        ema_swap(&t->pl); /* --ema: the averaged weights are evaluated (and saved below) */
        if (st == MOECL_OK && t->writer) st = evaluate(net, va, &t->d.norm, t->host, &v);
        if (st == MOECL_OK) st = dist_broadcast_bytes(&v, sizeof v);
        if (st == MOECL_OK) st = check_finite(t, rs, &v);
        ema_swap(&t->pl);
        if (st != MOECL_OK) break;
        rs->part_seconds = 0;
        rs->epoch++;
        rs->batch_pos = 0;
        double tl = rs->part_loss / rs->part_seen, ta = (double)rs->part_correct / rs->part_seen;
        /* without validation images, the routing as the training batches went */
        eval_result tv;
        memset(&tv, 0, sizeof tv);
        tv.gate_accuracy = -1;
        tv.dropped = (int)rs->part_dropped;
        if (v.count == 0)
            eval_routing_finish(&tv, model_routed_experts(net), (int)rs->part_route_seen,
                                rs->part_routed, rs->part_gate);
        float lr = optim_lr_at(&o->optim, rs->global_step - 1, batches, total_steps);
        /* without validation images (--val 0, training on them all) the
         * last epoch is the best: nothing says otherwise */
        bool improved = v.count == 0 || v.loss < rs->best_val_loss;
        if (improved) {
            if (v.count > 0) rs->best_val_loss = v.loss, rs->best_val_acc = v.accuracy;
            rs->best_epoch = rs->epoch;
            rs->bad_epochs = 0;
        } else {
            rs->bad_epochs++;
        }
        /* the metrics line, then the state (the commit), then the checkpoints */
        if (t->writer) {
            st = append_metrics(o->out_dir, ms ? ms->name : NULL, rs->epoch, tl, ta, &v, &tv, secs, ips,
                                lr, &rs->metrics_bytes);
            moecl_test_kill("epoch-end:metrics");
            if (st == MOECL_OK) st = save_state(o->out_dir, &t->pl, rs);
            moecl_test_kill("epoch-end:state");
            ema_swap(&t->pl);
            snprintf(path, sizeof path, "%s/best.safetensors", o->out_dir);
            if (st == MOECL_OK && improved)
                st = save_weights(path, &t->pl, t->model_json, &t->d.norm, rs->epoch);
            snprintf(path, sizeof path, "%s/last.safetensors", o->out_dir);
            if (st == MOECL_OK) st = save_weights(path, &t->pl, t->model_json, &t->d.norm, rs->epoch);
            ema_swap(&t->pl);
        }
        if (st != MOECL_OK) break;
        draw_curves(t);
        char val_text[96] = "no validation images";
        if (v.count > 0)
            snprintf(val_text, sizeof val_text, "val loss %.4f acc %.2f%%%s", v.loss, 100 * v.accuracy,
                     improved ? " (best)" : "");
        if (t->log)
            fprintf(t->log, "%s%sepoch %d/%d: train loss %.4f acc %.2f%% | %s | %.1f s, %.0f img/s\n",
                    ms ? ms->name : "", ms ? " " : "", rs->epoch, epochs, tl, 100 * ta, val_text, secs, ips);
        char routing[512];
        if (v.count > 0)
            eval_routing_summary(net, &v, "routing", routing, sizeof routing);
        else
            eval_routing_summary(net, &tv, "routing on the training batches", routing, sizeof routing);
        if (t->log && routing[0]) fprintf(t->log, "  %s\n", routing);
        if (patience > 0 && rs->bad_epochs >= patience && rs->epoch < epochs) {
            r->early_stopped = true;
            stop = true;
            if (t->log) fprintf(t->log, "early stop: validation loss has not improved for %d epochs\n",
                                patience);
        }
    }
    if (st == MOECL_OK && !*interrupted) {
        /* The stage's best weights, and its own task on the test set. */
        snprintf(path, sizeof path, "%s/best.safetensors", o->out_dir);
        if (rs->best_epoch > 0 && t->writer) st = load_weights(path, &t->pl);
        if (st == MOECL_OK) st = sync_params(&t->gx, &t->pl);
        if (st == MOECL_OK) st = stage_test(t, stage, r);
        r->epochs_run = rs->epoch;
        r->best_val_loss = rs->best_val_loss;
        r->best_val_accuracy = rs->best_val_acc;
        r->best_epoch = rs->best_epoch;
        r->stuck_at_chance = va->count > 0 && run_at_chance(rs->best_val_acc, r->targets);
        if (t->log && ms)
            fprintf(t->log, "stage %s: best epoch %d, val acc %.2f%%, test acc %.2f%% on %d images%s\n",
                    ms->name, r->best_epoch, 100 * r->best_val_accuracy, 100 * r->test.accuracy,
                    r->test.count, r->stuck_at_chance ? " -- AT CHANCE: this stage did not learn" : "");
    }
    frozen_cache_free(net);
    dataset_free(&train);
    dataset_free(&val);
    return st;
}

/* A new run never writes over another: its metrics and checkpoints would
 * be lost. */
static moecl_status check_no_run_there(const char *dir)
{
    const char *files[] = {"state.safetensors", "metrics.jsonl", "last.safetensors"};
    char path[1200];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (access(path, F_OK) == 0)
            return moecl_fail(MOECL_ERR_INVALID_ARG, "'%s' already holds a training run (%s): "
                              "continue it with 'moecl train --resume %s', or give another --out",
                              dir, files[i], dir);
    }
    return MOECL_OK;
}

moecl_status train_run(moecl_ctx *ctx, const train_options *o, bool resume, FILE *log,
                       train_summary *s)
{
    memset(s, 0, sizeof *s);
    double t0 = moecl_seconds();
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = o;
    t.log = log;
    t.writer = dist_rank() == 0;
    char path[1200];
    run_state rs = {.best_val_loss = INFINITY};

    /* the run directory is made only once the model and data are good */
    moecl_status st = model_source(o->model_path, &t.model_json);
    if (st == MOECL_OK) st = model_parse(t.model_json, o->model_path, &t.net);
    if (st == MOECL_OK) st = load_data(o, &t.d, log);
    /* the device holds a micro-batch where one is set (train_epoch.c) */
    int device_batch = o->micro_batch > 0 && o->micro_batch < o->batch ? o->micro_batch : o->batch;
    if (st == MOECL_OK && o->micro_batch > 0 && o->sync_bn)
        st = moecl_fail(MOECL_ERR_INVALID_ARG, "--micro-batch and --sync-bn: batch norm's statistics "
                        "are each micro-batch's, not the whole batch's; choose one");
    expert_devices placed = {0};
    if (st == MOECL_OK && o->experts_on[0] && dist_size() > 1)
        st = moecl_fail(MOECL_ERR_INVALID_ARG, "--experts-on with %d data-parallel ranks: experts "
                        "are placed on the devices of one process only (yet); use one or the "
                        "other", dist_size());
    if (st == MOECL_OK && o->experts_on[0]) st = expert_devices_open(ctx, o->experts_on, log, &placed);
    if (st == MOECL_OK && placed.n) st = model_place_experts(t.net, placed.ctx, placed.n);
    if (st == MOECL_OK && o->expert_parallel && o->micro_batch > 0)
        st = moecl_fail(MOECL_ERR_INVALID_ARG, "--expert-parallel and --micro-batch: the ranks "
                        "exchange each step's rows once, not piece by piece; choose one");
    if (st == MOECL_OK && o->expert_parallel) st = model_exchange_experts(t.net, true);
    if (st == MOECL_OK) st = model_setup(t.net, ctx, device_batch, o->seed);
    if (st == MOECL_OK) st = collect_params(t.net, &t.pl);
    /* one process may leave an idle expert's gradients; ranks sum them, so zeros */
    /* (pieces of a batch sum every piece's gradients: none may be left stale) */
    if (st == MOECL_OK)
        model_set_lazy_experts(t.net, o->lazy_experts && dist_size() == 1 && device_batch == o->batch);
    if (st == MOECL_OK && o->label_smoothing > 0 && !model_smoothing_applies(t.net))
        st = moecl_fail(MOECL_ERR_INVALID_ARG, "--label-smoothing: model %s's head (a soft or "
                        "hierarchical mixture) has a loss of its own, not a softmax "
                        "cross-entropy; it applies to single networks and switch and top-k "
                        "heads", t.net->name);
    if (st == MOECL_OK) t.net->label_smoothing = o->label_smoothing;
    if (st == MOECL_OK) st = optim_prepare(&o->optim, t.pl.p, t.pl.count);
    if (st == MOECL_OK && o->ema > 0) st = ema_start(&t.pl); /* before a resume loads them */
    if (st == MOECL_OK && !resume && o->weights[0]) st = check_weights_outside(o->weights, o->out_dir);
    double split[DIST_MAX_SPLIT];
    if (st == MOECL_OK && o->split[0]) st = dist_split_parse(o->split, split, dist_size());
    if (st == MOECL_OK && log && dist_size() > 1) { /* each rank's share of a whole batch */
        fprintf(log, "data parallel: a batch of %d split", o->batch);
        for (int r = 0, first, count; r < dist_size() && r < 16; r++) {
            dist_share_of(o->batch, o->split[0] ? split : NULL, r, &first, &count);
            fprintf(log, "%s%d", r ? " + " : " ", count);
        }
        fprintf(log, "%s between %d ranks%s\n", dist_size() > 16 ? " + ..." : "", dist_size(),
                o->sync_bn ? ", batch norm over the whole batch" : "");
        if (o->expert_parallel)
            fprintf(log, "expert parallel: expert k computed by rank k mod %d, the routed rows "
                    "exchanged each step\n", dist_size());
    }
    if (st == MOECL_OK && log && o->expert_parallel && dist_size() == 1)
        fprintf(log, "expert parallel: one rank, so every expert is computed here (it spreads "
                "experts over the ranks of --device 0,1 or mpirun)\n");
    if (st == MOECL_OK && !resume && t.writer) st = check_no_run_there(o->out_dir);
    if (st == MOECL_OK && t.writer) st = make_dir(o->out_dir);
    if (st != MOECL_OK) goto done;
    model *net = t.net;
    snprintf(s->model_name, sizeof s->model_name, "%s", net->name);
    if (log)
        fprintf(log, "model %s: %zu parameters, %.1f MFLOPs per image\n", net->name,
                model_param_count(net), model_flops_per_image(net) / 1e6);
    int start = 0; /* the first stage this run trains */
    st = find_stage(net, o->start_stage, &start);
    if (st == MOECL_OK && o->start_stage[0] && !o->weights[0])
        st = moecl_fail(MOECL_ERR_INVALID_ARG, "--start-stage %s needs --weights: the parts of the "
                        "stages before it come from a checkpoint", o->start_stage);
    if (st != MOECL_OK) goto done;
    rs.stage = start;
    if (resume) {
        bool with_weights = false;
        snprintf(path, sizeof path, "%s/last.safetensors", o->out_dir);
        st = load_state(o->out_dir, &t.pl, &rs, &with_weights);
        if (st == MOECL_OK && !with_weights) st = load_weights(path, &t.pl);
        /* the normalizer of the run's starting checkpoint (kept in last) */
        if (st == MOECL_OK && o->weights[0])
            st = read_normalizer(access(path, R_OK) == 0 ? path : o->weights, &t.d.norm);
        ema_swap(&t.pl); /* the checkpoints it rebuilds hold the averaged weights */
        if (st == MOECL_OK && t.writer) st = repair_after_state(o, &t.pl, t.model_json, &t.d.norm, &rs);
        ema_swap(&t.pl);
        if (st != MOECL_OK) goto done;
        if (log) fprintf(log, "resuming %s in stage %d after epoch %d, batch %d\n", o->out_dir,
                         rs.stage + 1, rs.epoch, rs.batch_pos);
    } else {
        if (t.writer) {
            snprintf(path, sizeof path, "%s/model.json", o->out_dir);
            const void *parts[1] = {t.model_json};
            size_t sizes[1] = {strlen(t.model_json)};
            st = moecl_write_file_atomic(path, parts, sizes, 1);
            snprintf(path, sizeof path, "%s/options.json", o->out_dir);
            if (st == MOECL_OK) st = train_options_save(o, path);
            snprintf(path, sizeof path, "%s/metrics.jsonl", o->out_dir);
            remove(path);
        }
        /* whitening convolutions from the training images (a checkpoint
         * given with --weights brings its own) */
        if (st == MOECL_OK && !o->weights[0]) st = whiten_model(net, &t.d.train, &t.d.norm, WHITEN_IMAGES);
        if (st == MOECL_OK && o->weights[0])
            st = start_from_weights(net, &t.pl, o->weights, start, o->start_stage[0] != '\0',
                                    &t.d.norm, log);
        if (st != MOECL_OK) goto done;
    }
    t.host = malloc((size_t)o->batch * CIFAR_IMAGE_BYTES * sizeof *t.host);
    t.labels = malloc((size_t)o->batch * sizeof *t.labels);
    t.pred = malloc((size_t)o->batch * sizeof *t.pred);
    t.loss = malloc((size_t)o->batch * sizeof *t.loss);
    t.idx = malloc((size_t)(t.d.train.count ? t.d.train.count : 1) * sizeof *t.idx);
    if (!t.host || !t.labels || !t.pred || !t.loss || !t.idx) {
        st = moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    st = sync_params(&t.gx, &t.pl); /* every rank starts from rank 0's weights */
    if (st != MOECL_OK) goto done;
    if (net->n_stages == 0) {
        stage_result r;
        st = train_stage(&t, -1, &rs, &r, &s->interrupted);
        s->epochs_run = r.epochs_run;
        s->best_val_loss = r.best_val_loss;
        s->best_val_accuracy = r.best_val_accuracy;
        s->best_epoch = r.best_epoch;
        s->early_stopped = r.early_stopped;
        s->stuck_at_chance = r.stuck_at_chance;
        s->test = r.test;
        goto finished;
    }
    for (int k = 0; k < net->n_stages && st == MOECL_OK && !s->interrupted; k++) {
        if (k < rs.stage) { /* from --weights, or finished before the resume: its task only */
            st = stage_test(&t, k, &s->stages[k]);
            s->stages[k].from_weights = k < start;
            s->stages[k].before_resume = k >= start;
            s->n_stages = k + 1;
            continue;
        }
        if (k > rs.stage) {
            run_state fresh = {.stage = k, .best_val_loss = INFINITY, .metrics_bytes = rs.metrics_bytes};
            rs = fresh;
        }
        st = train_stage(&t, k, &rs, &s->stages[k], &s->interrupted);
        s->n_stages = k + 1;
        s->stuck_at_chance |= s->stages[k].stuck_at_chance;
        s->epochs_run += s->stages[k].epochs_run;
        if (st == MOECL_OK && !s->interrupted && k + 1 < net->n_stages) {
            /* a resume after this point starts the next stage */
            run_state next = {.stage = k + 1, .best_val_loss = INFINITY, .metrics_bytes = rs.metrics_bytes};
            if (t.writer) st = save_state(o->out_dir, &t.pl, &next);
        }
    }
    if (st == MOECL_OK && !s->interrupted) {
        /* the whole model on the test set */
        st = model_set_stage(net, -1);
        net->tta = o->tta;
        if (st == MOECL_OK && t.writer) st = evaluate(net, &t.d.test, &t.d.norm, t.host, &s->test);
        net->tta = TTA_NONE;
        if (st == MOECL_OK) st = dist_broadcast_bytes(&s->test, sizeof s->test);
        s->best_epoch = s->stages[net->n_stages - 1].best_epoch;
        s->best_val_loss = s->stages[net->n_stages - 1].best_val_loss;
        s->best_val_accuracy = s->stages[net->n_stages - 1].best_val_accuracy;
    }
finished:
    if (st == MOECL_OK && !s->interrupted && t.writer) {
        run_result r;
        st = run_result_from_run(o->out_dir, s, &r);
        if (st == MOECL_OK) st = run_result_write(o->out_dir, &r);
        /* the whole run's, stages finished before a resume included */
        s->epochs_run = r.epochs;
        s->train_minutes = r.train_minutes;
    }
done:
    s->seconds = moecl_seconds() - t0;
    free(t.host), free(t.labels), free(t.pred), free(t.loss), free(t.idx);
    free_params(&t.pl);
    grad_exchange_free(&t.gx);
    free_data(&t.d);
    model_free(t.net);
    expert_devices_close(&placed); /* after the tensors on them */
    free(t.model_json);
    return st;
}
