/* Batch normalisation over [B, C, P] (P = H*W for images, 1 for features).
 * Channel sums come from channel_sums_f32 in reduce.cl. */

/* From the sums: batch mean and inverse std, and the running statistics
 * (running = momentum * running + (1 - momentum) * batch, unbiased var). */
__kernel void bn_stats_f32(__global const float *sum, __global const float *sumsq,
                           __global float *mean, __global float *invstd,
                           __global float *running_mean, __global float *running_var,
                           const int C, const int N, const float eps, const float momentum)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    const float m = sum[c] / (float)N;
    const float var = fmax(sumsq[c] / (float)N - m * m, 0.0f);
    mean[c] = m;
    invstd[c] = rsqrt(var + eps);
    const float unbiased = N > 1 ? var * (float)N / (float)(N - 1) : var;
    running_mean[c] = momentum * running_mean[c] + (1.0f - momentum) * m;
    running_var[c] = momentum * running_var[c] + (1.0f - momentum) * unbiased;
}

/* Eval mode: invstd from the running variance. */
__kernel void bn_eval_stats_f32(__global const float *running_var, __global float *invstd,
                                const int C, const float eps)
{
    const int c = get_global_id(0);
    if (c < C) invstd[c] = rsqrt(running_var[c] + eps);
}

/* xhat = (x - mean) * invstd; y = gamma * xhat + beta. */
__kernel void bn_forward_f32(__global const float *x, __global const float *mean,
                             __global const float *invstd, __global const float *gamma,
                             __global const float *beta, __global float *xhat,
                             __global float *y, const int B, const int C, const int P)
{
    const int i = get_global_id(0);
    if (i >= B * C * P) return;
    const int c = (i / P) % C;
    const float h = (x[i] - mean[c]) * invstd[c];
    xhat[i] = h;
    y[i] = gamma[c] * h + beta[c];
}

/* dx = gamma * invstd / N * (N * dy - sum(dy) - xhat * sum(dy * xhat)),
 * with dbeta = sum(dy) and dgamma = sum(dy * xhat) per channel and N the
 * values each channel's statistics came from (B * P, or the global batch's
 * with synchronised statistics). */
__kernel void bn_backward_f32(__global const float *dy, __global const float *xhat,
                              __global const float *gamma, __global const float *invstd,
                              __global const float *dbeta, __global const float *dgamma,
                              __global float *dx, const int B, const int C, const int P,
                              const float N)
{
    const int i = get_global_id(0);
    if (i >= B * C * P) return;
    const int c = (i / P) % C;
    const float n = N;
    dx[i] = gamma[c] * invstd[c] / n * (n * dy[i] - dbeta[c] - xhat[i] * dgamma[c]);
}
