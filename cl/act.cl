/* Activations and dropout (random numbers from cl/lib/random.cl). */

__kernel void relu_forward_f32(__global const float *x, __global float *y, const int n)
{
    const int i = get_global_id(0);
    if (i < n) y[i] = fmax(x[i], 0.0f) + (isnan(x[i]) ? x[i] : 0.0f);
}

/* dx = dy where the output was positive. */
__kernel void relu_backward_f32(__global const float *y, __global const float *dy,
                                __global float *dx, const int n)
{
    const int i = get_global_id(0);
    if (i < n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* Inverted dropout: kept units are scaled by 1/(1-rate); the mask holds the
 * scale (0 or 1/(1-rate)) for the backward pass. */
__kernel void dropout_forward_f32(__global const float *x, __global float *y,
                                  __global float *mask, const float rate, const uint seed,
                                  const uint step, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float m = rng_uniform(seed, step, (uint)i) >= rate ? 1.0f / (1.0f - rate) : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
}

__kernel void mul_f32(__global const float *a, __global const float *b, __global float *out,
                      const int n)
{
    const int i = get_global_id(0);
    if (i < n) out[i] = a[i] * b[i];
}
