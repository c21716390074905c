/* Max pooling (any window, stride and padding) and global average pooling,
 * NCHW. Max pooling records the flat input index of each maximum so that
 * the backward pass can route gradients without recomputing. */

/* 3-D launch (ow, c * OH + oh, b): one division per item instead of the
 * several a flat index needs (PoCL repeats them for every vector lane), and
 * the batch last, where drivers allow the most work-groups. */
__kernel void maxpool_forward_f32(__global const float *x, __global float *y,
                                  __global int *argmax, const int B, const int C,
                                  const int H, const int W, const int KH, const int KW,
                                  const int SH, const int SW, const int PH, const int PW,
                                  const int OH, const int OW)
{
    const int ow = get_global_id(0), co = get_global_id(1), b = get_global_id(2);
    if (ow >= OW || co >= C * OH || b >= B) return;
    const int c = co / OH, oh = co - c * OH;
    const int bc = b * C + c;
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
    const int o = (bc * OH + oh) * OW + ow;
    y[o] = best_idx >= 0 ? best : 0.0f;
    argmax[o] = best_idx;
}

/* Each input element gathers the gradients of the windows whose maximum it
 * was (no atomics, deterministic). 3-D: (w, c * H + h, b). */
__kernel void maxpool_backward_f32(__global const float *dy, __global const int *argmax,
                                   __global float *dx, const int B, const int C, const int H,
                                   const int W, const int KH, const int KW, const int SH,
                                   const int SW, const int PH, const int PW, const int OH,
                                   const int OW)
{
    const int w = get_global_id(0), ch = get_global_id(1), b = get_global_id(2);
    if (w >= W || ch >= C * H || b >= B) return;
    const int c = ch / H, h = ch - c * H;
    const int bc = b * C + c;
    const int idx = (bc * H + h) * W + w;
    /* Output windows covering (h, w): oh*SH - PH <= h <= oh*SH - PH + KH - 1. */
    const int oh_lo = max(0, (h + PH - KH + SH) / SH), oh_hi = min(OH - 1, (h + PH) / SH);
    const int ow_lo = max(0, (w + PW - KW + SW) / SW), ow_hi = min(OW - 1, (w + PW) / SW);
    float sum = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; oh++)
        for (int ow = ow_lo; ow <= ow_hi; ow++) {
            const int o = (bc * OH + oh) * OW + ow;
            if (argmax[o] == idx) sum += dy[o];
        }
    dx[idx] = sum;
}

/* The common case, 2x2 windows at stride 2 with no padding (an odd size's
 * last row or column in no window), in straight-line vector code: the general kernels' bounds-checked
 * loops keep CPU drivers from vectorising them, and pooling then costs as
 * much as a convolution in small networks. A work item takes one output row
 * (the batch's B*C*OH rows, 1-D), eight outputs at a time from two float16
 * loads of its two input rows (even lanes the windows' left column, odd
 * lanes the right), the row's tail one by one. Same results as the general
 * kernels: the first maximum in row-major order, a NaN wins. */

/* Takes v (and its flat index i) where it beats the best so far. */
#define POOL2_TAKE8(v, i)                                \
    {                                                    \
        const int8 take = isgreater((v), best) | isnan(v); \
        best = select(best, (v), take);                  \
        idx = select(idx, (i), take);                    \
    }
#define POOL2_TAKE(v, i)          \
    if ((v) > b || isnan(v)) {    \
        b = (v);                  \
        bi = (i);                 \
    }

__kernel void maxpool2x2_forward_f32(__global const float *x, __global float *y,
                                     __global int *argmax, const int rows, const int OH,
                                     const int OW, const int H, const int W)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    /* row r = (plane, oh): its windows start on the plane's input row 2 oh */
    const int plane = r / OH, top = (plane * H + 2 * (r - plane * OH)) * W;
    __global float *yr = y + (size_t)r * OW;
    __global int *ar = argmax + (size_t)r * OW;
    int ow = 0;
    for (; ow + 8 <= OW; ow += 8) {
        const int i0 = top + 2 * ow;
        const float16 a = vload16(0, x + i0), c = vload16(0, x + i0 + W);
        const int8 left = (int8)(i0) + (int8)(0, 2, 4, 6, 8, 10, 12, 14);
        float8 best = a.even;
        int8 idx = left;
        POOL2_TAKE8(a.odd, left + 1)
        POOL2_TAKE8(c.even, left + W)
        POOL2_TAKE8(c.odd, left + W + 1)
        vstore8(best, 0, yr + ow);
        vstore8(idx, 0, ar + ow);
    }
    for (; ow < OW; ow++) {
        const int i0 = top + 2 * ow, i1 = i0 + W;
        float b = x[i0];
        int bi = i0;
        const float v1 = x[i0 + 1], v2 = x[i1], v3 = x[i1 + 1];
        POOL2_TAKE(v1, i0 + 1)
        POOL2_TAKE(v2, i1)
        POOL2_TAKE(v3, i1 + 1)
        yr[ow] = b;
        ar[ow] = bi;
    }
}

/* Windows do not overlap and cover the input, so each output scatters its
 * gradient to its window's four inputs, zeros where it was not the maximum.
 * One output row per work item, as the forward pass: eight outputs' gradients
 * and maxima duplicated into the 16 lanes of each input row. */
__kernel void maxpool2x2_backward_f32(__global const float *dy, __global const int *argmax,
                                      __global float *dx, const int rows, const int OH,
                                      const int OW, const int H, const int W)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int plane = r / OH, oh = r - plane * OH, top = (plane * H + 2 * oh) * W;
    /* an odd size's last column and row are in no window: zeros */
    if (W > 2 * OW) dx[top + W - 1] = dx[top + 2 * W - 1] = 0.0f;
    if (H > 2 * OH && oh == OH - 1)
        for (int w = 0; w < W; w++) dx[top + 2 * W + w] = 0.0f;
    __global const float *gr = dy + (size_t)r * OW;
    __global const int *ar = argmax + (size_t)r * OW;
    int ow = 0;
    for (; ow + 8 <= OW; ow += 8) {
        const int i0 = top + 2 * ow;
        const float16 g = vload8(0, gr + ow).s0011223344556677;
        const int16 a = vload8(0, ar + ow).s0011223344556677;
        const int16 at = (int16)(i0) + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        vstore16(select((float16)(0.0f), g, a == at), 0, dx + i0);
        vstore16(select((float16)(0.0f), g, a == at + W), 0, dx + i0 + W);
    }
    for (; ow < OW; ow++) {
        const int i0 = top + 2 * ow, i1 = i0 + W, a = ar[ow];
        const float g = gr[ow];
        dx[i0] = a == i0 ? g : 0.0f;
        dx[i0 + 1] = a == i0 + 1 ? g : 0.0f;
        dx[i1] = a == i1 ? g : 0.0f;
        dx[i1 + 1] = a == i1 + 1 ? g : 0.0f;
    }
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
