/* Optimiser updates, one work item per parameter. */

/* Adam as Keras: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * w -= alpha * m / (sqrt(v) + eps), alpha = lr sqrt(1-b2^t) / (1-b1^t)
 * (computed on the host). Weight decay is decoupled (AdamW): w -= lr*wd*w. */
__kernel void adam_step_f32(__global float *w, __global const float *g, __global float *m,
                            __global float *v, const float alpha, const float beta1,
                            const float beta2, const float eps, const float lr_wd, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float gi = g[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] - lr_wd * w[i] - alpha * mi / (sqrt(vi) + eps);
}

/* SGD as Keras: vel = momentum vel - lr g; w += vel, or with Nesterov
 * w += momentum vel - lr g. Weight decay is L2: g += wd * w. */
__kernel void sgd_step_f32(__global float *w, __global const float *g, __global float *vel,
                           const float lr, const float momentum, const int nesterov,
                           const float wd, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float gi = g[i] + wd * w[i];
    const float vi = momentum * vel[i] - lr * gi;
    vel[i] = vi;
    w[i] += nesterov ? momentum * vi - lr * gi : vi;
}
