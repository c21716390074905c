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
 * of the batch's output pixels, read from the NCHW image x. 2-D: (panel,
 * block of KB rows): a work-item decodes its NR pixels once, then walks its
 * rows; where the NR pixels lie on one output row at stride 1 (the common
 * case) each row of the panel is one vector load of the image. */
#define KB 16
__kernel void gemm_pack_b_im2col(__global const float *x, const int C, const int H, const int W,
                                 const int KH, const int KW, const int SH, const int SW,
                                 const int PH, const int PW, const int OH, const int OW,
                                 const int N, __global float *packed)
{
    const int q = get_global_id(0), kb = get_global_id(1);
    const int K = C * KH * KW, k0 = kb * KB, taps = KH * KW;
    if (k0 >= K || q * NR >= N) return;
    const int col0 = q * NR;
    const int n0 = col0 / (OH * OW), oh0 = col0 / OW % OH, ow0 = col0 % OW;
    const bool one_row = SW == 1 && ow0 + NR <= OW && col0 + NR <= N;
    /* each pixel's window origin, and which of its taps fall inside the
     * image (a bit per tap): the row walk below is then a load or a zero */
    int origin[NR];
    uint inside[NR];
    for (int c = 0, n = n0, oh = oh0, ow = ow0; c < NR; c++) {
        const int h0 = oh * SH - PH, w0 = ow * SW - PW;
        origin[c] = n * C * H * W + h0 * W + w0;
        inside[c] = 0;
        for (int i = 0; col0 + c < N && taps <= 32 && i < KH; i++)
            for (int j = 0; j < KW; j++)
                if (h0 + i >= 0 && h0 + i < H && w0 + j >= 0 && w0 + j < W) inside[c] |= 1u << (i * KW + j);
        if (++ow == OW) {
            ow = 0;
            if (++oh == OH) oh = 0, n++;
        }
    }
    __global float *dst = packed + ((size_t)q * K + k0) * NR;
    int ch = k0 / taps, i = k0 / KW % KH, j = k0 % KW;
    for (int k = k0; k < min(K, k0 + KB); k++, dst += NR) {
        const int at = (ch * H + i) * W + j, tap = i * KW + j;
        if (one_row) {
            const int h = oh0 * SH - PH + i, w = ow0 - PW + j;
            __global const float *row = x + (size_t)n0 * C * H * W + ((size_t)ch * H + h) * W;
            if (h < 0 || h >= H) {
                VSTORE((VEC)(0.0f), 0, dst);
            } else if (w >= 0 && w + NR <= W) {
                VSTORE(VLOAD(0, row + w), 0, dst);
            } else {
                for (int c = 0; c < NR; c++) dst[c] = w + c >= 0 && w + c < W ? row[w + c] : 0.0f;
            }
        } else if (taps <= 32) {
            for (int c = 0; c < NR; c++) dst[c] = (inside[c] >> tap) & 1u ? x[origin[c] + at] : 0.0f;
        } else { /* windows of more than 32 taps: the bounds checked each time */
            for (int c = 0, n = n0, oh = oh0, ow = ow0; c < NR; c++) {
                const int h = oh * SH - PH + i, w = ow * SW - PW + j;
                dst[c] = col0 + c < N && h >= 0 && h < H && w >= 0 && w < W
                             ? x[(size_t)n * C * H * W + ((size_t)ch * H + h) * W + w]
                             : 0.0f;
                if (++ow == OW) {
                    ow = 0;
                    if (++oh == OH) oh = 0, n++;
                }
            }
        }
        if (++j == KW) {
            j = 0;
            if (++i == KH) i = 0, ch++;
        }
    }
}

/* The weight gradient's B, the transpose of the one above: row = output
 * pixel (n, oh, ow) (the long K, in chunks of kc per batch t), column =
 * window element (ch, i, j). 3-D: (block of 16 pixels, panel, chunk): each
 * column of the block is read as a run of 16 pixels (one vector load where
 * they lie on one row at stride 1), then written out row by row. */
__kernel void gemm_pack_b_im2col_t(__global const float *x, const int C, const int H, const int W,
                                   const int KH, const int KW, const int SH, const int SW,
                                   const int PH, const int PW, const int OH, const int OW,
                                   const int K, const int kc, __global float *packed)
{
    const int kb = get_global_id(0), q = get_global_id(1), t = get_global_id(2);
    const int kn = min(kc, K - t * kc), k0 = kb * 16;
    if (k0 >= kn) return;
    const int N = C * KH * KW, panels = (N + NR - 1) / NR;
    const int rows = min(16, kn - k0), pix0 = t * kc + k0;
    const int n = pix0 / (OH * OW), oh = pix0 / OW % OH, ow = pix0 % OW;
    const bool one_row = SW == 1 && rows == 16 && ow + 16 <= OW;
    float tile[16][NR];
    int col = q * NR, ch = col / (KH * KW), i = col / KW % KH, j = col % KW;
    for (int c = 0; c < NR; c++, col++) {
        if (col >= N) {
            for (int r = 0; r < 16; r++) tile[r][c] = 0.0f;
            continue;
        }
        const int h = oh * SH - PH + i, w = ow * SW - PW + j;
        if (one_row && h >= 0 && h < H && w >= 0 && w + 16 <= W) {
            float16 v = vload16(0, x + (((size_t)n * C + ch) * H + h) * W + w);
            float run[16];
            vstore16(v, 0, run);
            for (int r = 0; r < 16; r++) tile[r][c] = run[r];
        } else {
            for (int r = 0, pn = n, ph = oh, pw = ow; r < 16; r++) {
                const int hh = ph * SH - PH + i, ww = pw * SW - PW + j;
                tile[r][c] = r < rows && hh >= 0 && hh < H && ww >= 0 && ww < W
                                 ? x[(((size_t)pn * C + ch) * H + hh) * W + ww]
                                 : 0.0f;
                if (++pw == OW) {
                    pw = 0;
                    if (++ph == OH) ph = 0, pn++;
                }
            }
        }
        if (++j == KW) {
            j = 0;
            if (++i == KH) i = 0, ch++;
        }
    }
    __global float *dst = packed + (((size_t)t * panels + q) * kc + k0) * NR;
    for (int r = 0; r < rows; r++) VSTORE(VLOAD(0, tile[r]), 0, dst + (size_t)r * NR);
}

/* max(0, v), a NaN kept (so that training sees it): a fused ReLU. */
#define RELU_KEEP_NAN(v) select(fmax((v), 0.0f), (v), isnan(v))

/* 3-D: (A panel, B panel, batch). C = alpha * tile + beta * C (+ bias[row]
 * or bias[column] with bias_mode 1 or 2), then max(0, C) with relu. C is not
 * read when beta is 0, as BLAS does, so it may hold anything. */
__kernel void gemm_packed(__global const float *pa, __global const float *pb, __global float *c,
                          const int offset, const int batch_stride, const int rs, const int group,
                          const int gs, const int M, const int N, const int K, const int kc,
                          const int split, const float alpha, const float beta,
                          __global const float *bias, const int bias_mode, const int relu)
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
            if (relu) v = RELU_KEEP_NAN(v);
            VSTORE(v, 0, row);
        } else {
            float tmp[NR];
            VSTORE(v, 0, tmp);
            for (int j = 0; j < NR && j0 + j < N; j++) {
                __global float *e = C + view_at(i0 + r, j0 + j, rs, 1, group, gs);
                const float s = beta != 0.0f ? tmp[j] + beta * *e : tmp[j];
                *e = relu && !isnan(s) ? fmax(s, 0.0f) : s;
            }
        }
    }
}
