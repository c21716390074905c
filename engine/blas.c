/* Matrix products through CLBlast (the GEMM path for GPUs; gemm_select.c
 * chooses between it and our kernels), with one temporary buffer per context
 * that grows to the largest need instead of CLBlast allocating one on every
 * call.
 *
 * moecl's matrices are row-major, but products are handed to CLBlast as
 * the column-major product of the transposes: C = op(A) op(B) row-major is
 * C^T = op(B)^T op(A)^T column-major over the same memory. CLBlast's GEMM
 * kernel wants C column-major, so a row-major call always sends C through a
 * transposing copy (in and out of its temporary buffer); the column-major
 * call writes C in place wherever its sizes fit the kernel's tiles. Either
 * way CLBlast copies A when it is not transposed and B when it is. When it
 * copies both (the weight gradients: a small C, a long K), the row-major
 * call measured faster (`moecl bench gemm`, conv2 dW 560 against 870 ms on
 * PoCL), so only those stay row-major; the forward products and the input
 * gradients measured 10-40% faster column-major. */
#include "internal.h"

#include <clblast_c.h>
#include <stdio.h>

const char *moecl_clblast_status_name(int status)
{
    switch ((CLBlastStatusCode)status) {
#define NAME(c) case c: return #c
    NAME(CLBlastNotImplemented);
    NAME(CLBlastInvalidMatrixA);
    NAME(CLBlastInvalidMatrixB);
    NAME(CLBlastInvalidMatrixC);
    NAME(CLBlastInvalidDimension);
    NAME(CLBlastInvalidLeadDimA);
    NAME(CLBlastInvalidLeadDimB);
    NAME(CLBlastInvalidLeadDimC);
    NAME(CLBlastInsufficientMemoryA);
    NAME(CLBlastInsufficientMemoryB);
    NAME(CLBlastInsufficientMemoryC);
    NAME(CLBlastInsufficientMemoryTemp);
    NAME(CLBlastInvalidBatchCount);
    NAME(CLBlastInvalidOverrideKernel);
    NAME(CLBlastMissingOverrideParameter);
    NAME(CLBlastInvalidLocalMemUsage);
    NAME(CLBlastNoHalfPrecision);
    NAME(CLBlastNoDoublePrecision);
    NAME(CLBlastDatabaseError);
    NAME(CLBlastUnknownError);
    NAME(CLBlastUnexpectedError);
#undef NAME
    default: return moecl_cl_error_name((cl_int)status); /* shares OpenCL's codes */
    }
}

static moecl_status blas_fail(moecl_ctx *ctx, CLBlastStatusCode code, const char *call,
                              const moecl_gemm_args *a)
{
    moecl_status st = (code == CLBlastTempBufferAllocFailure || code == CLBlastOpenCLOutOfResources ||
                       code == CLBlastOpenCLOutOfHostMemory)
                          ? MOECL_ERR_OUT_OF_MEMORY
                          : MOECL_ERR_BLAS;
    return moecl_fail(st, "%s (M=%zu N=%zu K=%zu%s%s) failed: %s (%d) on device %d '%s'", call,
                      a->m, a->n, a->k, a->trans_a ? ", A transposed" : "",
                      a->trans_b ? ", B transposed" : "", moecl_clblast_status_name(code), (int)code,
                      ctx->device.index, ctx->device.name);
}

static CLBlastTranspose trans(bool t) { return t ? CLBlastTransposeYes : CLBlastTransposeNo; }

/* The row-major product `a` as CLBlast gets it: as its column-major
 * transpose (A and B swap places, and M and N; the memory stays as it is),
 * except where CLBlast copies both operands anyway. */
static CLBlastLayout layout_for(const moecl_gemm_args *a)
{
    return a->trans_b && !a->trans_a ? CLBlastLayoutRowMajor : CLBlastLayoutColMajor;
}

static moecl_gemm_args as_layout(const moecl_gemm_args *a, CLBlastLayout layout)
{
    moecl_gemm_args t = *a;
    if (layout == CLBlastLayoutRowMajor) return t;
    t.trans_a = a->trans_b;
    t.trans_b = a->trans_a;
    t.m = a->n;
    t.n = a->m;
    t.a = a->b;
    t.a_offset = a->b_offset;
    t.lda = a->ldb;
    t.b = a->a;
    t.b_offset = a->a_offset;
    t.ldb = a->lda;
    return t;
}

static moecl_status ensure_temp(moecl_ctx *ctx, size_t bytes)
{
    if (bytes <= ctx->gemm_temp_bytes) return MOECL_OK;
    moecl_buffer_release(ctx, ctx->gemm_temp, ctx->gemm_temp_bytes);
    ctx->gemm_temp = NULL;
    ctx->gemm_temp_bytes = 0;
    MOECL_TRY(moecl_buffer_create(ctx, bytes, "CLBlast's temporary buffer", &ctx->gemm_temp));
    ctx->gemm_temp_bytes = bytes;
    return MOECL_OK;
}

static moecl_status gemm_single(moecl_ctx *ctx, const moecl_gemm_args *args)
{
    CLBlastLayout layout = layout_for(args);
    moecl_gemm_args t = as_layout(args, layout), *a = &t;
    size_t temp = 0;
    CLBlastStatusCode s = CLBlastSGemmTempBufferSize(
        layout, trans(a->trans_a), trans(a->trans_b), a->m, a->n, a->k,
        a->a_offset, a->lda, a->b_offset, a->ldb, a->c_offset, a->ldc, &ctx->queue, &temp);
    if (s != CLBlastSuccess) return blas_fail(ctx, s, "CLBlastSGemmTempBufferSize", args);
    /* CLBlast wants a valid buffer even when it needs no temporary space. */
    MOECL_TRY(ensure_temp(ctx, temp > 0 ? temp : 4));
    s = CLBlastSgemmWithTempBuffer(layout, trans(a->trans_a), trans(a->trans_b),
                                   a->m, a->n, a->k, a->alpha, a->a, a->a_offset, a->lda, a->b,
                                   a->b_offset, a->ldb, a->beta, a->c, a->c_offset, a->ldc,
                                   &ctx->queue, NULL, ctx->gemm_temp);
    if (s != CLBlastSuccess) return blas_fail(ctx, s, "CLBlastSgemm", args);
    return MOECL_OK;
}

moecl_status moecl_clblast_gemm(moecl_ctx *ctx, const moecl_gemm_args *args, size_t a_stride,
                                size_t b_stride, size_t c_stride, size_t batch_count)
{
    if (batch_count == 1) return gemm_single(ctx, args);
    CLBlastLayout layout = layout_for(args);
    moecl_gemm_args t = as_layout(args, layout), *a = &t;
    bool swapped = layout == CLBlastLayoutColMajor; /* then A's stride goes with B */
    CLBlastStatusCode s = CLBlastSgemmStridedBatched(
        layout, trans(a->trans_a), trans(a->trans_b), a->m, a->n, a->k, a->alpha, a->a,
        a->a_offset, a->lda, swapped ? b_stride : a_stride, a->b, a->b_offset, a->ldb,
        swapped ? a_stride : b_stride, a->beta, a->c,
        a->c_offset, a->ldc, c_stride, batch_count, &ctx->queue, NULL);
    if (s != CLBlastSuccess) return blas_fail(ctx, s, "CLBlastSgemmStridedBatched", args);
    return MOECL_OK;
}

size_t moecl_gemm_temp_bytes(const moecl_ctx *ctx) { return ctx->gemm_temp_bytes; }
