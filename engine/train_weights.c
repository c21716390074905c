/* Parameters, checkpoints and starting from one (see train_weights.h). */
#include "train_weights.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- parameters and checkpoints ---------------------------------------- */

/* The parameters of the layers that learn in the model's active stage. */
void select_active(param_list *pl)
{
    pl->n_active = 0;
    for (int i = 0; i < pl->count; i++)
        if (!pl->e[i].owner->frozen) pl->active[pl->n_active++] = pl->p[i];
}

int select_busy(param_list *pl, const bool *idle_part)
{
    int n = 0;
    for (int i = 0; i < pl->count; i++)
        if (!pl->e[i].owner->frozen && !idle_part[pl->e[i].part]) pl->step[n++] = pl->p[i];
    return n;
}

moecl_status collect_params(model *m, param_list *pl)
{
    MOECL_TRY(model_params(m, &pl->e, &pl->count));
    pl->p = calloc((size_t)(pl->count ? pl->count : 1), sizeof *pl->p);
    pl->active = calloc((size_t)(pl->count ? pl->count : 1), sizeof *pl->active);
    pl->step = calloc((size_t)(pl->count ? pl->count : 1), sizeof *pl->step);
    if (!pl->p || !pl->active || !pl->step) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < pl->count; i++) pl->p[i] = pl->e[i].param;
    select_active(pl);
    return MOECL_OK;
}

void free_params(param_list *pl)
{
    free(pl->e);
    free(pl->p);
    free(pl->active);
    free(pl->step);
    for (int i = 0; pl->ema && i < pl->count; i++) moecl_tensor_destroy(pl->ema[i]);
    free(pl->ema);
}

/* Weights (and running statistics) as st_tensor entries. */
static st_tensor *weight_entries(const param_list *pl)
{
    st_tensor *e = calloc((size_t)(pl->count ? pl->count : 1), sizeof *e);
    for (int i = 0; e && i < pl->count; i++) {
        snprintf(e[i].name, sizeof e[i].name, "%s", pl->e[i].name);
        e[i].tensor = pl->p[i]->value;
    }
    return e;
}

/* Optimiser state: "<param>.slot0", "<param>.slot1" for trainable params,
 * "<param>.ema" with --ema. */
st_tensor *state_entries(const param_list *pl, int *count)
{
    st_tensor *e = calloc((size_t)(3 * pl->count + 1), sizeof *e);
    *count = 0;
    for (int i = 0; e && i < pl->count; i++) {
        for (int s = 0; s < 2; s++)
            if (pl->p[i]->slot[s]) {
                snprintf(e[*count].name, sizeof e->name, "%s.slot%d", pl->e[i].name, s);
                e[*count].tensor = pl->p[i]->slot[s];
                (*count)++;
            }
        if (pl->ema && pl->ema[i]) {
            snprintf(e[*count].name, sizeof e->name, "%s.ema", pl->e[i].name);
            e[*count].tensor = pl->ema[i];
            (*count)++;
        }
    }
    return e;
}

moecl_status ema_start(param_list *pl)
{
    pl->ema = calloc((size_t)(pl->count ? pl->count : 1), sizeof *pl->ema);
    if (!pl->ema) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < pl->count; i++) {
        moecl_param *p = pl->p[i];
        if (!p->grad) continue; /* running statistics: the weights' own */
        MOECL_TRY(moecl_tensor_create(p->value->ctx, p->ndim, p->shape, &pl->ema[i]));
    }
    return ema_reset(pl);
}

moecl_status ema_reset(param_list *pl)
{
    for (int i = 0; pl->ema && i < pl->count; i++)
        if (pl->ema[i]) MOECL_TRY(moecl_tensor_copy(pl->p[i]->value, pl->ema[i], pl->ema[i]->count));
    return MOECL_OK;
}

moecl_status ema_update(param_list *pl, float decay)
{
    for (int i = 0; pl->ema && i < pl->count; i++) {
        moecl_tensor *a = pl->ema[i];
        if (!a || pl->e[i].owner->frozen) continue;
        MOECL_TRY(MOECL_LAUNCH_STREAM(a->ctx, "ema_update_f32", a->count, MOECL_ARG_MEM(a->buf),
                                      MOECL_ARG_MEM(pl->p[i]->value->buf), MOECL_ARG_FLOAT(decay),
                                      MOECL_ARG_INT(a->count)));
    }
    return MOECL_OK;
}

void ema_swap(param_list *pl)
{
    for (int i = 0; pl->ema && i < pl->count; i++) {
        if (!pl->ema[i]) continue;
        moecl_tensor *t = pl->p[i]->value;
        pl->p[i]->value = pl->ema[i];
        pl->ema[i] = t;
    }
}

moecl_status save_weights(const char *path, const param_list *pl, const char *model_json,
                          const normalizer *norm, int epoch)
{
    char normtext[160], epochtext[16];
    snprintf(normtext, sizeof normtext, "%.9g %.9g %.9g %.9g %.9g %.9g", norm->mean[0],
             norm->mean[1], norm->mean[2], norm->std[0], norm->std[1], norm->std[2]);
    snprintf(epochtext, sizeof epochtext, "%d", epoch);
    st_meta meta[] = {{"format", "moecl-checkpoint-1"},
                      {"model", model_json},
                      {"normalizer", normtext},
                      {"epoch", epochtext}};
    st_tensor *e = weight_entries(pl);
    if (!e) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    moecl_status st = safetensors_save(path, e, pl->count, meta, 4);
    free(e);
    return st;
}

moecl_status params_finite(const param_list *pl, bool *finite, char *name, size_t size)
{
    *finite = true;
    size_t most = 0;
    for (int i = 0; i < pl->count; i++)
        if (pl->p[i]->value->count > most) most = pl->p[i]->value->count;
    float *host = malloc((most ? most : 1) * sizeof *host);
    if (!host) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    moecl_status st = MOECL_OK;
    for (int i = 0; i < pl->count && st == MOECL_OK && *finite; i++) {
        const moecl_tensor *v = pl->p[i]->value;
        st = moecl_tensor_download(v, host, v->count);
        for (size_t j = 0; st == MOECL_OK && j < v->count; j++)
            if (!isfinite(host[j])) {
                *finite = false;
                snprintf(name, size, "%s", pl->e[i].name);
                break;
            }
    }
    free(host);
    return st;
}

moecl_status load_weights(const char *path, const param_list *pl)
{
    st_tensor *e = weight_entries(pl);
    if (!e) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    moecl_status st = safetensors_load(path, e, pl->count);
    free(e);
    return st;
}

static bool parse_normalizer(const char *text, normalizer *n)
{
    return sscanf(text, "%f %f %f %f %f %f", &n->mean[0], &n->mean[1], &n->mean[2], &n->std[0],
                  &n->std[1], &n->std[2]) == 6 &&
           n->std[0] > 0 && n->std[1] > 0 && n->std[2] > 0;
}

moecl_status checkpoint_open(moecl_ctx *ctx, const char *path, int batch, model **out,
                             normalizer *norm)
{
    *out = NULL;
    char *format = NULL, *model_json = NULL;
    MOECL_TRY(safetensors_meta(path, "format", &format));
    bool ours = strcmp(format, "moecl-checkpoint-1") == 0;
    free(format);
    if (!ours)
        return moecl_fail(MOECL_ERR_FORMAT, "'%s' is a safetensors file but not a moecl checkpoint "
                          "(no moecl-checkpoint-1 format in its metadata)", path);
    MOECL_TRY(safetensors_meta(path, "model", &model_json));
    moecl_status st = read_normalizer(path, norm);
    model *net = NULL;
    char origin[1200];
    snprintf(origin, sizeof origin, "%s (embedded model)", path);
    if (st == MOECL_OK) st = model_parse(model_json, origin, &net);
    if (st == MOECL_OK) st = model_setup(net, ctx, batch, 1);
    param_list pl = {0};
    if (st == MOECL_OK) st = collect_params(net, &pl);
    if (st == MOECL_OK) st = load_weights(path, &pl);
    free_params(&pl);
    free(model_json);
    if (st != MOECL_OK) {
        model_free(net);
        return st;
    }
    *out = net;
    return MOECL_OK;
}

/* ---- starting from a checkpoint (--weights, --start-stage) ------------- */

moecl_status find_stage(const model *m, const char *name, int *index)
{
    *index = 0;
    if (!name[0]) return MOECL_OK;
    if (m->n_stages == 0)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "--start-stage %s: model %s has no stages", name,
                          m->name);
    for (int k = 0; k < m->n_stages; k++)
        if (strcmp(m->stages[k].name, name) == 0) return *index = k, MOECL_OK;
    char names[512] = "";
    for (int k = 0; k < m->n_stages; k++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "",
                 m->stages[k].name);
    return moecl_fail(MOECL_ERR_INVALID_ARG, "--start-stage %s: model %s has no such stage (its "
                      "stages: %s)", name, m->name, names);
}

/* A run writes best.safetensors and last.safetensors into its directory:
 * starting from one of those in the same directory would overwrite it. */
moecl_status check_weights_outside(const char *weights, const char *out_dir)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", weights);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    struct stat a, b; /* the same directory, however the two paths spell it */
    if (stat(dir, &a) == 0 && stat(out_dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "--weights %s lies in the run directory %s, which "
                          "this run would overwrite: copy it elsewhere or choose another --out",
                          weights, out_dir);
    return MOECL_OK;
}

/* The checkpoint's normaliser: the parts it holds learned on images
 * normalised so (a resumed run keeps the one it started with). */
moecl_status read_normalizer(const char *path, normalizer *norm)
{
    char *text = NULL;
    MOECL_TRY(safetensors_meta(path, "normalizer", &text));
    bool ok = parse_normalizer(text, norm);
    free(text);
    return ok ? MOECL_OK : moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' has no or a corrupt "
                                      "normalizer in its metadata", path);
}

/* Loads --weights. A tensor of a part that no stage from `start` on trains
 * must be in the checkpoint with its shape: that part will not learn again.
 * With a start stage (`retrain`), the parts that stage and the later ones
 * train start fresh, as in a run from scratch; without, they are taken
 * where the checkpoint has them with their shape (a warm start) and keep
 * their fresh initialisation where not (a part redesigned since, or new). */
moecl_status start_from_weights(model *m, const param_list *pl, const char *path, int start,
                                       bool retrain, normalizer *norm, FILE *log)
{
    bool *required = calloc((size_t)pl->count + 1, sizeof *required);
    bool *loaded = calloc((size_t)pl->count + 1, sizeof *loaded);
    st_tensor *e = weight_entries(pl);
    moecl_status st = required && loaded && e ? MOECL_OK
                      : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < pl->count; i++) required[i] = true;
    int first = m->n_stages ? start : -1, last = m->n_stages ? m->n_stages - 1 : -1;
    for (int k = first; st == MOECL_OK && k <= last; k++) {
        st = model_set_stage(m, k);
        for (int i = 0; st == MOECL_OK && i < pl->count; i++)
            if (!pl->e[i].owner->frozen) required[i] = false;
    }
    int n = 0; /* the entries to look for, in e[0..n) */
    for (int i = 0; i < pl->count; i++)
        if (!retrain || required[i]) {
            st_tensor keep = e[i];
            required[n] = required[i], e[n++] = keep;
        }
    if (st == MOECL_OK) st = read_normalizer(path, norm);
    if (st == MOECL_OK) st = safetensors_load_matching(path, e, n, loaded);
    int n_loaded = 0;
    for (int i = 0; st == MOECL_OK && i < n; i++) {
        if (required[i] && !loaded[i])
            st = moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' does not hold tensor '%s' with the "
                            "model's shape, and no stage this run trains learns it", path, e[i].name);
        n_loaded += loaded[i];
    }
    if (st == MOECL_OK && n_loaded == 0 && n > 0)
        st = moecl_fail(MOECL_ERR_FORMAT, "checkpoint '%s' shares no tensor with model %s", path,
                        m->name);
    if (st == MOECL_OK && log)
        fprintf(log, "weights from %s: %d of the model's %d tensors%s\n", path, n_loaded, pl->count,
                n_loaded == pl->count ? "" : retrain ? "; the parts this run trains start fresh"
                                                     : "; the others start fresh (not in it with "
                                                       "the model's shape)");
    free(required), free(loaded), free(e);
    return st;
}
