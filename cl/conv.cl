/* Convolution by im2col + GEMM.
 *
 * Layouts: images are NCHW; the column matrix is [C*KH*KW, B*OH*OW] (row r =
 * (c, i, j) of the kernel window, column = (b, oh, ow)), so that the whole
 * batch is one GEMM. The GEMM result is channel-major [C, B*P] and is
 * permuted to NCHW [B, C, P] (P = OH*OW). */

/* Launched 3-D: (ow, c * OH + oh, b). Each work item copies its pixel's
 * KH x KW window into the KH*KW rows of channel c, so consecutive work items
 * write consecutive floats and the index arithmetic is shared by the window
 * (one division per item; per-element divisions made this copy cost more
 * than the GEMM on CPU drivers). The batch is the last dimension because
 * some GPU drivers allow at most 65,535 work-groups in dimensions 1 and 2. */
__kernel void im2col_f32(__global const float *x, __global float *cols,
                         const int B, const int C, const int H, const int W,
                         const int KH, const int KW, const int SH, const int SW,
                         const int PH, const int PW, const int OH, const int OW)
{
    const int ow = get_global_id(0), co = get_global_id(1), b = get_global_id(2);
    if (ow >= OW || co >= C * OH || b >= B) return;
    const int c = co / OH, oh = co % OH;
    const size_t n_cols = (size_t)B * OH * OW;
    __global float *dst = cols + (size_t)c * KH * KW * n_cols + ((size_t)b * OH + oh) * OW + ow;
    __global const float *src = x + ((size_t)b * C + c) * H * W;
    const int h0 = oh * SH - PH, w0 = ow * SW - PW;
    for (int i = 0; i < KH; i++) {
        const int h = h0 + i;
        const bool h_in = h >= 0 && h < H;
        for (int j = 0; j < KW; j++) {
            const int w = w0 + j;
            float v = 0.0f;
            if (h_in && w >= 0 && w < W) v = src[h * W + w];
            dst[(size_t)(i * KW + j) * n_cols] = v;
        }
    }
}

/* The adjoint of im2col: each input element gathers the column entries it
 * was copied to (no atomics, deterministic). 3-D: (w, c * H + h, b).
 * Stride 1 skips the divisions. */
__kernel void col2im_f32(__global const float *cols, __global float *dx,
                         const int B, const int C, const int H, const int W,
                         const int KH, const int KW, const int SH, const int SW,
                         const int PH, const int PW, const int OH, const int OW)
{
    const int w = get_global_id(0), ch = get_global_id(1), b = get_global_id(2);
    if (w >= W || ch >= C * H || b >= B) return;
    const int c = ch / H, h = ch % H;
    const size_t n_cols = (size_t)B * OH * OW;
    float sum = 0.0f;
    for (int i = 0; i < KH; i++) {
        int oh = h + PH - i;
        if (SH != 1) {
            if (oh < 0 || oh % SH) continue;
            oh /= SH;
        }
        if (oh < 0 || oh >= OH) continue;
        __global const float *row = cols + (size_t)c * KH * KW * n_cols + (size_t)i * KW * n_cols +
                                    ((size_t)b * OH + oh) * OW;
        for (int j = 0; j < KW; j++) {
            int ow = w + PW - j;
            if (SW != 1) {
                if (ow < 0 || ow % SW) continue;
                ow /= SW;
            }
            if (ow < 0 || ow >= OW) continue;
            sum += row[(size_t)j * n_cols + ow];
        }
    }
    dx[(((size_t)b * C + c) * H + h) * W + w] = sum;
}

/* [C, B*P] -> [B, C, P], adding a per-channel bias (bias may be unused),
 * then max(0, .) with relu (a NaN kept). 3-D: (p, c, b). */
__kernel void cbp_to_bcp_bias_f32(__global const float *src, __global const float *bias,
                                  __global float *dst, const int B, const int C, const int P,
                                  const int use_bias, const int relu)
{
    const int p = get_global_id(0), c = get_global_id(1), b = get_global_id(2);
    if (p >= P || c >= C || b >= B) return;
    float v = src[(size_t)c * B * P + (size_t)b * P + p];
    if (use_bias) v += bias[c];
    if (relu && !isnan(v)) v = fmax(v, 0.0f);
    dst[((size_t)b * C + c) * P + p] = v;
}

/* [B, C, P] -> [C, B*P]; 3-D like the kernel above. */
__kernel void bcp_to_cbp_f32(__global const float *src, __global float *dst,
                             const int B, const int C, const int P)
{
    const int p = get_global_id(0), c = get_global_id(1), b = get_global_id(2);
    if (p >= P || c >= C || b >= B) return;
    dst[(size_t)c * B * P + (size_t)b * P + p] = src[((size_t)b * C + c) * P + p];
}

/* Wt[c, f, i, j] = W[f, c, KH-1-i, KW-1-j]: the kernel that turns a
 * stride-1 convolution's output gradient into its input gradient by
 * another convolution (padding KH-1-PH before), so that no column matrix
 * and no col2im are needed. 1-D over F*C*KH*KW. */
__kernel void flip_weights_f32(__global const float *w, __global float *wt, const int F,
                               const int C, const int KH, const int KW)
{
    const int idx = get_global_id(0);
    if (idx >= F * C * KH * KW) return;
    const int j = idx % KW, i = idx / KW % KH, f = idx / (KW * KH) % F, c = idx / (KW * KH * F);
    wt[idx] = w[(((size_t)f * C + c) * KH + (KH - 1 - i)) * KW + (KW - 1 - j)];
}

/* xp[n, c, h, w] = x[n, c, h - PH, w - PW], zero outside the image: the
 * input of conv_direct_* (cl/gemm/conv_direct.cl) with its border, Hp x Wp.
 * 1-D over the B*C*Hp output rows: a work-item copies one row, so the
 * index arithmetic is paid once a row, and copies it as float16s. */
__kernel void conv_pad_f32(__global const float *x, __global float *xp, const int B, const int C,
                           const int H, const int W, const int PH, const int PW, const int Hp,
                           const int Wp)
{
    const int row = get_global_id(0);
    if (row >= B * C * Hp) return;
    const int h = row % Hp, bc = row / Hp, sh = h - PH;
    __global float *dst = xp + (size_t)row * Wp;
    /* the source row's part inside the border (all of it unless the
     * windows stop short of the right edge) */
    const int copy = sh < 0 || sh >= H ? 0 : max(0, min(W, Wp - PW));
    __global const float *src = x + ((size_t)bc * H + sh) * W;
    int w = 0;
    for (; w < PW && w < Wp; w++) dst[w] = 0.0f;
    int j = 0;
    for (; j + 16 <= copy; j += 16) vstore16(vload16(0, src + j), 0, dst + w + j);
    for (; j < copy; j++) dst[w + j] = src[j];
    for (w += copy; w < Wp; w++) dst[w] = 0.0f;
}
