/* Optimiser updates, streaming (cl/lib/stream.cl): each work item updates a
 * chunk of parameters, as vectors when the chunk is whole. The update is
 * written once as a macro over the element type (float16 or float). */

/* Adam as Keras: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * w -= alpha * m / (sqrt(v) + eps), alpha = lr sqrt(1-b2^t) / (1-b1^t)
 * (computed on the host). Weight decay is decoupled (AdamW): w -= lr*wd*w. */
__kernel void adam_step_f32(__global float *w, __global const float *g, __global float *m,
                            __global float *v, const float alpha, const float beta1,
                            const float beta2, const float eps, const float lr_wd, const int n)
{
#define ADAM_UPDATE(T, gi, mi, vi, wi)                      \
    {                                                        \
        const T g_ = (gi);                                   \
        mi = beta1 * (mi) + (1.0f - beta1) * g_;             \
        vi = beta2 * (vi) + (1.0f - beta2) * g_ * g_;        \
        wi = (wi) - lr_wd * (wi) - alpha * (mi) / (sqrt(vi) + eps); \
    }
    const int i0 = get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        float16 mi = vload16(0, m + i0), vi = vload16(0, v + i0), wi = vload16(0, w + i0);
        ADAM_UPDATE(float16, vload16(0, g + i0), mi, vi, wi)
        vstore16(mi, 0, m + i0);
        vstore16(vi, 0, v + i0);
        vstore16(wi, 0, w + i0);
        return;
    }
    for (int i = i0; i < n; i++) ADAM_UPDATE(float, g[i], m[i], v[i], w[i])
#undef ADAM_UPDATE
}

/* A moving average of the weights: ema = decay ema + (1 - decay) w. Streaming. */
__kernel void ema_update_f32(__global float *ema, __global const float *w, const float decay,
                             const int n)
{
    const int i0 = get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        const float16 a = vload16(0, ema + i0);
        vstore16(a + (1.0f - decay) * (vload16(0, w + i0) - a), 0, ema + i0);
        return;
    }
    for (int i = i0; i < n; i++) ema[i] += (1.0f - decay) * (w[i] - ema[i]);
}

/* SGD as Keras: vel = momentum vel - lr g; w += vel, or with Nesterov
 * w += momentum vel - lr g. Weight decay is L2: g += wd * w. */
__kernel void sgd_step_f32(__global float *w, __global const float *g, __global float *vel,
                           const float lr, const float momentum, const int nesterov,
                           const float wd, const int n)
{
#define SGD_UPDATE(T, g_in, vel_i, wi)                                  \
    {                                                                    \
        const T gi = (g_in) + wd * (wi);                                 \
        vel_i = momentum * (vel_i) - lr * gi;                            \
        wi += nesterov ? momentum * (vel_i) - lr * gi : (vel_i);         \
    }
    const int i0 = get_global_id(0) * STREAM_CHUNK;
    if (i0 + STREAM_CHUNK <= n) {
        float16 vi = vload16(0, vel + i0), wi = vload16(0, w + i0);
        SGD_UPDATE(float16, vload16(0, g + i0), vi, wi)
        vstore16(vi, 0, vel + i0);
        vstore16(wi, 0, w + i0);
        return;
    }
    for (int i = i0; i < n; i++) SGD_UPDATE(float, g[i], vel[i], w[i])
#undef SGD_UPDATE
}
