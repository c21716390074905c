/* Choosing between algorithms by measurement, and keeping the choices.
 *
 * A product or a layer's pass that can run several ways asks
 * moecl_choose_by_timing() with a key naming its shape: the first time a
 * key is seen, each candidate runs once untimed (which also waits for the
 * work queued before, and builds what is built on first use), then is timed
 * a few times; the fastest wins, as cuDNN's benchmark mode and DeepCL's
 * ForwardAuto do. The times are kept in the cache directory, one file per
 * device, driver and platform (choices-KEY.txt), so that the next run
 * starts without measuring:
 *   moecl-choices-2
 *   device NAME | DRIVER | PLATFORM | kernels HASH
 *   gemm NN 64 131072 512 1 | clblast=40.1 own6x16=9.6 own8x8=none
 *   conv forward 3x32x32 32 3x3 s1x1 p1x1 n128 | clblast=.. own6x16=.. own6x16-direct=..
 * ("none": not applicable; "skip": not timed, see far_behind; a way that
 * did not fit beside the run's buffers is not kept, so that a run with more
 * room times it). Names this
 * build does not know (another
 * version's parameter sets) are skipped; a line that does not parse makes
 * the whole file ignored with a warning naming it (and it is rewritten at
 * the next choice). */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHOICES_FORMAT "moecl-choices-2"
/* A time that stands for "not timed: it was far behind on the shapes before" */
#define SKIPPED (-1.0)
/* A time that stands for "did not fit beside this run's buffers": not kept
 * in the file, since the next run may have more room (a smaller batch, or a
 * CPU driver that reports more of the host's free memory) */
#define NO_ROOM (-2.0)
/* The library candidate (CLBlast) is no longer timed on a device where it
 * took at least FAR_RATIO times the best on each of at least FAR_SHAPES
 * shapes and won none: on CPUs its GPU-shaped kernels lose everywhere, and
 * timing it was 40% of a cold start (a GPU, where it wins, keeps timing it). */
#define FAR_RATIO 3.0
#define FAR_SHAPES 4

void moecl_choices_path(const char *cache_dir, const moecl_device_info *dev, char *out, size_t size)
{
    char hex[65];
    moecl_device_key(dev, hex);
    snprintf(out, size, "%s/choices-%.16s.txt", cache_dir, hex);
}

/* The device line also names the kernels' version (a hash of cl/gemm and
 * cl/conv.cl as embedded): times measured with other kernels, or ways that
 * were not applicable to them, must not decide for these. */
void moecl_choices_device_line(const moecl_device_info *dev, char *out, size_t size)
{
    static char hex[65]; /* the kernels' hash, the same for the whole process */
    if (!hex[0]) {
        moecl_sha256 h;
        unsigned char digest[32];
        moecl_sha256_init(&h);
        for (int i = 0; i < moecl_embedded_gemm_sources_count; i++)
            moecl_sha256_update(&h, moecl_embedded_gemm_sources[i].source,
                                moecl_embedded_gemm_sources[i].size);
        for (int i = 0; i < moecl_embedded_sources_count; i++)
            if (strcmp(moecl_embedded_sources[i].name, "conv") == 0 ||
                strcmp(moecl_embedded_sources[i].name, "winograd") == 0)
                moecl_sha256_update(&h, moecl_embedded_sources[i].source, moecl_embedded_sources[i].size);
        moecl_sha256_final(&h, digest);
        moecl_sha256_hex(digest, hex);
    }
    snprintf(out, size, "device %s | %s | %s | kernels %.16s", dev->name, dev->driver_version,
             dev->platform_version, hex);
}

static moecl_choice *find(moecl_ctx *ctx, const char *key)
{
    for (int i = 0; i < ctx->choices.count; i++)
        if (strcmp(ctx->choices.list[i].key, key) == 0) return &ctx->choices.list[i];
    return NULL;
}

static moecl_choice *add(moecl_ctx *ctx, const char *key)
{
    moecl_choices *t = &ctx->choices;
    if (t->count == t->capacity) {
        int cap = t->capacity ? 2 * t->capacity : 32;
        moecl_choice *grown = realloc(t->list, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        t->list = grown;
        t->capacity = cap;
    }
    moecl_choice *c = &t->list[t->count++];
    memset(c, 0, sizeof *c);
    snprintf(c->key, sizeof c->key, "%.111s", key);
    return c;
}

/* The time of `name` in a choice; NaN when not measured. */
static double *slot(moecl_choice *c, const char *name, bool create)
{
    for (int i = 0; i < c->count; i++)
        if (strcmp(c->names[i], name) == 0) return &c->ms[i];
    if (!create || c->count == MOECL_CHOICE_MAX) return NULL;
    snprintf(c->names[c->count], sizeof c->names[0], "%s", name);
    c->ms[c->count] = NAN;
    return &c->ms[c->count++];
}

/* "key | a=1.5 b=none"; false when it does not parse. */
static bool parse_line(moecl_ctx *ctx, char *line)
{
    size_t len = strlen(line);
    if (len >= 2 && strcmp(line + len - 2, " |") == 0) return true; /* nothing measured: skipped */
    char *bar = strstr(line, " | ");
    if (!bar || bar == line || (size_t)(bar - line) >= sizeof ctx->choices.list[0].key) return false;
    *bar = '\0';
    moecl_choice *c = find(ctx, line);
    if (!c) c = add(ctx, line);
    if (!c) return false;
    for (char *tok = strtok(bar + 3, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || eq - tok >= (long)sizeof c->names[0]) return false;
        *eq = '\0';
        double ms = INFINITY;
        if (strcmp(eq + 1, "skip") == 0) {
            ms = SKIPPED;
        } else if (strcmp(eq + 1, "none") != 0) {
            char *end = NULL;
            ms = strtod(eq + 1, &end);
            if (end == eq + 1 || *end || !isfinite(ms) || ms < 0) return false;
        }
        double *s = slot(c, tok, true);
        if (s) *s = ms;
    }
    return true;
}

void moecl_choices_load(moecl_ctx *ctx)
{
    moecl_choices *t = &ctx->choices;
    t->loaded = true;
    if (!t->path[0]) return;
    FILE *f = fopen(t->path, "r");
    if (!f) return; /* none yet */
    char line[1024], expected[600];
    moecl_choices_device_line(&ctx->device, expected, sizeof expected);
    const char *problem = NULL;
    int number = 0;
    while (!problem && fgets(line, sizeof line, f)) {
        number++;
        line[strcspn(line, "\r\n")] = '\0';
        if (number == 1 && strcmp(line, CHOICES_FORMAT) != 0) problem = "not a moecl choice file of this version";
        else if (number == 2 && strcmp(line, expected) != 0)
            problem = "made for another device, driver or version of the kernels";
        else if (number > 2 && line[0] && !parse_line(ctx, line)) problem = "a line that does not parse";
    }
    fclose(f);
    if (number < 2 && !problem) problem = "it is cut short";
    if (problem) {
        fprintf(stderr, "moecl: warning: ignored the choice file %s (line %d: %s); the shapes are "
                        "measured again and the file rewritten\n", t->path, number, problem);
        t->count = 0;
    }
}

static void save(moecl_ctx *ctx)
{
    moecl_choices *t = &ctx->choices;
    if (!t->path[0]) return;
    size_t cap = 700 + (size_t)t->count * (sizeof t->list[0].key + 40 * MOECL_CHOICE_MAX), used = 0;
    char *text = malloc(cap);
    if (!text) return;
    char dev[600];
    moecl_choices_device_line(&ctx->device, dev, sizeof dev);
    used += (size_t)snprintf(text + used, cap - used, "%s\n%s\n", CHOICES_FORMAT, dev);
    for (int i = 0; i < t->count; i++) {
        const moecl_choice *c = &t->list[i];
        int timed = 0;
        for (int a = 0; a < c->count; a++) timed += !isnan(c->ms[a]) && c->ms[a] != NO_ROOM;
        if (!timed) continue;
        used += (size_t)snprintf(text + used, cap - used, "%s |", c->key);
        for (int a = 0; a < c->count; a++) {
            if (isnan(c->ms[a]) || c->ms[a] == NO_ROOM) continue;
            if (c->ms[a] == SKIPPED)
                used += (size_t)snprintf(text + used, cap - used, " %s=skip", c->names[a]);
            else if (isinf(c->ms[a]))
                used += (size_t)snprintf(text + used, cap - used, " %s=none", c->names[a]);
            else
                used += (size_t)snprintf(text + used, cap - used, " %s=%.4f", c->names[a], c->ms[a]);
        }
        used += (size_t)snprintf(text + used, cap - used, "\n");
    }
    const void *parts[1] = {text};
    size_t sizes[1] = {used};
    if (moecl_write_file_atomic(t->path, parts, sizes, 1) != MOECL_OK)
        fprintf(stderr, "moecl: warning: could not keep the measured choices: %s\n", moecl_last_error());
    free(text);
}

/* Best of up to three timed runs, after an untimed one (which also builds
 * what is built on first use). A candidate whose first timed run took over
 * three times the best so far (on the shapes that matter, CLBlast on a
 * CPU) keeps that time and is not run again: it cannot win, and a cold
 * start should not wait for it. */
static moecl_status time_candidate(moecl_ctx *ctx, const moecl_candidates *cand, int i,
                                   double best_so_far, double *ms)
{
    MOECL_TRY(cand->run(ctx, i, cand->user));
    MOECL_TRY(moecl_queue_finish(ctx));
    double best = INFINITY, spent = 0;
    for (int rep = 0; rep < 3 && (rep == 0 || (spent < 0.25 && best * 1e3 <= 3 * best_so_far)); rep++) {
        double start = moecl_seconds();
        MOECL_TRY(cand->run(ctx, i, cand->user));
        MOECL_TRY(moecl_queue_finish(ctx));
        double s = moecl_seconds() - start;
        spent += s;
        if (s < best) best = s;
    }
    *ms = best * 1e3;
    return MOECL_OK;
}

/* Whether `name` was timed on at least FAR_SHAPES shapes of this device and
 * took FAR_RATIO times the best or more on every one. */
static bool far_behind(const moecl_ctx *ctx, const char *name)
{
    int timed = 0;
    for (int i = 0; i < ctx->choices.count; i++) {
        const moecl_choice *c = &ctx->choices.list[i];
        double mine = NAN, best = INFINITY;
        for (int a = 0; a < c->count; a++) {
            if (strcmp(c->names[a], name) == 0) mine = c->ms[a];
            else if (c->ms[a] >= 0 && c->ms[a] < best) best = c->ms[a];
        }
        if (!isfinite(mine) || mine < 0 || !isfinite(best)) continue;
        if (mine < FAR_RATIO * best) return false;
        timed++;
    }
    return timed >= FAR_SHAPES;
}

moecl_status moecl_choose_by_timing(moecl_ctx *ctx, const char *key, const moecl_candidates *cand,
                                    int *best)
{
    if (!ctx->choices.loaded) moecl_choices_load(ctx);
    int only = -1, eligible = 0; /* a single candidate needs no timing, and no entry */
    for (int i = 0; i < cand->count; i++)
        if (cand->wanted[i] && cand->applicable[i]) only = i, eligible++;
    if (eligible == 1) {
        *best = only;
        return MOECL_OK;
    }
    moecl_choice *c = find(ctx, key);
    if (!c) c = add(ctx, key);
    if (!c) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    char line[800];
    size_t used = (size_t)snprintf(line, sizeof line, "%s:", key);
    bool measured = false;
    double best_so_far = INFINITY;
    /* candidate 0 last (CLBlast in the GEMM and convolution choices: timed
     * after ours, it can stop early where it cannot win) */
    for (int o = 0; o < cand->count; o++) {
        int i = (o + 1) % cand->count;
        if (!cand->wanted[i]) continue;
        double *ms = slot(c, cand->names[i], true);
        if (!ms) return moecl_fail(MOECL_ERR_INVALID_ARG, "too many candidates for '%s'", key);
        /* kept "none" for a way that applies: an older moecl kept the ways
         * that did not fit as "none"; they are timed again */
        bool stale_none = isinf(*ms) && cand->applicable[i];
        if (!isnan(*ms) && !stale_none) {
            if (cand->applicable[i] && *ms >= 0 && *ms < best_so_far) best_so_far = *ms;
            continue;
        }
        if (!cand->applicable[i]) {
            *ms = INFINITY;
            continue;
        }
        if (i == 0 && isfinite(best_so_far) && far_behind(ctx, cand->names[i])) {
            *ms = SKIPPED;
            measured = true;
            if (used < sizeof line)
                used += (size_t)snprintf(line + used, sizeof line - used, " %s not timed (%gx the "
                                         "best or more on every shape before)", cand->names[i], FAR_RATIO);
            continue;
        }
        double took = NAN;
        moecl_status st = time_candidate(ctx, cand, i, best_so_far, &took);
        /* a way whose buffers do not fit the device does not apply here
         * (its failed growth left the others' buffers as they were) */
        if (st == MOECL_ERR_OUT_OF_MEMORY) {
            if (ctx->gemm.progress)
                fprintf(stderr, "moecl: %s skipped for %s: %s\n", cand->names[i], key, moecl_last_error());
            took = NO_ROOM;
        } else if (st != MOECL_OK) {
            return st;
        }
        /* a candidate may make choices of its own (a Winograd convolution
         * its GEMM's), which may move the list: find the entry again */
        c = find(ctx, key);
        ms = slot(c, cand->names[i], true);
        *ms = took;
        if (*ms >= 0 && *ms < best_so_far) best_so_far = *ms;
        measured = true;
        if (used < sizeof line && *ms == NO_ROOM)
            used += (size_t)snprintf(line + used, sizeof line - used, " %s no room", cand->names[i]);
        else if (used < sizeof line)
            used += (size_t)snprintf(line + used, sizeof line - used, " %s %.2f ms", cand->names[i], *ms);
    }
    if (measured) {
        if (ctx->gemm.progress) fprintf(stderr, "moecl: measured %s\n", line);
        save(ctx);
    }
    *best = -1;
    double best_ms = INFINITY;
    for (int i = 0; i < cand->count; i++) {
        if (!cand->wanted[i]) continue;
        double ms = *slot(c, cand->names[i], false);
        if (cand->applicable[i] && isfinite(ms) && ms >= 0 && (*best < 0 || ms < best_ms)) *best = i, best_ms = ms;
    }
    return MOECL_OK;
}

void moecl_choices_init(moecl_ctx *ctx)
{
    if (ctx->cache_dir[0])
        moecl_choices_path(ctx->cache_dir, &ctx->device, ctx->choices.path, sizeof ctx->choices.path);
}

void moecl_choices_release(moecl_ctx *ctx)
{
    free(ctx->choices.list);
    memset(&ctx->choices, 0, sizeof ctx->choices);
}
