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
 * Matrices are read and written through views: element (r, c) lies at
 *   r * rs + (c / group) * gs + (c % group) * cs     (group 0: r * rs + c * cs)
 * so one packing kernel serves every transposition, and column groups let
 * an NCHW tensor be the [channels, batch * pixels] matrix of a convolution
 * (rs = P, group = P, gs = C * P, cs = 1) without a permute. Two more
 * packers build a convolution's B straight from the image (im2col written
 * in panel order). The third dimension is the batch: strided batches, or
 * chunks of a long K (split = 1: batch t covers K from t * kc) whose
 * partial products are summed afterwards. */
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

inline size_t view_at(int r, int c, int rs, int cs, int group, int gs)
{
    if (group) return (size_t)r * rs + (size_t)(c / group) * gs + (size_t)(c % group) * cs;
    return (size_t)r * rs + (size_t)c * cs;
}

/* The K range of batch t: [k0, k0 + kn). */
inline int chunk_start(int t, int kc, int split) { return split ? t * kc : 0; }
inline int chunk_length(int t, int K, int kc, int split) { return split ? min(kc, K - t * kc) : K; }

/* 3-D: (k, panel, batch). */
__kernel void gemm_pack_a(__global const float *a, const int offset, const int batch_stride,
                          const int rs, const int cs, const int group, const int gs,
                          const int M, const int K, const int kc, const int split,
                          __global float *packed)
{
    const int k = get_global_id(0), p = get_global_id(1), t = get_global_id(2);
    if (k >= chunk_length(t, K, kc, split)) return;
    const int panels = (M + MR - 1) / MR, kg = chunk_start(t, kc, split) + k;
    __global const float *src = a + offset + (size_t)t * batch_stride;
    __global float *dst = packed + (((size_t)t * panels + p) * kc + k) * MR;
    for (int r = 0; r < MR; r++) {
        const int i = p * MR + r;
        dst[r] = i < M ? src[view_at(i, kg, rs, cs, group, gs)] : 0.0f;
    }
}

/* 3-D: (k, panel, batch). */
__kernel void gemm_pack_b(__global const float *b, const int offset, const int batch_stride,
                          const int rs, const int cs, const int group, const int gs,
                          const int N, const int K, const int kc, const int split,
                          __global float *packed)
{
    const int k = get_global_id(0), q = get_global_id(1), t = get_global_id(2);
    if (k >= chunk_length(t, K, kc, split)) return;
    const int panels = (N + NR - 1) / NR, kg = chunk_start(t, kc, split) + k;
    __global const float *src = b + offset + (size_t)t * batch_stride;
    __global float *dst = packed + (((size_t)t * panels + q) * kc + k) * NR;
    const int j0 = q * NR;
    const bool one_group = !group || (j0 % group) + NR <= group;
    if (cs == 1 && j0 + NR <= N && one_group) {
        VSTORE(VLOAD(0, src + view_at(kg, j0, rs, cs, group, gs)), 0, dst);
        return;
    }
    for (int c = 0; c < NR; c++) {
        const int j = j0 + c;
        dst[c] = j < N ? src[view_at(kg, j, rs, cs, group, gs)] : 0.0f;
    }
}

/* A convolution's B: row (ch, i, j) of the kernel window, column (n, oh, ow)
 * of the batch's output pixels, read from the NCHW image x. 3-D: (k, panel, 1). */
__kernel void gemm_pack_b_im2col(__global const float *x, const int C, const int H, const int W,
                                 const int KH, const int KW, const int SH, const int SW,
                                 const int PH, const int PW, const int OH, const int OW,
                                 const int N, __global float *packed)
{
    const int k = get_global_id(0), q = get_global_id(1);
    const int K = C * KH * KW;
    if (k >= K) return;
    const int ch = k / (KH * KW), i = k / KW % KH, j = k % KW;
    __global float *dst = packed + ((size_t)q * K + k) * NR;
    int col = q * NR;
    int n = col / (OH * OW), oh = col / OW % OH, ow = col % OW;
    for (int c = 0; c < NR; c++, col++) {
        float v = 0.0f;
        if (col < N) {
            const int h = oh * SH - PH + i, w = ow * SW - PW + j;
            if (h >= 0 && h < H && w >= 0 && w < W) v = x[(((size_t)n * C + ch) * H + h) * W + w];
        }
        dst[c] = v;
        if (++ow == OW) {
            ow = 0;
            if (++oh == OH) oh = 0, n++;
        }
    }
}

/* The weight gradient's B, the transpose of the one above: row = output
 * pixel (n, oh, ow) (the long K, in chunks of kc per batch t), column =
 * window element (ch, i, j). 3-D: (k, panel, chunk). */
__kernel void gemm_pack_b_im2col_t(__global const float *x, const int C, const int H, const int W,
                                   const int KH, const int KW, const int SH, const int SW,
                                   const int PH, const int PW, const int OH, const int OW,
                                   const int K, const int kc, __global float *packed)
{
    const int k = get_global_id(0), q = get_global_id(1), t = get_global_id(2);
    if (k >= min(kc, K - t * kc)) return;
    const int N = C * KH * KW, panels = (N + NR - 1) / NR;
    const int pix = t * kc + k;
    const int n = pix / (OH * OW), oh = pix / OW % OH, ow = pix % OW;
    __global float *dst = packed + (((size_t)t * panels + q) * kc + k) * NR;
    int col = q * NR;
    int ch = col / (KH * KW), i = col / KW % KH, j = col % KW;
    for (int c = 0; c < NR; c++, col++) {
        float v = 0.0f;
        if (col < N) {
            const int h = oh * SH - PH + i, w = ow * SW - PW + j;
            if (h >= 0 && h < H && w >= 0 && w < W) v = x[(((size_t)n * C + ch) * H + h) * W + w];
        }
        dst[c] = v;
        if (++j == KW) {
            j = 0;
            if (++i == KH) i = 0, ch++;
        }
    }
}

/* 3-D: (A panel, B panel, batch). C = alpha * tile + beta * C (+ bias[row]
 * or bias[column] with bias_mode 1 or 2). C is not read when beta is 0, as
 * BLAS does, so it may hold anything. */
__kernel void gemm_packed(__global const float *pa, __global const float *pb, __global float *c,
                          const int offset, const int batch_stride, const int rs, const int group,
                          const int gs, const int M, const int N, const int K, const int kc,
                          const int split, const float alpha, const float beta,
                          __global const float *bias, const int bias_mode)
{
    const int p = get_global_id(0), q = get_global_id(1), t = get_global_id(2);
    const int a_panels = (M + MR - 1) / MR, b_panels = (N + NR - 1) / NR;
    if (p >= a_panels || q >= b_panels) return;
    const int kn = chunk_length(t, K, kc, split);
    __global const float *A = pa + ((size_t)t * a_panels + p) * kc * MR;
    __global const float *B = pb + ((size_t)t * b_panels + q) * kc * NR;
    VEC acc[MR];
    for (int r = 0; r < MR; r++) acc[r] = (VEC)(0.0f);
    for (int k = 0; k < kn; k++) {
        const VEC bk = VLOAD(0, B + (size_t)k * NR);
#pragma unroll
        for (int r = 0; r < MR; r++) acc[r] = fma((VEC)(A[(size_t)k * MR + r]), bk, acc[r]);
    }
    const int i0 = p * MR, j0 = q * NR;
    __global float *C = c + offset + (size_t)t * batch_stride;
    const bool fast = j0 + NR <= N && (!group || (j0 % group) + NR <= group);
    VEC col_bias = (VEC)(0.0f);
    if (bias_mode == 2) {
        float tmp[NR];
        for (int j = 0; j < NR; j++) tmp[j] = j0 + j < N ? bias[j0 + j] : 0.0f;
        col_bias = VLOAD(0, tmp);
    }
    for (int r = 0; r < MR && i0 + r < M; r++) {
        VEC v = alpha * acc[r] + col_bias;
        if (bias_mode == 1) v += bias[i0 + r];
        if (fast) {
            __global float *row = C + view_at(i0 + r, j0, rs, 1, group, gs);
            if (beta != 0.0f) v += beta * VLOAD(0, row);
            VSTORE(v, 0, row);
        } else {
            float tmp[NR];
            VSTORE(v, 0, tmp);
            for (int j = 0; j < NR && j0 + j < N; j++) {
                __global float *e = C + view_at(i0 + r, j0 + j, rs, 1, group, gs);
                *e = beta != 0.0f ? tmp[j] + beta * *e : tmp[j];
            }
        }
    }
}
