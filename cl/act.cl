/* Activations and dropout (random numbers from cl/lib/random.cl). */

/* Streaming (cl/lib/stream.cl). A NaN input stays NaN, so training sees it. */
__kernel void relu_forward_f32(__global const float *x, __global float *y, const int n)
{
    const int i0 = get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        const float16 v = vload16(0, x + i0);
        vstore16(select(fmax(v, 0.0f), v, isnan(v)), 0, y + i0);
        return;
    }
    for (int i = i0; i < n; i++) y[i] = isnan(x[i]) ? x[i] : fmax(x[i], 0.0f);
}

/* dx = dy where the output was positive. Streaming. */
__kernel void relu_backward_f32(__global const float *y, __global const float *dy,
                                __global float *dx, const int n)
{
    const int i0 = get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        const float16 v = vload16(0, y + i0), g = vload16(0, dy + i0);
        vstore16(select((float16)(0.0f), g, v > 0.0f), 0, dx + i0);
        return;
    }
    for (int i = i0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* GELU, exact: y = x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2. Streaming. */
__kernel void gelu_forward_f32(__global const float *x, __global float *y, const int n)
{
    const int i0 = get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        const float16 v = vload16(0, x + i0);
        vstore16(0.5f * v * (1.0f + erf(v * M_SQRT1_2_F)), 0, y + i0);
        return;
    }
    for (int i = i0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erf(x[i] * M_SQRT1_2_F));
}

/* dx = dy (Phi(x) + x phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi). Streaming. */
__kernel void gelu_backward_f32(__global const float *x, __global const float *dy,
                                __global float *dx, const int n)
{
#define GELU_SLOPE(v) (0.5f * (1.0f + erf((v) * M_SQRT1_2_F)) + \
                       (v) * exp(-0.5f * (v) * (v)) * (M_2_SQRTPI_F * M_SQRT1_2_F * 0.5f))
    const int i0 = get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        const float16 v = vload16(0, x + i0);
        vstore16(vload16(0, dy + i0) * GELU_SLOPE(v), 0, dx + i0);
        return;
    }
    for (int i = i0; i < n; i++) dx[i] = dy[i] * GELU_SLOPE(x[i]);
#undef GELU_SLOPE
}

/* y = factor x. Streaming. */
__kernel void scale_copy_f32(__global const float *x, __global float *y, const float factor,
                             const int n)
{
    const int i0 = get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        vstore16(factor * vload16(0, x + i0), 0, y + i0);
        return;
    }
    for (int i = i0; i < n; i++) y[i] = factor * x[i];
}

/* Inverted dropout: kept units are scaled by 1/(1-rate); the mask holds the
 * scale (0 or 1/(1-rate)) for the backward pass. Element i draws number
 * base + i: base places this batch in the global batch (data parallel), so
 * a split batch gets the masks the whole batch would. */
__kernel void dropout_forward_f32(__global const float *x, __global float *y,
                                  __global float *mask, const float rate, const uint seed,
                                  const uint step, const uint base, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float m = rng_uniform(seed, step, base + (uint)i) >= rate ? 1.0f / (1.0f - rate) : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
}

/* Streaming. */
__kernel void mul_f32(__global const float *a, __global const float *b, __global float *out,
                      const int n)
{
    const int i0 = get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        vstore16(vload16(0, a + i0) * vload16(0, b + i0), 0, out + i0);
        return;
    }
    for (int i = i0; i < n; i++) out[i] = a[i] * b[i];
}
