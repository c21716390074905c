/* Mixture-of-experts combination: y[n, u] = sum_k g[n, k] * e[n, u, k],
 * with expert outputs e [N, U, K] (expert index fastest, as the Keras
 * DenseMoE kernel (in, units, n_experts) produces) and gate weights g [N, K]. */

__kernel void moe_combine_forward_f32(__global const float *e, __global const float *g,
                                      __global float *y, const int N, const int U, const int K)
{
    const int i = get_global_id(0);
    if (i >= N * U) return;
    const int n = i / U;
    float s = 0.0f;
    for (int k = 0; k < K; k++) s += g[n * K + k] * e[i * K + k];
    y[i] = s;
}

/* de[n, u, k] = dy[n, u] * g[n, k] */
__kernel void moe_combine_backward_experts_f32(__global const float *dy, __global const float *g,
                                               __global float *de, const int N, const int U,
                                               const int K)
{
    const int i = get_global_id(0);
    if (i >= N * U * K) return;
    const int k = i % K, nu = i / K, n = nu / U;
    de[i] = dy[nu] * g[n * K + k];
}

/* dg[n, k] = sum_u dy[n, u] * e[n, u, k] */
__kernel void moe_combine_backward_gates_f32(__global const float *dy, __global const float *e,
                                             __global float *dg, const int N, const int U,
                                             const int K)
{
    const int i = get_global_id(0);
    if (i >= N * K) return;
    const int n = i / K, k = i % K;
    float s = 0.0f;
    for (int u = 0; u < U; u++) s += dy[n * U + u] * e[(n * U + u) * K + k];
    dg[i] = s;
}

/* Row softmax over [N, K], in place, stable. */
__kernel void softmax_rows_f32(__global float *x, const int N, const int K)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    __global float *r = x + n * K;
    float mx = r[0];
    for (int k = 1; k < K; k++) mx = fmax(mx, r[k]);
    float s = 0.0f;
    for (int k = 0; k < K; k++) {
        r[k] = exp(r[k] - mx);
        s += r[k];
    }
    for (int k = 0; k < K; k++) r[k] /= s;
}

/* Through a row softmax: dx = p * (dp - sum_k p dp), in place on dp. */
__kernel void softmax_rows_backward_f32(__global const float *p, __global float *dp, const int N,
                                        const int K)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    float dot = 0.0f;
    for (int k = 0; k < K; k++) dot += p[n * K + k] * dp[n * K + k];
    for (int k = 0; k < K; k++) dp[n * K + k] = p[n * K + k] * (dp[n * K + k] - dot);
}

/* In-place ReLU, and its backward from the activated values: dx *= (y > 0). */
__kernel void relu_inplace_f32(__global float *x, const int n)
{
    const int i = get_global_id(0);
    if (i < n && !(x[i] > 0.0f) && !isnan(x[i])) x[i] = 0.0f;
}

__kernel void relu_mask_f32(__global const float *y, __global float *d, const int n)
{
    const int i = get_global_id(0);
    if (i < n && !(y[i] > 0.0f)) d[i] = 0.0f;
}
