/* Softmax with categorical cross-entropy, fused and numerically stable. */

/* Per row: probabilities, the loss -sum q log p against the targets q =
 * (1 - eps) onehot(label) + eps / K (label smoothing; eps 0: -log p[label]),
 * and the predicted class. */
__kernel void softmax_ce_forward_f32(__global const float *logits, __global const int *labels,
                                     __global float *probs, __global float *loss,
                                     __global int *pred, const int B, const int K, const float eps)
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
    float sum = 0.0f, shifted = 0.0f;
    for (int k = 0; k < K; k++) {
        sum += exp(z[k] - mx);
        shifted += z[k] - mx;
    }
    const float log_sum = log(sum);
    for (int k = 0; k < K; k++) probs[b * K + k] = exp(z[k] - mx - log_sum);
    const int y = labels[b];
    const float nll = log_sum - (z[y] - mx), uniform = log_sum - shifted / (float)K;
    loss[b] = (y >= 0 && y < K) ? (eps == 0.0f ? nll : (1.0f - eps) * nll + eps * uniform) : NAN;
    pred[b] = arg;
}

/* dlogits = (probs - q) * scale, q the (smoothed) targets (scale = 1/batch
 * for a mean loss). */
__kernel void softmax_ce_backward_f32(__global const float *probs, __global const int *labels,
                                      __global float *dlogits, const int B, const int K,
                                      const float scale, const float eps)
{
    const int i = get_global_id(0);
    if (i >= B * K) return;
    const int b = i / K, k = i % K;
    const float q = (labels[b] == k ? 1.0f - eps : 0.0f) + eps / (float)K;
    dlogits[i] = (probs[i] - q) * scale;
}
