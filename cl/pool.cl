/* Max pooling (any window, stride and padding) and global average pooling,
 * NCHW. Max pooling records the flat input index of each maximum so that
 * the backward pass can route gradients without recomputing. */

__kernel void maxpool_forward_f32(__global const float *x, __global float *y,
                                  __global int *argmax, const int B, const int C,
                                  const int H, const int W, const int KH, const int KW,
                                  const int SH, const int SW, const int PH, const int PW,
                                  const int OH, const int OW)
{
    const int gid = get_global_id(0);
    if (gid >= B * C * OH * OW) return;
    const int ow = gid % OW, oh = (gid / OW) % OH, bc = gid / (OW * OH);
    const int h0 = oh * SH - PH, w0 = ow * SW - PW;
    float best = -INFINITY;
    int best_idx = -1;
    for (int i = 0; i < KH; i++) {
        const int h = h0 + i;
        if (h < 0 || h >= H) continue;
        for (int j = 0; j < KW; j++) {
            const int w = w0 + j;
            if (w < 0 || w >= W) continue;
            const int idx = (bc * H + h) * W + w;
            const float v = x[idx];
            /* NaN propagates: a NaN input wins, so training sees it. */
            if (v > best || best_idx < 0 || isnan(v)) {
                best = v;
                best_idx = idx;
            }
        }
    }
    y[gid] = best_idx >= 0 ? best : 0.0f;
    argmax[gid] = best_idx;
}

/* Each input element gathers the gradients of the windows whose maximum it was. */
__kernel void maxpool_backward_f32(__global const float *dy, __global const int *argmax,
                                   __global float *dx, const int B, const int C, const int H,
                                   const int W, const int KH, const int KW, const int SH,
                                   const int SW, const int PH, const int PW, const int OH,
                                   const int OW)
{
    const int gid = get_global_id(0);
    if (gid >= B * C * H * W) return;
    const int w = gid % W, h = (gid / W) % H, bc = gid / (W * H);
    /* Output windows covering (h, w): oh*SH - PH <= h <= oh*SH - PH + KH - 1. */
    const int oh_lo = max(0, (h + PH - KH + SH) / SH), oh_hi = min(OH - 1, (h + PH) / SH);
    const int ow_lo = max(0, (w + PW - KW + SW) / SW), ow_hi = min(OW - 1, (w + PW) / SW);
    float sum = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; oh++)
        for (int ow = ow_lo; ow <= ow_hi; ow++) {
            const int o = (bc * OH + oh) * OW + ow;
            if (argmax[o] == gid) sum += dy[o];
        }
    dx[gid] = sum;
}

__kernel void global_avgpool_forward_f32(__global const float *x, __global float *y,
                                         const int BC, const int P)
{
    const int gid = get_global_id(0);
    if (gid >= BC) return;
    float s = 0.0f;
    for (int p = 0; p < P; p++) s += x[gid * P + p];
    y[gid] = s / (float)P;
}

__kernel void global_avgpool_backward_f32(__global const float *dy, __global float *dx,
                                          const int BC, const int P)
{
    const int gid = get_global_id(0);
    if (gid >= BC * P) return;
    dx[gid] = dy[gid / P] / (float)P;
}
