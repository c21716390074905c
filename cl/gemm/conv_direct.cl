/* Stride-1 convolutions without the column matrix (built with the same
 * -DMR -DNR as gemm_packed.cl, after it).
 *
 * im2col makes a copy of the input KH*KW times as large; here the input is
 * copied once with its zero border (conv_pad_f32), and the tile kernels read
 * it directly:
 *  - forward (and the input gradient, a convolution of dy with the flipped
 *    kernel): a work-item computes MR filters x NR consecutive pixels of one
 *    output row; for window element (ch, i, j) the NR pixels' inputs are one
 *    unaligned vector load from the padded row, so B needs no packing;
 *  - weight gradient: dW^T = im2col(x) * dy^T with K the output pixels: MR
 *    window elements x NR filters per work-item, the MR inputs read from the
 *    padded image as K walks along its rows, dy packed as [F/NR][pixels][NR]
 *    (a copy the size of dy, not of the column matrix); K in chunks of kc
 *    per batch t, partial sums added afterwards. */

/* 3-D: (output panel q of NR pixels, filter panel p, 1). A panel is NR
 * consecutive pixels of one output row, the row's last panel cut short
 * where OW is not a multiple of NR (its extra lanes read the zero columns
 * past the border and are not stored), or two whole rows (OW * 2 == NR, OH
 * even: 8-wide images with 16-float vectors), read as two half-vector
 * loads. xp: [n, C, OH+KH-1, Wp], Wp at least the row panels' reach
 * (moecl_own_conv_direct_width); A packed weights [F/MR][C*KH*KW][MR]. */
__kernel void conv_direct_forward(__global const float *xp, __global const float *pa,
                                  __global float *y, __global const float *bias,
                                  const int use_bias, const int relu, const int C, const int F, const int KH,
                                  const int KW, const int OH, const int OW, const int Wp,
                                  const int n_images)
{
    const int q = get_global_id(0), p = get_global_id(1);
    const int P = OH * OW, two_rows = OW * 2 == NR && OH % 2 == 0, per_row = (OW + NR - 1) / NR;
    const int per_image = two_rows ? P / NR : OH * per_row;
    if (q >= n_images * per_image || p * MR >= F) return;
    const int n = q / per_image, at = q % per_image;
    const int oh = two_rows ? 2 * at : at / per_row, ow0 = two_rows ? 0 : at % per_row * NR;
    const int Hp = OH + KH - 1, K = C * KH * KW;
    __global const float *A = pa + (size_t)p * K * MR;
    __global const float *x = xp + ((size_t)n * C * Hp + oh) * Wp + ow0;
    VEC acc[MR];
    for (int r = 0; r < MR; r++) acc[r] = (VEC)(0.0f);
    if (!two_rows && KW == 3) {
        /* the common 3-wide window unrolled: three loads, 3 x MR FMAs */
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < KH; i++, A += 3 * MR) {
                __global const float *row = x + ((size_t)ch * Hp + i) * Wp;
                const VEC b0 = VLOAD(0, row), b1 = VLOAD(0, row + 1), b2 = VLOAD(0, row + 2);
#pragma unroll
                for (int r = 0; r < MR; r++) acc[r] = fma((VEC)(A[r]), b0, acc[r]);
#pragma unroll
                for (int r = 0; r < MR; r++) acc[r] = fma((VEC)(A[MR + r]), b1, acc[r]);
#pragma unroll
                for (int r = 0; r < MR; r++) acc[r] = fma((VEC)(A[2 * MR + r]), b2, acc[r]);
            }
    } else if (!two_rows) {
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < KH; i++) {
                __global const float *row = x + ((size_t)ch * Hp + i) * Wp;
                for (int j = 0; j < KW; j++, A += MR) {
                    const VEC b = VLOAD(0, row + j);
#pragma unroll
                    for (int r = 0; r < MR; r++) acc[r] = fma((VEC)(A[r]), b, acc[r]);
                }
            }
    } else {
#if NR == 16 || NR == 8
#if NR == 16
#define VLOAD_HALF vload8
#else
#define VLOAD_HALF vload4
#endif
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < KH; i++) {
                __global const float *row = x + ((size_t)ch * Hp + i) * Wp;
                for (int j = 0; j < KW; j++, A += MR) {
                    const VEC b = (VEC)(VLOAD_HALF(0, row + j), VLOAD_HALF(0, row + Wp + j));
#pragma unroll
                    for (int r = 0; r < MR; r++) acc[r] = fma((VEC)(A[r]), b, acc[r]);
                }
            }
#undef VLOAD_HALF
#endif
    }
    __global float *out = y + ((size_t)n * F + p * MR) * P + oh * OW + ow0;
    const int valid = two_rows ? NR : min(NR, OW - ow0);
    for (int r = 0; r < MR && p * MR + r < F; r++) {
        VEC v = acc[r] + (use_bias ? bias[p * MR + r] : 0.0f);
        if (relu) v = RELU_KEEP_NAN(v);
        if (valid == NR) {
            VSTORE(v, 0, out + r * (size_t)P);
        } else { /* a row's short last panel */
            float lanes[NR];
            VSTORE(v, 0, lanes);
            for (int c = 0; c < valid; c++) out[r * (size_t)P + c] = lanes[c];
        }
    }
}

/* dy^T packed: 3-D (pixel k of chunk t, filter panel q, chunk t). */
__kernel void conv_pack_dy_t(__global const float *dy, const int F, const int P, const int K,
                             const int kc, __global float *packed)
{
    const int k = get_global_id(0), q = get_global_id(1), t = get_global_id(2);
    if (k >= min(kc, K - t * kc)) return;
    const int panels = (F + NR - 1) / NR, pix = t * kc + k;
    const int n = pix / P, px = pix % P;
    __global const float *src = dy + (size_t)n * F * P + px;
    __global float *dst = packed + (((size_t)t * panels + q) * kc + k) * NR;
    for (int c = 0; c < NR; c++) {
        const int f = q * NR + c;
        dst[c] = f < F ? src[(size_t)f * P] : 0.0f;
    }
}

/* 3-D: (window panel p of MR elements (ch, i, j), filter panel q, chunk t).
 * Writes the partial dW of chunk t as [F][C*KH*KW] at part + t * F * CKK. */
__kernel void conv_direct_weight_grad(__global const float *xp, __global const float *pb,
                                      __global float *part, const int C, const int F,
                                      const int KH, const int KW, const int SH, const int SW,
                                      const int OH, const int OW, const int Wp, const int K,
                                      const int kc)
{
    const int p = get_global_id(0), q = get_global_id(1), t = get_global_id(2);
    const int CKK = C * KH * KW, f_panels = (F + NR - 1) / NR;
    if (p * MR >= CKK || q >= f_panels) return;
    const int Hp = (OH - 1) * SH + KH; /* Wp: the bordered rows' width, at least (OW-1)*SW + KW */
    int off[MR];
    for (int r = 0; r < MR; r++) {
        const int e = min(p * MR + r, CKK - 1); /* rows past the end repeat the last, unused */
        off[r] = ((e / (KH * KW)) * Hp + e / KW % KH) * Wp + e % KW;
    }
    const int k0 = t * kc, kn = min(kc, K - k0);
    __global const float *B = pb + ((size_t)t * f_panels + q) * kc * NR;
    VEC acc[MR];
    for (int r = 0; r < MR; r++) acc[r] = (VEC)(0.0f);
    /* K walks output rows: a run of pixels on one row has no branch inside */
    for (int k = 0, pix = k0; k < kn;) {
        const int n = pix / (OH * OW), oh = pix / OW % OH, ow = pix % OW;
        const int run = min(OW - ow, kn - k);
        __global const float *base = xp + ((size_t)n * C * Hp + oh * SH) * Wp + ow * SW;
        for (int s = 0; s < run; s++) {
            const VEC bk = VLOAD(0, B + (size_t)(k + s) * NR);
#pragma unroll
            for (int r = 0; r < MR; r++) acc[r] = fma((VEC)(base[off[r] + s * SW]), bk, acc[r]);
        }
        k += run;
        pix += run;
    }
    __global float *out = part + (size_t)t * F * CKK;
    for (int r = 0; r < MR && p * MR + r < CKK; r++) {
        float v[NR];
        VSTORE(acc[r], 0, v);
        for (int c = 0; c < NR && q * NR + c < F; c++) out[(size_t)(q * NR + c) * CKK + p * MR + r] = v[c];
    }
}
