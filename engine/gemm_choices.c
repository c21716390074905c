/* The GEMM choices kept per device in the cache directory: a small text
 * file, one shape a line with the milliseconds each algorithm took
 *   moecl-gemm-choices-1
 *   device NAME | DRIVER | PLATFORM
 *   NN 64 16384 288 1 clblast=40.1 own6x16=9.6 own8x8=none ...
 * ("none": not applicable). Names this build does not know (another
 * version's parameter sets) are skipped; a line that does not parse makes
 * the whole file ignored with a warning naming it. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHOICES_FORMAT "moecl-gemm-choices-1"

void moecl_gemm_choices_path(const char *cache_dir, const moecl_device_info *dev, char *out,
                             size_t size)
{
    char hex[65];
    moecl_device_key(dev, hex);
    snprintf(out, size, "%s/gemm-choices-%.16s.txt", cache_dir, hex);
}

static void device_line(const moecl_device_info *dev, char *out, size_t size)
{
    snprintf(out, size, "device %s | %s | %s", dev->name, dev->driver_version, dev->platform_version);
}

static int algorithm_by_name(const moecl_ctx *ctx, const char *name)
{
    for (int i = 0; moecl_gemm_algorithm_name(ctx, i); i++)
        if (strcmp(moecl_gemm_algorithm_name(ctx, i), name) == 0) return i;
    return -1;
}

/* One shape line; false when it does not parse. */
static bool parse_line(moecl_ctx *ctx, char *line)
{
    char trans[3];
    unsigned long long m, n, k, batch;
    int used = 0;
    if (sscanf(line, "%2s %llu %llu %llu %llu%n", trans, &m, &n, &k, &batch, &used) != 5) return false;
    if (strlen(trans) != 2 || strspn(trans, "NT") != 2 || !m || !n || !k || !batch) return false;
    moecl_gemm_choice *c = moecl_gemm_choice_add(ctx, trans[0] == 'T', trans[1] == 'T', m, n, k, batch);
    if (!c) return false;
    for (char *tok = strtok(line + used, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
        char *eq = strchr(tok, '=');
        if (!eq) return false;
        *eq = '\0';
        double ms = INFINITY;
        if (strcmp(eq + 1, "none") != 0) {
            char *end = NULL;
            ms = strtod(eq + 1, &end);
            if (end == eq + 1 || *end || !isfinite(ms) || ms < 0) return false;
        }
        int alg = algorithm_by_name(ctx, tok);
        if (alg >= 0) c->ms[alg] = ms;
    }
    return true;
}

void moecl_gemm_choices_load(moecl_ctx *ctx)
{
    moecl_gemm_state *g = &ctx->gemm;
    g->choices_loaded = true;
    if (!g->choices_path[0]) return;
    FILE *f = fopen(g->choices_path, "r");
    if (!f) return; /* none yet */
    char line[1024], expected[600];
    device_line(&ctx->device, expected, sizeof expected);
    const char *problem = NULL;
    int number = 0;
    while (!problem && fgets(line, sizeof line, f)) {
        number++;
        line[strcspn(line, "\r\n")] = '\0';
        if (number == 1 && strcmp(line, CHOICES_FORMAT) != 0) problem = "not a moecl GEMM choice file of this version";
        else if (number == 2 && strcmp(line, expected) != 0) problem = "made for another device or driver";
        else if (number > 2 && line[0] && !parse_line(ctx, line)) problem = "a line that does not parse";
    }
    fclose(f);
    if (number < 2 && !problem) problem = "it is cut short";
    if (problem) {
        fprintf(stderr, "moecl: warning: ignored the GEMM choice file %s (line %d: %s); the shapes "
                        "are measured again and the file rewritten\n", g->choices_path, number, problem);
        g->choice_count = 0;
    }
}

void moecl_gemm_choices_save(moecl_ctx *ctx)
{
    moecl_gemm_state *g = &ctx->gemm;
    if (!g->choices_path[0]) return;
    size_t cap = 700 + (size_t)g->choice_count * (80 + 24 * MOECL_GEMM_ALGORITHMS), used = 0;
    char *text = malloc(cap);
    if (!text) return;
    char dev[600];
    device_line(&ctx->device, dev, sizeof dev);
    used += (size_t)snprintf(text + used, cap - used, "%s\n%s\n", CHOICES_FORMAT, dev);
    for (int i = 0; i < g->choice_count; i++) {
        const moecl_gemm_choice *c = &g->choices[i];
        used += (size_t)snprintf(text + used, cap - used, "%c%c %zu %zu %zu %zu", c->trans_a ? 'T' : 'N',
                                 c->trans_b ? 'T' : 'N', c->m, c->n, c->k, c->batch);
        for (int a = 0; moecl_gemm_algorithm_name(ctx, a); a++) {
            if (isnan(c->ms[a])) continue;
            if (isinf(c->ms[a]))
                used += (size_t)snprintf(text + used, cap - used, " %s=none", moecl_gemm_algorithm_name(ctx, a));
            else
                used += (size_t)snprintf(text + used, cap - used, " %s=%.4f", moecl_gemm_algorithm_name(ctx, a),
                                         c->ms[a]);
        }
        used += (size_t)snprintf(text + used, cap - used, "\n");
    }
    const void *parts[1] = {text};
    size_t sizes[1] = {used};
    if (moecl_write_file_atomic(g->choices_path, parts, sizes, 1) != MOECL_OK)
        fprintf(stderr, "moecl: warning: could not keep the GEMM choices: %s\n", moecl_last_error());
    free(text);
}
