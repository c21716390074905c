/* GEMM shaped for CPU-like devices (one work-item per register tile).
 *
 * CPU drivers such as PoCL run a work-group as a loop over its work-items,
 * so the kernels GPUs like (local-memory tiles, barriers, many work-items
 * per tile) lose most of the machine there. Here each work-item keeps an
 * MR x NR tile of C in registers (MR vectors of NR floats) and walks K over
 * panels packed so that both operands are read in order:
 *   A panel p: rows p*MR .. p*MR+MR-1 of op(A) as [K][MR] (rows past M are 0)
 *   B panel q: columns q*NR .. q*NR+NR-1 of op(B) as [K][NR] (columns past N are 0)
 * No local memory, no barriers. Built once per parameter set with
 * -DMR=<rows> -DNR=<4|8|16> (NR a multiple of the native vector width).
 *
 * Every operand is read through a row and a column stride, so one packing
 * kernel serves every transposition; a third dimension runs the batch of a
 * strided-batched product. */
#ifndef MR
#define MR 6
#endif
#ifndef NR
#define NR 16
#endif

#define GLUE_(a, b) a##b
#define GLUE(a, b) GLUE_(a, b)
#define VEC GLUE(float, NR)
#define VLOAD GLUE(vload, NR)
#define VSTORE GLUE(vstore, NR)

/* 3-D: (k, panel, batch). Element (i, k) of op(A) is at a[i*rs + k*cs]. */
__kernel void gemm_pack_a(__global const float *a, const int offset, const int batch_stride,
                          const int rs, const int cs, const int M, const int K,
                          __global float *packed)
{
    const int k = get_global_id(0), p = get_global_id(1), b = get_global_id(2);
    if (k >= K) return;
    const int panels = (M + MR - 1) / MR;
    __global const float *src = a + offset + (size_t)b * batch_stride + (size_t)k * cs;
    __global float *dst = packed + (((size_t)b * panels + p) * K + k) * MR;
    for (int r = 0; r < MR; r++) {
        const int i = p * MR + r;
        dst[r] = i < M ? src[(size_t)i * rs] : 0.0f;
    }
}

/* 3-D: (k, panel, batch). Element (k, j) of op(B) is at b[k*rs + j*cs]. */
__kernel void gemm_pack_b(__global const float *b, const int offset, const int batch_stride,
                          const int rs, const int cs, const int N, const int K,
                          __global float *packed)
{
    const int k = get_global_id(0), q = get_global_id(1), bt = get_global_id(2);
    if (k >= K) return;
    const int panels = (N + NR - 1) / NR;
    __global const float *src = b + offset + (size_t)bt * batch_stride + (size_t)k * rs;
    __global float *dst = packed + (((size_t)bt * panels + q) * K + k) * NR;
    const int j0 = q * NR;
    if (cs == 1 && j0 + NR <= N) {
        VSTORE(VLOAD(0, src + j0), 0, dst);
        return;
    }
    for (int c = 0; c < NR; c++) {
        const int j = j0 + c;
        dst[c] = j < N ? src[(size_t)j * cs] : 0.0f;
    }
}

/* 3-D: (A panel, B panel, batch). C = alpha * tile + beta * C (C is not
 * read when beta is 0, as BLAS does, so it may hold anything). */
__kernel void gemm_packed(__global const float *pa, __global const float *pb,
                          __global float *c, const int offset, const int batch_stride,
                          const int ldc, const int M, const int N, const int K,
                          const float alpha, const float beta)
{
    const int p = get_global_id(0), q = get_global_id(1), bt = get_global_id(2);
    const int a_panels = (M + MR - 1) / MR, b_panels = (N + NR - 1) / NR;
    if (p >= a_panels || q >= b_panels) return;
    __global const float *A = pa + ((size_t)bt * a_panels + p) * K * MR;
    __global const float *B = pb + ((size_t)bt * b_panels + q) * K * NR;
    VEC acc[MR];
    for (int r = 0; r < MR; r++) acc[r] = (VEC)(0.0f);
    for (int k = 0; k < K; k++) {
        const VEC bk = VLOAD(0, B + (size_t)k * NR);
#pragma unroll
        for (int r = 0; r < MR; r++) acc[r] = fma((VEC)(A[(size_t)k * MR + r]), bk, acc[r]);
    }
    const int i0 = p * MR, j0 = q * NR;
    __global float *C = c + offset + (size_t)bt * batch_stride;
    for (int r = 0; r < MR && i0 + r < M; r++) {
        __global float *row = C + (size_t)(i0 + r) * ldc + j0;
        VEC v = alpha * acc[r];
        if (j0 + NR <= N) {
            if (beta != 0.0f) v += beta * VLOAD(0, row);
            VSTORE(v, 0, row);
        } else {
            float tmp[NR];
            VSTORE(v, 0, tmp);
            for (int j = 0; j < N - j0; j++)
                row[j] = beta != 0.0f ? tmp[j] + beta * row[j] : tmp[j];
        }
    }
}
