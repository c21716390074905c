/* Our GEMM: operands packed into panels, then one work-item per MR x NR
 * register tile (cl/gemm/gemm_packed.cl). Each parameter set is its own
 * program, built through the kernel cache the first time it is used. */
#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Build options as for the embedded programs (no fast relaxed math:
 * training must see NaN and infinity). */
static const char GEMM_BUILD_OPTIONS[] = "-cl-std=CL1.2 -cl-mad-enable";

static size_t panels(size_t n, int size) { return (n + (size_t)size - 1) / (size_t)size; }

static moecl_status variant_build(moecl_ctx *ctx, moecl_gemm_variant *v)
{
    if (v->program) return MOECL_OK;
    if (moecl_embedded_gemm_sources_count < 1)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "the GEMM kernels were not embedded");
    /* the files of cl/gemm, gemm_packed first (conv_direct uses its macros) */
    const char *order[] = {"gemm_packed", "conv_direct"};
    size_t total = 1;
    for (int i = 0; i < moecl_embedded_gemm_sources_count; i++) total += moecl_embedded_gemm_sources[i].size;
    char *source = malloc(total);
    if (!source) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    size_t at = 0;
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < moecl_embedded_gemm_sources_count; i++)
            if (strcmp(moecl_embedded_gemm_sources[i].name, order[o]) == 0) {
                memcpy(source + at, moecl_embedded_gemm_sources[i].source, moecl_embedded_gemm_sources[i].size);
                at += moecl_embedded_gemm_sources[i].size;
            }
    source[at] = '\0';
    char options[160];
    snprintf(options, sizeof options, "%s -DMR=%d -DNR=%d", GEMM_BUILD_OPTIONS, v->mr, v->nr);
    char name[64];
    snprintf(name, sizeof name, "gemm_packed (%s)", v->name);
    moecl_program_report report;
    moecl_status st = moecl_program_build(ctx, name, source, options, &v->program, &report);
    free(source);
    MOECL_TRY(st);
    cl_int e1 = CL_SUCCESS, e2 = CL_SUCCESS, e3 = CL_SUCCESS;
    v->pack_a = clCreateKernel(v->program, "gemm_pack_a", &e1);
    v->pack_b = clCreateKernel(v->program, "gemm_pack_b", &e2);
    v->tile = clCreateKernel(v->program, "gemm_packed", &e3);
    cl_int e4 = CL_SUCCESS, e5 = CL_SUCCESS;
    v->pack_b_im2col = clCreateKernel(v->program, "gemm_pack_b_im2col", &e4);
    v->pack_b_im2col_t = clCreateKernel(v->program, "gemm_pack_b_im2col_t", &e5);
    cl_int e6 = CL_SUCCESS, e7 = CL_SUCCESS, e8 = CL_SUCCESS;
    v->conv_forward = clCreateKernel(v->program, "conv_direct_forward", &e6);
    v->conv_pack_dy_t = clCreateKernel(v->program, "conv_pack_dy_t", &e7);
    v->conv_weight_grad = clCreateKernel(v->program, "conv_direct_weight_grad", &e8);
    cl_int errs[] = {e1, e2, e3, e4, e5, e6, e7, e8}, err = CL_SUCCESS;
    for (int i = 0; i < 8 && err == CL_SUCCESS; i++) err = errs[i];
    if (err != CL_SUCCESS) return moecl_cl_fail(err, "clCreateKernel (gemm_packed)", &ctx->device);
    return MOECL_OK;
}

static bool fits_int(size_t v) { return v <= (size_t)INT_MAX; }

/* Floats of the packed panels of one operand (all batches). */
static size_t packed_floats(size_t rows, int tile, size_t k, size_t batch)
{
    return panels(rows, tile) * (size_t)tile * k * batch;
}

bool moecl_own_gemm_fits(const moecl_ctx *ctx, int v, const moecl_gemm_args *a, size_t sa,
                         size_t sb, size_t sc, size_t batch)
{
    const moecl_gemm_variant *var = &ctx->gemm.variants[v];
    size_t pa = packed_floats(a->m, var->mr, a->k, batch) * sizeof(float);
    size_t pb = packed_floats(a->n, var->nr, a->k, batch) * sizeof(float);
    size_t last = batch - 1;
    return pa <= ctx->device.max_alloc_bytes && pb <= ctx->device.max_alloc_bytes &&
           fits_int(a->a_offset + last * sa) && fits_int(a->b_offset + last * sb) &&
           fits_int(a->c_offset + last * sc) && fits_int(sa) && fits_int(sb) && fits_int(sc) &&
           fits_int(a->lda) && fits_int(a->ldb) && fits_int(a->ldc) && fits_int(a->m) &&
           fits_int(a->n) && fits_int(a->k) && fits_int(batch);
}

static moecl_status ensure_packed(moecl_ctx *ctx, int slot, size_t floats)
{
    moecl_gemm_state *g = &ctx->gemm;
    size_t bytes = floats * sizeof(float);
    if (bytes <= g->packed_bytes[slot]) return MOECL_OK;
    moecl_buffer_release(ctx, g->packed[slot], g->packed_bytes[slot]);
    g->packed[slot] = NULL;
    g->packed_bytes[slot] = 0;
    MOECL_TRY(moecl_buffer_create(ctx, bytes, "the GEMM's packed panels", &g->packed[slot]));
    g->packed_bytes[slot] = bytes;
    return MOECL_OK;
}

static moecl_status set_args(moecl_ctx *ctx, cl_kernel k, const moecl_karg *args, int n)
{
    for (int i = 0; i < n; i++)
        MOECL_CL_CHECK(&ctx->device, clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value));
    return MOECL_OK;
}

/* The largest divisor of n not above cap (so the grid needs no padding). */
static size_t divisor_upto(size_t n, size_t cap)
{
    for (size_t d = cap < n ? cap : n; d > 1; d--)
        if (n % d == 0) return d;
    return 1;
}

/* l1 > 0: work-groups l1 deep in dimension 1, whose size is rounded up to
 * a multiple of it (the kernel skips the items past the end). */
static moecl_status enqueue_groups(moecl_ctx *ctx, const moecl_gemm_variant *v, cl_kernel k,
                                   const char *kernel, size_t g0, size_t g1, size_t g2, size_t l1)
{
    /* Small work-groups of neighbouring tiles: PoCL's own choice of
     * work-group for these grids measured 30% slower (1024^3: 95 against
     * 133-147 GFLOPS), its threads waiting on a few large groups. */
    size_t local[3] = {divisor_upto(g0, 16), l1 ? l1 : divisor_upto(g1, 16), 1};
    size_t global[3] = {g0, l1 ? (g1 + l1 - 1) / l1 * l1 : g1, g2};
    cl_event *ev = NULL;
    if (ctx->profile.recording) {
        char what[64];
        snprintf(what, sizeof what, "%s (%s)", kernel, v->name);
        ev = moecl_profile_event(ctx, what);
    }
    MOECL_CL_CHECK(&ctx->device,
                   clEnqueueNDRangeKernel(ctx->queue, k, 3, NULL, global, local, 0, NULL, ev));
    return MOECL_OK;
}

static moecl_status enqueue(moecl_ctx *ctx, const moecl_gemm_variant *v, cl_kernel k,
                            const char *kernel, size_t g0, size_t g1, size_t g2)
{
    return enqueue_groups(ctx, v, k, kernel, g0, g1, g2, 0);
}

static moecl_status run_kernel(moecl_ctx *ctx, const moecl_gemm_variant *v, cl_kernel k,
                               const char *name, const moecl_karg *args, int nargs, size_t g0,
                               size_t g1, size_t g2)
{
    MOECL_TRY(set_args(ctx, k, args, nargs));
    return enqueue(ctx, v, k, name, g0, g1, g2);
}

#define VIEW_ARGS(v)                                                                            \
    MOECL_ARG_INT((v).offset), MOECL_ARG_INT((v).batch_stride), MOECL_ARG_INT((v).rs),          \
        MOECL_ARG_INT((v).cs), MOECL_ARG_INT((v).group), MOECL_ARG_INT((v).gs)
#define CONV_ARGS(s)                                                                            \
    MOECL_ARG_INT((s).c), MOECL_ARG_INT((s).h), MOECL_ARG_INT((s).w), MOECL_ARG_INT((s).kh),    \
        MOECL_ARG_INT((s).kw), MOECL_ARG_INT((s).sh), MOECL_ARG_INT((s).sw),                    \
        MOECL_ARG_INT((s).ph), MOECL_ARG_INT((s).pw), MOECL_ARG_INT((s).oh), MOECL_ARG_INT((s).ow)
#define KARGS(...) (moecl_karg[]){__VA_ARGS__}, (int)(sizeof((moecl_karg[]){__VA_ARGS__}) / sizeof(moecl_karg))

size_t moecl_own_packed_bytes(const moecl_ctx *ctx, int v, size_t m, size_t n, size_t k, size_t batch)
{
    const moecl_gemm_variant *var = &ctx->gemm.variants[v];
    size_t a = packed_floats(m, var->mr, k, batch), b = packed_floats(n, var->nr, k, batch);
    return (a > b ? a : b) * sizeof(float);
}

moecl_status moecl_own_product(moecl_ctx *ctx, int v, const moecl_product *p)
{
    moecl_gemm_variant *var = &ctx->gemm.variants[v];
    MOECL_TRY(variant_build(ctx, var));
    bool split = p->kc > 0;
    size_t kc = split ? p->kc : p->k;
    size_t pm = panels(p->m, var->mr), pn = panels(p->n, var->nr);
    MOECL_TRY(ensure_packed(ctx, 0, packed_floats(p->m, var->mr, kc, p->batch)));
    MOECL_TRY(ensure_packed(ctx, 1, packed_floats(p->n, var->nr, kc, p->batch)));
    cl_mem pa = ctx->gemm.packed[0], pb = ctx->gemm.packed[1];
    MOECL_TRY(run_kernel(ctx, var, var->pack_a, "gemm_pack_a",
                         KARGS(MOECL_ARG_MEM(p->a.buf), VIEW_ARGS(p->a), MOECL_ARG_INT(p->m),
                               MOECL_ARG_INT(p->k), MOECL_ARG_INT(kc), MOECL_ARG_INT(split),
                               MOECL_ARG_MEM(pa)),
                         kc, pm, p->batch));
    if (p->b_source == MOECL_B_IM2COL)
        MOECL_TRY(run_kernel(ctx, var, var->pack_b_im2col, "gemm_pack_b_im2col",
                             KARGS(MOECL_ARG_MEM(p->b.buf), CONV_ARGS(p->conv), MOECL_ARG_INT(p->n),
                                   MOECL_ARG_MEM(pb)),
                             pn, (p->k + 15) / 16, 1));
    else if (p->b_source == MOECL_B_IM2COL_T)
        MOECL_TRY(run_kernel(ctx, var, var->pack_b_im2col_t, "gemm_pack_b_im2col_t",
                             KARGS(MOECL_ARG_MEM(p->b.buf), CONV_ARGS(p->conv), MOECL_ARG_INT(p->k),
                                   MOECL_ARG_INT(kc), MOECL_ARG_MEM(pb)),
                             (kc + 15) / 16, pn, p->batch));
    else
        MOECL_TRY(run_kernel(ctx, var, var->pack_b, "gemm_pack_b",
                             KARGS(MOECL_ARG_MEM(p->b.buf), VIEW_ARGS(p->b), MOECL_ARG_INT(p->n),
                                   MOECL_ARG_INT(p->k), MOECL_ARG_INT(kc), MOECL_ARG_INT(split),
                                   MOECL_ARG_MEM(pb)),
                             kc, pn, p->batch));
    cl_mem bias = p->bias ? p->bias : pa; /* a valid buffer the kernel does not read */
    return run_kernel(ctx, var, var->tile, "gemm_packed",
                      KARGS(MOECL_ARG_MEM(pa), MOECL_ARG_MEM(pb), MOECL_ARG_MEM(p->c.buf),
                            MOECL_ARG_INT(p->c.offset), MOECL_ARG_INT(p->c.batch_stride),
                            MOECL_ARG_INT(p->c.rs), MOECL_ARG_INT(p->c.group), MOECL_ARG_INT(p->c.gs),
                            MOECL_ARG_INT(p->m), MOECL_ARG_INT(p->n), MOECL_ARG_INT(p->k),
                            MOECL_ARG_INT(kc), MOECL_ARG_INT(split), MOECL_ARG_FLOAT(p->alpha),
                            MOECL_ARG_FLOAT(p->beta), MOECL_ARG_MEM(bias),
                            MOECL_ARG_INT(p->bias ? p->bias_mode : 0), MOECL_ARG_INT(p->relu)),
                      pm, pn, p->batch);
}

/* two whole rows a panel (conv_direct_forward's two_rows) */
static bool direct_two_rows(int nr, int oh, int ow) { return nr >= 8 && ow * 2 == nr && oh % 2 == 0; }

bool moecl_own_conv_direct_fits(const moecl_ctx *ctx, int v, int oh, int ow)
{
    int nr = ctx->gemm.variants[v].nr;
    /* a row shorter than half a panel would waste most of every vector */
    return direct_two_rows(nr, oh, ow) || ow * 2 >= nr;
}

int moecl_own_conv_direct_width(const moecl_ctx *ctx, int v, int oh, int ow, int kw)
{
    int nr = ctx->gemm.variants[v].nr;
    if (direct_two_rows(nr, oh, ow)) return ow + kw - 1;
    return (ow + nr - 1) / nr * nr + kw - 1; /* the last panel's loads stay inside */
}

moecl_status moecl_own_conv_forward(moecl_ctx *ctx, int v, cl_mem xp, int wp, cl_mem w, cl_mem bias,
                                    bool relu, cl_mem y, int filters, const moecl_conv_shape *s,
                                    int n)
{
    moecl_gemm_variant *var = &ctx->gemm.variants[v];
    MOECL_TRY(variant_build(ctx, var));
    size_t k = (size_t)s->c * s->kh * s->kw, pm = panels((size_t)filters, var->mr);
    MOECL_TRY(ensure_packed(ctx, 0, packed_floats((size_t)filters, var->mr, k, 1)));
    cl_mem pa = ctx->gemm.packed[0];
    moecl_view wv = {.buf = w, .rs = k, .cs = 1};
    MOECL_TRY(run_kernel(ctx, var, var->pack_a, "gemm_pack_a",
                         KARGS(MOECL_ARG_MEM(w), VIEW_ARGS(wv), MOECL_ARG_INT(filters), MOECL_ARG_INT(k),
                               MOECL_ARG_INT(k), MOECL_ARG_INT(0), MOECL_ARG_MEM(pa)),
                         k, pm, 1));
    size_t per_image = direct_two_rows(var->nr, s->oh, s->ow)
                           ? (size_t)s->oh * s->ow / var->nr
                           : (size_t)s->oh * ((s->ow + var->nr - 1) / var->nr);
    size_t row_panels = (size_t)n * per_image;
    cl_mem bias_or_any = bias ? bias : pa; /* a valid buffer the kernel does not read */
    MOECL_TRY(set_args(ctx, var->conv_forward,
                       KARGS(MOECL_ARG_MEM(xp), MOECL_ARG_MEM(pa), MOECL_ARG_MEM(y),
                             MOECL_ARG_MEM(bias_or_any), MOECL_ARG_INT(bias != NULL),
                             MOECL_ARG_INT(relu), MOECL_ARG_INT(s->c), MOECL_ARG_INT(filters),
                             MOECL_ARG_INT(s->kh), MOECL_ARG_INT(s->kw), MOECL_ARG_INT(s->oh),
                             MOECL_ARG_INT(s->ow), MOECL_ARG_INT(wp), MOECL_ARG_INT(n))));
    /* a group holds up to 16 filter panels of the same pixels: the input
     * rows they read stay in the cache while every filter passes over them
     * (groups along the pixels alone streamed the input once per panel:
     * 64 -> 256 filters on 15x15 measured slower than the column matrix) */
    return enqueue_groups(ctx, var, var->conv_forward, "conv_direct_forward", row_panels, pm, 1,
                          pm < 16 ? pm : 16);
}

moecl_status moecl_own_conv_weight_grad(moecl_ctx *ctx, int v, cl_mem xp, int wp, cl_mem dy, cl_mem part,
                                        int filters, const moecl_conv_shape *s, int n, size_t kc,
                                        size_t chunks)
{
    moecl_gemm_variant *var = &ctx->gemm.variants[v];
    MOECL_TRY(variant_build(ctx, var));
    size_t P = (size_t)s->oh * s->ow, K = (size_t)n * P, ckk = (size_t)s->c * s->kh * s->kw;
    size_t pn = panels((size_t)filters, var->nr);
    MOECL_TRY(ensure_packed(ctx, 1, packed_floats((size_t)filters, var->nr, kc, chunks)));
    cl_mem pb = ctx->gemm.packed[1];
    MOECL_TRY(run_kernel(ctx, var, var->conv_pack_dy_t, "conv_pack_dy_t",
                         KARGS(MOECL_ARG_MEM(dy), MOECL_ARG_INT(filters), MOECL_ARG_INT(P),
                               MOECL_ARG_INT(K), MOECL_ARG_INT(kc), MOECL_ARG_MEM(pb)),
                         kc, pn, chunks));
    return run_kernel(ctx, var, var->conv_weight_grad, "conv_direct_weight_grad",
                      KARGS(MOECL_ARG_MEM(xp), MOECL_ARG_MEM(pb), MOECL_ARG_MEM(part),
                            MOECL_ARG_INT(s->c), MOECL_ARG_INT(filters), MOECL_ARG_INT(s->kh),
                            MOECL_ARG_INT(s->kw), MOECL_ARG_INT(s->sh), MOECL_ARG_INT(s->sw),
                            MOECL_ARG_INT(s->oh), MOECL_ARG_INT(s->ow), MOECL_ARG_INT(wp),
                            MOECL_ARG_INT(K), MOECL_ARG_INT(kc)),
                      panels(ckk, var->mr), pn, chunks);
}

moecl_status moecl_own_gemm(moecl_ctx *ctx, int v, const moecl_gemm_args *a, size_t sa,
                            size_t sb, size_t sc, size_t batch)
{
    /* element (i, k) of op(A) and (k, j) of op(B), row-major storage */
    moecl_product p = {
        .m = a->m, .n = a->n, .k = a->k, .batch = batch, .alpha = a->alpha, .beta = a->beta,
        .a = {.buf = a->a, .offset = a->a_offset, .batch_stride = sa,
              .rs = a->trans_a ? 1 : a->lda, .cs = a->trans_a ? a->lda : 1},
        .b = {.buf = a->b, .offset = a->b_offset, .batch_stride = sb,
              .rs = a->trans_b ? 1 : a->ldb, .cs = a->trans_b ? a->ldb : 1},
        .c = {.buf = a->c, .offset = a->c_offset, .batch_stride = sc, .rs = a->ldc, .cs = 1},
    };
    return moecl_own_product(ctx, v, &p);
}

/* The parameter sets to try, from the device's native float vector width:
 * NR two native vectors (at most 16 floats, the widest OpenCL vector) and
 * a few tile heights, so that MR accumulators, the B vectors and a
 * broadcast fit the register file (16 vector registers with AVX2, 32 with
 * AVX-512). */
void moecl_own_variants_choose(moecl_ctx *ctx)
{
    moecl_gemm_state *g = &ctx->gemm;
    unsigned w = ctx->device.native_float_width;
    int nr = w >= 8 ? 16 : w >= 4 ? 8 : 4;
    int wide[][2] = {{14, 16}, {8, 16}, {6, 16}, {4, 16}};
    int avx2[][2] = {{6, 16}, {4, 16}, {8, 8}, {12, 8}};
    int narrow[][2] = {{6, 0}, {4, 0}, {8, 0}, {2, 0}};
    int (*set)[2] = w >= 16 ? wide : w >= 8 ? avx2 : narrow;
    g->variant_count = MOECL_GEMM_MAX_VARIANTS;
    for (int i = 0; i < g->variant_count; i++) {
        moecl_gemm_variant *v = &g->variants[i];
        v->mr = set[i][0];
        v->nr = set[i][1] ? set[i][1] : nr;
        snprintf(v->name, sizeof v->name, "own%dx%d", v->mr, v->nr);
    }
}

void moecl_gemm_state_release(moecl_gemm_state *g)
{
    for (int i = 0; i < g->variant_count; i++) {
        moecl_gemm_variant *v = &g->variants[i];
        if (v->pack_a) clReleaseKernel(v->pack_a);
        if (v->pack_b) clReleaseKernel(v->pack_b);
        if (v->tile) clReleaseKernel(v->tile);
        if (v->pack_b_im2col) clReleaseKernel(v->pack_b_im2col);
        if (v->pack_b_im2col_t) clReleaseKernel(v->pack_b_im2col_t);
        if (v->conv_forward) clReleaseKernel(v->conv_forward);
        if (v->conv_pack_dy_t) clReleaseKernel(v->conv_pack_dy_t);
        if (v->conv_weight_grad) clReleaseKernel(v->conv_weight_grad);
        if (v->program) clReleaseProgram(v->program);
    }
    for (int i = 0; i < 2; i++)
        if (g->packed[i]) clReleaseMemObject(g->packed[i]);
    memset(g, 0, sizeof *g);
}
