/* Softmax with categorical cross-entropy, fused and numerically stable. */

/* Per row: probabilities, the loss -log p[label], and the predicted class. */
__kernel void softmax_ce_forward_f32(__global const float *logits, __global const int *labels,
                                     __global float *probs, __global float *loss,
                                     __global int *pred, const int B, const int K)
{
    const int b = get_global_id(0);
    if (b >= B) return;
    __global const float *z = logits + b * K;
    float mx = z[0];
    int arg = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > mx || isnan(z[k])) {
            mx = z[k];
            arg = k;
        }
    float sum = 0.0f;
    for (int k = 0; k < K; k++) sum += exp(z[k] - mx);
    const float log_sum = log(sum);
    for (int k = 0; k < K; k++) probs[b * K + k] = exp(z[k] - mx - log_sum);
    const int y = labels[b];
    loss[b] = (y >= 0 && y < K) ? log_sum - (z[y] - mx) : NAN;
    pred[b] = arg;
}

/* dlogits = (probs - onehot(label)) * scale (scale = 1/batch for a mean loss). */
__kernel void softmax_ce_backward_f32(__global const float *probs, __global const int *labels,
                                      __global float *dlogits, const int B, const int K,
                                      const float scale)
{
    const int i = get_global_id(0);
    if (i >= B * K) return;
    const int b = i / K, k = i % K;
    dlogits[i] = (probs[i] - (labels[b] == k ? 1.0f : 0.0f)) * scale;
}
