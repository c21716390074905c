/* Convolution by im2col + GEMM.
 *
 * Layouts: images are NCHW; the column matrix is [C*KH*KW, B*OH*OW] (row r =
 * (c, i, j) of the kernel window, column = (b, oh, ow)), so that the whole
 * batch is one GEMM. The GEMM result is channel-major [C, B*P] and is
 * permuted to NCHW [B, C, P] (P = OH*OW). */

__kernel void im2col_f32(__global const float *x, __global float *cols,
                         const int B, const int C, const int H, const int W,
                         const int KH, const int KW, const int SH, const int SW,
                         const int PH, const int PW, const int OH, const int OW)
{
    const int n_cols = B * OH * OW;
    const int gid = get_global_id(0);
    if (gid >= C * KH * KW * n_cols) return;
    const int col = gid % n_cols;
    const int row = gid / n_cols;
    const int ow = col % OW, oh = (col / OW) % OH, b = col / (OW * OH);
    const int j = row % KW, i = (row / KW) % KH, c = row / (KW * KH);
    const int h = oh * SH - PH + i, w = ow * SW - PW + j;
    float v = 0.0f;
    if (h >= 0 && h < H && w >= 0 && w < W) v = x[((b * C + c) * H + h) * W + w];
    cols[gid] = v;
}

/* The adjoint of im2col: each input element gathers the column entries it
 * was copied to (no atomics, deterministic). */
__kernel void col2im_f32(__global const float *cols, __global float *dx,
                         const int B, const int C, const int H, const int W,
                         const int KH, const int KW, const int SH, const int SW,
                         const int PH, const int PW, const int OH, const int OW)
{
    const int gid = get_global_id(0);
    if (gid >= B * C * H * W) return;
    const int w = gid % W, h = (gid / W) % H, c = (gid / (W * H)) % C, b = gid / (W * H * C);
    const int n_cols = B * OH * OW;
    float sum = 0.0f;
    for (int i = 0; i < KH; i++) {
        const int hs = h + PH - i;
        if (hs < 0 || hs % SH) continue;
        const int oh = hs / SH;
        if (oh >= OH) continue;
        for (int j = 0; j < KW; j++) {
            const int ws = w + PW - j;
            if (ws < 0 || ws % SW) continue;
            const int ow = ws / SW;
            if (ow >= OW) continue;
            const int row = (c * KH + i) * KW + j;
            sum += cols[row * n_cols + (b * OH + oh) * OW + ow];
        }
    }
    dx[gid] = sum;
}

/* [C, B*P] -> [B, C, P], adding a per-channel bias (bias may be unused). */
__kernel void cbp_to_bcp_bias_f32(__global const float *src, __global const float *bias,
                                  __global float *dst, const int B, const int C, const int P,
                                  const int use_bias)
{
    const int gid = get_global_id(0);
    if (gid >= B * C * P) return;
    const int p = gid % P, c = (gid / P) % C, b = gid / (P * C);
    float v = src[c * (B * P) + b * P + p];
    if (use_bias) v += bias[c];
    dst[gid] = v;
}

/* [B, C, P] -> [C, B*P] */
__kernel void bcp_to_cbp_f32(__global const float *src, __global float *dst,
                             const int B, const int C, const int P)
{
    const int gid = get_global_id(0);
    if (gid >= B * C * P) return;
    const int p = gid % P, c = (gid / P) % C, b = gid / (P * C);
    dst[c * (B * P) + b * P + p] = src[gid];
}
