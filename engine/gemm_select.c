/* Which GEMM runs a product. Under "auto" every new shape (transpositions,
 * M, N, K, batch, each rounded up to a power of two) is timed once on the
 * device with each applicable algorithm, CLBlast's and our packed kernels'
 * parameter sets, and the fastest runs it from then on (choice.c keeps the
 * times in the cache directory). */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int algorithm_count(const moecl_ctx *ctx) { return 1 + ctx->gemm.variant_count; }

const char *moecl_gemm_algorithm_name(const moecl_ctx *ctx, int algorithm)
{
    if (algorithm == 0) return "clblast";
    if (algorithm > 0 && algorithm <= ctx->gemm.variant_count)
        return ctx->gemm.variants[algorithm - 1].name;
    return NULL;
}

/* A name, or "own1".."ownN": the device's i-th parameter set whatever its
 * tile (so that tests and scripts force the same slot on any device). */
static int algorithm_by_name(const moecl_ctx *ctx, const char *name)
{
    for (int i = 0; i < algorithm_count(ctx); i++)
        if (strcmp(moecl_gemm_algorithm_name(ctx, i), name) == 0) return i;
    if (strncmp(name, "own", 3) == 0 && name[3] >= '1' && name[3] <= '9' && !name[4] &&
        name[3] - '0' <= ctx->gemm.variant_count)
        return name[3] - '0';
    return -1;
}

moecl_status moecl_ctx_set_gemm(moecl_ctx *ctx, const char *spec)
{
    if (!spec || !*spec) spec = "auto";
    if (strcmp(spec, "auto") != 0 && strcmp(spec, "own") != 0 && algorithm_by_name(ctx, spec) < 0) {
        char known[240] = "auto, clblast, own, own1..own4 (by slot)";
        for (int i = 1; i < algorithm_count(ctx); i++) {
            size_t used = strlen(known);
            snprintf(known + used, sizeof known - used, ", %s", moecl_gemm_algorithm_name(ctx, i));
        }
        return moecl_fail(MOECL_ERR_INVALID_ARG, "unknown GEMM path '%s' (known on device %d: %s)",
                          spec, ctx->device.index, known);
    }
    snprintf(ctx->gemm.spec, sizeof ctx->gemm.spec, "%s", spec);
    return MOECL_OK;
}

const char *moecl_ctx_gemm(const moecl_ctx *ctx) { return ctx->gemm.spec; }

/* ---- checks -------------------------------------------------------------- */

static size_t buffer_floats(cl_mem m)
{
    size_t bytes = 0;
    if (clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) != CL_SUCCESS) return 0;
    return bytes / sizeof(float);
}

/* The last element a row-major operand of rows x cols with leading
 * dimension ld touches, plus one; 0 when ld is shorter than a row. */
static size_t extent(size_t offset, size_t stride, size_t batch, size_t rows, size_t cols, size_t ld)
{
    if (ld < cols) return 0;
    return offset + (batch - 1) * stride + (rows - 1) * ld + cols;
}

static moecl_status check_operand(const char *name, cl_mem m, size_t need, size_t ld, size_t row)
{
    if (need == 0)
        return moecl_fail(MOECL_ERR_BLAS, "GEMM: leading dimension of %s (%zu) is shorter than its rows (%zu)",
                          name, ld, row);
    size_t have = m ? buffer_floats(m) : 0;
    if (have < need)
        return moecl_fail(MOECL_ERR_BLAS, "GEMM: matrix %s needs %zu floats, its buffer holds %zu", name,
                          need, have);
    return MOECL_OK;
}

static moecl_status check_args(const moecl_gemm_args *a, size_t sa, size_t sb, size_t sc, size_t batch)
{
    if (a->m == 0 || a->n == 0 || a->k == 0)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "GEMM with an empty dimension (M=%zu N=%zu K=%zu)",
                          a->m, a->n, a->k);
    if (batch == 0)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "strided-batched GEMM with a batch count of 0");
    size_t ar = a->trans_a ? a->k : a->m, ac = a->trans_a ? a->m : a->k;
    size_t br = a->trans_b ? a->n : a->k, bc = a->trans_b ? a->k : a->n;
    MOECL_TRY(check_operand("A", a->a, extent(a->a_offset, sa, batch, ar, ac, a->lda), a->lda, ac));
    MOECL_TRY(check_operand("B", a->b, extent(a->b_offset, sb, batch, br, bc, a->ldb), a->ldb, bc));
    return check_operand("C", a->c, extent(a->c_offset, sc, batch, a->m, a->n, a->ldc), a->ldc, a->n);
}

/* ---- measuring ------------------------------------------------------------ */

static moecl_status run_algorithm(moecl_ctx *ctx, int alg, const moecl_gemm_args *a, size_t sa,
                                  size_t sb, size_t sc, size_t batch)
{
    if (alg == 0) {
        MOECL_TRY(moecl_profile_bracket_begin(ctx));
        MOECL_TRY(moecl_clblast_gemm(ctx, a, sa, sb, sc, batch));
        return moecl_profile_bracket_end(ctx, "clblast gemm");
    }
    return moecl_own_gemm(ctx, alg - 1, a, sa, sb, sc, batch);
}

static bool applicable(const moecl_ctx *ctx, int alg, const moecl_gemm_args *a, size_t sa, size_t sb,
                       size_t sc, size_t batch)
{
    return alg == 0 || moecl_own_gemm_fits(ctx, alg - 1, a, sa, sb, sc, batch);
}

/* Whether the current path picks among algorithm alg. */
static bool candidate(const moecl_ctx *ctx, int alg)
{
    const char *spec = ctx->gemm.spec;
    if (strcmp(spec, "auto") == 0) return true;
    if (strcmp(spec, "own") == 0) return alg > 0;
    return algorithm_by_name(ctx, spec) == alg;
}

/* ---- choosing ------------------------------------------------------------ */

/* Shapes share a choice when each size rounds up to the same power of two:
 * routed experts (switch, top-k) see a different number of images every
 * step, and measuring each count anew would cost more than it saves. */
static size_t bucket(size_t v)
{
    size_t b = 1;
    while (b < v) b <<= 1;
    return b;
}

/* A timing run writes a scratch C, made on the first run, where it must
 * leave the real C alone: with beta != 0 (a timing run would change it) or
 * a C in A's or B's buffer. With beta == 0 the real C is written as the
 * real run writes it: a large product's scratch C is what would not fit
 * beside a large model's buffers, and without it the timing fails. */
typedef struct timing {
    const moecl_gemm_args *a;
    size_t sa, sb, sc, batch;
    cl_mem scratch;
    size_t scratch_bytes;
} timing;

static moecl_status timing_run(moecl_ctx *ctx, int alg, void *user)
{
    timing *t = user;
    if (t->a->beta == 0.0f && t->a->c != t->a->a && t->a->c != t->a->b)
        return run_algorithm(ctx, alg, t->a, t->sa, t->sb, t->sc, t->batch);
    if (!t->scratch) {
        size_t floats = extent(t->a->c_offset, t->sc, t->batch, t->a->m, t->a->n, t->a->ldc);
        MOECL_TRY(moecl_buffer_create(ctx, floats * sizeof(float), "the GEMM timing's output",
                                      &t->scratch));
        t->scratch_bytes = floats * sizeof(float);
        float zero = 0.0f;
        MOECL_CL_CHECK(&ctx->device, clEnqueueFillBuffer(ctx->queue, t->scratch, &zero, sizeof zero, 0,
                                                         floats * sizeof(float), 0, NULL, NULL));
    }
    moecl_gemm_args g = *t->a;
    g.c = t->scratch;
    return run_algorithm(ctx, alg, &g, t->sa, t->sb, t->sc, t->batch);
}

static moecl_status choose(moecl_ctx *ctx, const moecl_gemm_args *a, size_t sa, size_t sb, size_t sc,
                           size_t batch, int *out)
{
    const char *spec = ctx->gemm.spec;
    bool picks = strcmp(spec, "auto") == 0 || strcmp(spec, "own") == 0;
    if (!picks) {
        int alg = algorithm_by_name(ctx, spec);
        if (!applicable(ctx, alg, a, sa, sb, sc, batch))
            return moecl_fail(MOECL_ERR_INVALID_ARG,
                              "GEMM M=%zu N=%zu K=%zu (batch %zu) does not fit %s (its packed panels "
                              "exceed the device's largest allocation, or a size exceeds 2^31): use "
                              "--gemm auto", a->m, a->n, a->k, batch, spec);
        *out = alg;
        return MOECL_OK;
    }
    timing t = {a, sa, sb, sc, batch, NULL, 0};
    moecl_candidates cand = {.count = algorithm_count(ctx), .run = timing_run, .user = &t};
    for (int alg = 0; alg < cand.count; alg++) {
        cand.names[alg] = moecl_gemm_algorithm_name(ctx, alg);
        cand.wanted[alg] = candidate(ctx, alg);
        cand.applicable[alg] = applicable(ctx, alg, a, sa, sb, sc, batch);
    }
    char key[112];
    snprintf(key, sizeof key, "gemm %c%c %zu %zu %zu %zu", a->trans_a ? 'T' : 'N', a->trans_b ? 'T' : 'N',
             bucket(a->m), bucket(a->n), bucket(a->k), bucket(batch));
    int best = -1;
    moecl_status st = moecl_choose_by_timing(ctx, key, &cand, &best);
    moecl_buffer_release(ctx, t.scratch, t.scratch_bytes);
    MOECL_TRY(st);
    *out = best >= 0 ? best : 0; /* none of ours fits: CLBlast */
    return MOECL_OK;
}

int moecl_gemm_choose(moecl_ctx *ctx, const moecl_gemm_args *args, size_t a_stride,
                      size_t b_stride, size_t c_stride, size_t batch_count)
{
    int alg = -1;
    if (check_args(args, a_stride, b_stride, c_stride, batch_count) != MOECL_OK ||
        choose(ctx, args, a_stride, b_stride, c_stride, batch_count, &alg) != MOECL_OK)
        return -1;
    return alg;
}

moecl_status moecl_gemm_strided_batched(moecl_ctx *ctx, const moecl_gemm_args *args,
                                        size_t a_stride, size_t b_stride, size_t c_stride,
                                        size_t batch_count)
{
    MOECL_TRY(check_args(args, a_stride, b_stride, c_stride, batch_count));
    int alg = 0;
    MOECL_TRY(choose(ctx, args, a_stride, b_stride, c_stride, batch_count, &alg));
    return run_algorithm(ctx, alg, args, a_stride, b_stride, c_stride, batch_count);
}

moecl_status moecl_gemm(moecl_ctx *ctx, const moecl_gemm_args *args)
{
    return moecl_gemm_strided_batched(ctx, args, 0, 0, 0, 1);
}

/* The products' state at start-up: our parameter sets, the convolution
 * way (MOECL_CONV), the measured choices, the path asked for. */
moecl_status moecl_gemm_state_init(moecl_ctx *ctx, const char *spec, bool progress)
{
    moecl_own_variants_choose(ctx);
    ctx->gemm.progress = progress;
    const char *conv = getenv("MOECL_CONV");
    snprintf(ctx->gemm.conv, sizeof ctx->gemm.conv, "%s", conv && *conv ? conv : "auto");
    const char *convs[] = {"auto", "direct", "im2col", "winograd", "winograd2", "winograd4"};
    bool known = false;
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) known |= strcmp(ctx->gemm.conv, convs[i]) == 0;
    if (!known)
        return moecl_fail(MOECL_ERR_INVALID_ARG,
                          "MOECL_CONV is '%s': auto, direct, im2col, winograd, winograd2 or winograd4", conv);
    moecl_choices_init(ctx);
    return moecl_ctx_set_gemm(ctx, spec);
}
