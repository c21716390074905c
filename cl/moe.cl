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

/* Soft mixture of experts' class probabilities (the flat MoE of the source
 * article): g = softmax(a[n]) over K experts, p_k = softmax(z_k[n]) over C
 * classes, P[n] = sum_k g_k p_k, loss = -log P[n][label]. Expert logits are
 * stacked: z_k[n][c] = Z[k * stride + n * C + c]. Also writes the gate
 * weights g and the responsibilities r_k = g_k p_k[label] / P[label]. */
#define MIX_MAX_K 64
__kernel void soft_mixture_forward_f32(__global const float *a, __global const float *Z,
                                       __global const int *labels, __global float *P,
                                       __global float *g, __global float *r,
                                       __global float *loss, __global int *pred, const int N,
                                       const int K, const int C, const int stride)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    float lg[MIX_MAX_K], lp[MIX_MAX_K]; /* log g_k, log p_k[label] */
    float amax = a[n * K];
    for (int k = 1; k < K; k++) amax = fmax(amax, a[n * K + k]);
    float asum = 0.0f;
    for (int k = 0; k < K; k++) asum += exp(a[n * K + k] - amax);
    for (int k = 0; k < K; k++) {
        lg[k] = a[n * K + k] - amax - log(asum);
        g[n * K + k] = exp(lg[k]);
    }
    for (int c = 0; c < C; c++) P[n * C + c] = 0.0f;
    const int y = labels[n];
    for (int k = 0; k < K; k++) {
        __global const float *z = Z + k * stride + n * C;
        float zmax = z[0];
        for (int c = 1; c < C; c++) zmax = fmax(zmax, z[c]);
        float zsum = 0.0f;
        for (int c = 0; c < C; c++) zsum += exp(z[c] - zmax);
        const float lz = log(zsum);
        for (int c = 0; c < C; c++) P[n * C + c] += exp(lg[k] + z[c] - zmax - lz);
        lp[k] = lg[k] + z[y] - zmax - lz; /* log (g_k p_k[y]) */
    }
    /* log P[y] = logsumexp_k lp[k], stable even when every p_k[y] is tiny */
    float m = lp[0];
    for (int k = 1; k < K; k++) m = fmax(m, lp[k]);
    float s = 0.0f;
    for (int k = 0; k < K; k++) s += exp(lp[k] - m);
    const float log_py = m + log(s);
    for (int k = 0; k < K; k++) r[n * K + k] = exp(lp[k] - log_py);
    loss[n] = -log_py;
    int best = 0;
    for (int c = 1; c < C; c++)
        if (P[n * C + c] > P[n * C + best]) best = c;
    pred[n] = best;
}

/* dz_k[n][c] = scale * r_k (p_k[c] - [c == label]); da[n][k] = scale * (g_k - r_k). */
__kernel void soft_mixture_backward_f32(__global const float *Z, __global const float *g,
                                        __global const float *r, __global const int *labels,
                                        __global float *dZ, __global float *da, const int N,
                                        const int K, const int C, const int stride,
                                        const float scale)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    const int y = labels[n];
    for (int k = 0; k < K; k++) {
        __global const float *z = Z + k * stride + n * C;
        __global float *dz = dZ + k * stride + n * C;
        float zmax = z[0];
        for (int c = 1; c < C; c++) zmax = fmax(zmax, z[c]);
        float zsum = 0.0f;
        for (int c = 0; c < C; c++) zsum += exp(z[c] - zmax);
        const float rk = r[n * K + k];
        for (int c = 0; c < C; c++)
            dz[c] = scale * rk * (exp(z[c] - zmax) / zsum - (c == y ? 1.0f : 0.0f));
        da[n * K + k] = scale * (g[n * K + k] - rk);
    }
}

/* Conv2DMoE combination over NCHW maps: expert maps e [N, F*K, P] (channel
 * f*K + k is filter f of expert k), gates g [N, F, K]:
 * y[n, f, p] = sum_k g[n, f, k] * e[n, f*K + k, p]. */
__kernel void conv_moe_combine_forward_f32(__global const float *e, __global const float *g,
                                           __global float *y, const int N, const int F,
                                           const int K, const int P)
{
    const int i = get_global_id(0);
    if (i >= N * F * P) return;
    const int p = i % P, nf = i / P;
    float s = 0.0f;
    for (int k = 0; k < K; k++) s += g[nf * K + k] * e[(nf * K + k) * P + p];
    y[i] = s;
}

/* de[n, f*K + k, p] = dy[n, f, p] * g[n, f, k] */
__kernel void conv_moe_backward_experts_f32(__global const float *dy, __global const float *g,
                                            __global float *de, const int N, const int F,
                                            const int K, const int P)
{
    const int i = get_global_id(0);
    if (i >= N * F * K * P) return;
    const int p = i % P, nfk = i / P, nf = nfk / K;
    de[i] = dy[nf * P + p] * g[nfk];
}

/* dg[n, f, k] = sum_p dy[n, f, p] * e[n, f*K + k, p] */
__kernel void conv_moe_backward_gates_f32(__global const float *dy, __global const float *e,
                                          __global float *dg, const int N, const int F,
                                          const int K, const int P)
{
    const int i = get_global_id(0);
    if (i >= N * F * K) return;
    const int nf = i / K;
    float s = 0.0f;
    for (int p = 0; p < P; p++) s += dy[nf * P + p] * e[i * P + p];
    dg[i] = s;
}

/* The hierarchical head of the notebook: a binary gate's argmax chooses an
 * expert e for each image (a hard switch); that expert's sub-gate gives
 * 2C logits v, softmax over all 2C, read as w[c][0] (the baseline) and
 * w[c][1] (the expert), and P[c] = w[c][0] pb[c] + w[c][1] pe[c] with pb, pe
 * the softmax of the baseline's and the expert's logits. As Keras's
 * categorical cross-entropy, the loss normalises P: -log(P[y] / sum P).
 * Stacks: ze[e * zs + r * C + c], v[e * vs + r * 2C + j], r = slot[n], the
 * image's row among the images routed to e (n itself in dense evaluation). */
#define HIER_MAX_C 64
__kernel void hier_forward_f32(__global const float *a, __global const float *zb,
                               __global const float *ze, __global const float *v,
                               __global const int *slot, __global const int *labels, __global float *P,
                               __global int *route, __global float *loss, __global int *pred,
                               const int N, const int C, const int E, const int zs, const int vs)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    int e = 0;
    for (int k = 1; k < E; k++)
        if (a[n * E + k] > a[n * E + e]) e = k;
    route[n] = e;
    const int r = slot[n]; /* the image's row in its expert's (and sub-gate's) outputs */
    __global const float *b = zb + n * C, *x = ze + e * zs + r * C, *s = v + e * vs + r * 2 * C;
    float bmax = b[0], xmax = x[0], smax = s[0];
    for (int c = 1; c < C; c++) bmax = fmax(bmax, b[c]), xmax = fmax(xmax, x[c]);
    for (int j = 1; j < 2 * C; j++) smax = fmax(smax, s[j]);
    float bsum = 0.0f, xsum = 0.0f, ssum = 0.0f;
    for (int c = 0; c < C; c++) bsum += exp(b[c] - bmax), xsum += exp(x[c] - xmax);
    for (int j = 0; j < 2 * C; j++) ssum += exp(s[j] - smax);
    float total = 0.0f;
    int best = 0;
    for (int c = 0; c < C; c++) {
        const float w0 = exp(s[2 * c] - smax) / ssum, w1 = exp(s[2 * c + 1] - smax) / ssum;
        const float p = w0 * exp(b[c] - bmax) / bsum + w1 * exp(x[c] - xmax) / xsum;
        P[n * C + c] = p;
        total += p;
        if (p > P[n * C + best]) best = c;
    }
    const int y = labels[n];
    loss[n] = -log(fmax(P[n * C + y], 1e-30f) / total);
    pred[n] = best;
}

/* Gradients of the mean loss into the baseline's logits, every expert's
 * logits and every sub-gate's logits (zero for the images not routed to it). */
__kernel void hier_backward_f32(__global const float *zb, __global const float *ze,
                                __global const float *v, __global const int *slot,
                                __global const int *labels,
                                __global const float *P, __global const int *route,
                                __global float *dzb, __global float *dze, __global float *dv,
                                const int N, const int C, const int E, const int zs,
                                const int vs, const float scale)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    /* dze and dv are zeroed before; only the image's own rows are written */
    const int e = route[n], y = labels[n], r = slot[n];
    __global const float *b = zb + n * C, *x = ze + e * zs + r * C, *s = v + e * vs + r * 2 * C;
    float pb[HIER_MAX_C], px[HIER_MAX_C], w[2 * HIER_MAX_C], g[HIER_MAX_C];
    float bmax = b[0], xmax = x[0], smax = s[0];
    for (int c = 1; c < C; c++) bmax = fmax(bmax, b[c]), xmax = fmax(xmax, x[c]);
    for (int j = 1; j < 2 * C; j++) smax = fmax(smax, s[j]);
    float bsum = 0.0f, xsum = 0.0f, ssum = 0.0f, total = 0.0f;
    for (int c = 0; c < C; c++) bsum += exp(b[c] - bmax), xsum += exp(x[c] - xmax);
    for (int j = 0; j < 2 * C; j++) ssum += exp(s[j] - smax);
    for (int c = 0; c < C; c++) {
        pb[c] = exp(b[c] - bmax) / bsum;
        px[c] = exp(x[c] - xmax) / xsum;
        total += P[n * C + c];
    }
    for (int j = 0; j < 2 * C; j++) w[j] = exp(s[j] - smax) / ssum;
    /* dL/dP[c] = -[c == y] / P[y] + 1 / sum P */
    for (int c = 0; c < C; c++) g[c] = (c == y ? -1.0f / fmax(P[n * C + y], 1e-30f) : 0.0f) + 1.0f / total;
    /* through the 2C-way softmax of the sub-gate */
    float dot = 0.0f;
    for (int c = 0; c < C; c++) dot += w[2 * c] * g[c] * pb[c] + w[2 * c + 1] * g[c] * px[c];
    for (int c = 0; c < C; c++) {
        dv[e * vs + r * 2 * C + 2 * c] = scale * w[2 * c] * (g[c] * pb[c] - dot);
        dv[e * vs + r * 2 * C + 2 * c + 1] = scale * w[2 * c + 1] * (g[c] * px[c] - dot);
    }
    /* through the baseline's and the expert's softmax: dp[c] = g[c] w[c][.] */
    float db = 0.0f, dx = 0.0f;
    for (int c = 0; c < C; c++) db += g[c] * w[2 * c] * pb[c], dx += g[c] * w[2 * c + 1] * px[c];
    for (int c = 0; c < C; c++) {
        dzb[n * C + c] = scale * pb[c] * (g[c] * w[2 * c] - db);
        dze[e * zs + r * C + c] = scale * px[c] * (g[c] * w[2 * c + 1] - dx);
    }
}

/* Switch routing (top-1 with capacity), in one work item so that slots are
 * given in batch order, deterministically. p = softmax(a) per image; each
 * image goes to its argmax expert while that expert has fewer than
 * `capacity` images, else it is dropped (route -1). index[e * N + s] is the
 * image in slot s of expert e; counts[e] its images; counts[E] the drops;
 * counts[E + 1 + e] the images whose argmax is e (kept or not).
 * dense != 0: every expert takes every image (index = identity), for
 * measuring conditional computation against the dense evaluation. */
__kernel void switch_route_f32(__global const float *a, __global float *p, __global int *route,
                               __global int *slot, __global int *index, __global int *counts,
                               const int N, const int E, const int capacity, const int dense)
{
    if (get_global_id(0) != 0) return;
    for (int e = 0; e <= 2 * E; e++) counts[e] = 0;
    for (int n = 0; n < N; n++) {
        float mx = a[n * E];
        int best = 0;
        for (int e = 1; e < E; e++)
            if (a[n * E + e] > mx) mx = a[n * E + e], best = e;
        float s = 0.0f;
        for (int e = 0; e < E; e++) s += exp(a[n * E + e] - mx);
        for (int e = 0; e < E; e++) p[n * E + e] = exp(a[n * E + e] - mx) / s;
        counts[E + 1 + best]++;
        if (dense) {
            route[n] = best;
            slot[n] = n;
        } else if (counts[best] < capacity) {
            route[n] = best;
            slot[n] = counts[best];
            index[best * N + counts[best]] = n;
            counts[best]++;
        } else {
            route[n] = -1;
            slot[n] = -1;
            counts[E]++;
        }
    }
    if (dense)
        for (int e = 0; e < E; e++) {
            for (int n = 0; n < N; n++) index[e * N + n] = n;
            counts[e] = N;
        }
}

/* Each image's row of src to its expert's slot in the stacked layout of
 * switch_route_f32: Z[route[n] * zs + slot[n] * C + c] = src[n * C + c]; a
 * dropped image (route -1) writes nothing. */
__kernel void scatter_routed_rows_f32(__global const float *src, __global const int *route,
                                      __global const int *slot, __global float *Z, const int N,
                                      const int C, const int zs)
{
    const int i = get_global_id(0);
    if (i >= N * C) return;
    const int n = i / C, e = route[n];
    if (e >= 0) Z[e * zs + slot[n] * C + i % C] = src[i];
}

/* dst[r] = src[index[offset + r]] for rows of `cols` floats. */
__kernel void gather_rows_offset_f32(__global const float *src, __global const int *index,
                                     const int offset, __global float *dst, const int rows,
                                     const int cols)
{
    const int i = get_global_id(0);
    if (i >= rows * cols) return;
    dst[i] = src[index[offset + i / cols] * cols + i % cols];
}

/* dst[index[offset + r]] += src[r] for rows of `cols` floats (the rows of
 * one expert: no two items add to the same place). */
__kernel void scatter_add_rows_offset_f32(__global const float *src, __global const int *index,
                                          const int offset, __global float *dst, const int rows,
                                          const int cols)
{
    const int i = get_global_id(0);
    if (i >= rows * cols) return;
    dst[index[offset + i / cols] * cols + i % cols] += src[i];
}

/* y[n] = p[n, e] * z_e[slot[n]] (zero for a dropped image); expert outputs
 * stacked as Z[e * zs + slot * C + c]. */
__kernel void switch_combine_f32(__global const float *Z, __global const float *p,
                                 __global const int *route, __global const int *slot,
                                 __global float *y, const int N, const int E, const int C,
                                 const int zs)
{
    const int i = get_global_id(0);
    if (i >= N * C) return;
    const int n = i / C, c = i % C, e = route[n];
    y[i] = e < 0 ? 0.0f : p[n * E + e] * Z[e * zs + slot[n] * C + c];
}

/* Backward of the combination, the load-balancing loss w_aux * E * sum_i f_i P_i
 * (f_i: the share of images whose argmax is i, held constant; P_i: the mean
 * probability) and the router z-loss w_z * mean(logsumexp(a)^2):
 * dZ for the used slots (dZ zeroed before), and da. counts as switch_route_f32 wrote. */
__kernel void switch_backward_f32(__global const float *Z, __global const float *p,
                                  __global const float *a, __global const int *route,
                                  __global const int *slot, __global const float *dy,
                                  __global const int *counts, __global float *dZ,
                                  __global float *da, const int N, const int E, const int C,
                                  const int zs, const float w_aux, const float w_z)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    const int e = route[n];
    float dp[64];
    for (int k = 0; k < E; k++) dp[k] = w_aux * E * ((float)counts[E + 1 + k] / N) / N;
    if (e >= 0) {
        float s = 0.0f;
        for (int c = 0; c < C; c++) {
            const float z = Z[e * zs + slot[n] * C + c];
            s += dy[n * C + c] * z;
            dZ[e * zs + slot[n] * C + c] = p[n * E + e] * dy[n * C + c];
        }
        dp[e] += s;
    }
    float dot = 0.0f, mx = a[n * E], lse = 0.0f;
    for (int k = 0; k < E; k++) dot += p[n * E + k] * dp[k], mx = fmax(mx, a[n * E + k]);
    for (int k = 0; k < E; k++) lse += exp(a[n * E + k] - mx);
    lse = mx + log(lse);
    for (int k = 0; k < E; k++)
        da[n * E + k] = p[n * E + k] * (dp[k] - dot) + w_z * 2.0f * lse * p[n * E + k] / N;
}

/* Noisy top-k gating (Shazeer et al. 2017). The gate gives clean logits
 * c [N, E] and, with noise, raw noise scales r [N, E] (its output is then
 * [N, 2E]): H = c + eps * softplus(r) while training, eps ~ N(0, 1) from a
 * counter-based generator; H = c otherwise. Each image keeps its k largest
 * H, weighted by the softmax over those k (noise: cl/lib/random.cl). Experts get their images in batch
 * order (index, counts). With noise, P[n, i] = Phi((c_i - t) / softplus(r_i)),
 * t the k-th largest H of the others: the smooth load estimator. */
float softplus_f(float x) { return x > 20.0f ? x : log1p(exp(x)); }

/* The index of the rank-th largest (1-based) H over i != skip: whose H is
 * the threshold that expert skip must beat to be in the top k; -1 where
 * fewer than rank others exist (k = E: every expert is always chosen). */
int kth_largest_index(const float *H, const int E, const int rank, const int skip)
{
    int taken[64];
    int best = -1;
    for (int r = 0; r < rank; r++) {
        best = -1;
        for (int i = 0; i < E; i++) {
            if (i == skip) continue;
            bool used = false;
            for (int t = 0; t < r; t++) used |= taken[t] == i;
            if (!used && (best < 0 || H[i] > H[best])) best = i;
        }
        taken[r] = best;
    }
    return best;
}

/* H of one image: the clean logits, plus eps * softplus(raw scale) with noise. */
void noisy_logits(__global const float *gate_row, __global const float *eps_row, const int E,
                  const int noisy, float *H)
{
    for (int i = 0; i < E; i++)
        H[i] = gate_row[i] + (noisy ? eps_row[i] * softplus_f(gate_row[E + i]) : 0.0f);
}

__kernel void topk_route_f32(__global const float *gate, __global float *Uout,
                             __global float *eps_out, __global int *route, __global int *slot,
                             __global float *G, __global float *P, __global int *index,
                             __global int *counts, const int N, const int E, const int K,
                             const int noisy, const int add_noise, const uint seed,
                             const uint step, const int image_offset)
{
    if (get_global_id(0) != 0) return;
    const int W = noisy ? 2 * E : E;
    for (int e = 0; e < E; e++) counts[e] = 0;
    for (int n = 0; n < N; n++) {
        float H[64];
        for (int i = 0; i < E; i++) {
            eps_out[n * E + i] = noisy && add_noise ? rng_normal(seed, step, (uint)((image_offset + n) * E + i)) : 0.0f;
            Uout[n * E + i] = 0.0f;
        }
        noisy_logits(gate + n * W, eps_out + n * E, E, noisy, H);
        /* the k largest, in order */
        int chosen[64];
        for (int j = 0; j < K; j++) {
            int best = -1;
            for (int i = 0; i < E; i++) {
                bool used = false;
                for (int t = 0; t < j; t++) used |= chosen[t] == i;
                if (!used && (best < 0 || H[i] > H[best])) best = i;
            }
            chosen[j] = best;
        }
        float mx = H[chosen[0]], s = 0.0f;
        for (int j = 0; j < K; j++) s += exp(H[chosen[j]] - mx);
        for (int j = 0; j < K; j++) {
            const int e = chosen[j];
            route[n * K + j] = e;
            G[n * K + j] = exp(H[e] - mx) / s;
            slot[n * K + j] = counts[e];
            index[e * N + counts[e]] = n;
            counts[e]++;
        }
        for (int i = 0; noisy && i < E; i++) {
            /* i is in the top k when it beats the k-th largest of the others */
            const int j = kth_largest_index(H, E, K, i);
            const float sd = softplus_f(gate[n * W + E + i]);
            const float u = j < 0 ? 0.0f : (gate[n * W + i] - H[j]) / sd;
            P[n * E + i] = j < 0 ? 1.0f : 0.5f * erfc(-u / sqrt(2.0f));
            Uout[n * E + i] = u;
        }
    }
}

/* y[n] = sum_j G[n, j] z_{route[n, j]}[slot[n, j]] */
__kernel void topk_combine_f32(__global const float *Z, __global const int *route,
                               __global const int *slot, __global const float *G,
                               __global float *y, const int N, const int K, const int C,
                               const int zs)
{
    const int i = get_global_id(0);
    if (i >= N * C) return;
    const int n = i / C, c = i % C;
    float s = 0.0f;
    for (int j = 0; j < K; j++)
        s += G[n * K + j] * Z[route[n * K + j] * zs + slot[n * K + j] * C + c];
    y[i] = s;
}

/* The importance and load losses, w * CV^2 of per-expert sums, and their
 * gradients coefficients dI[e] = d loss / d importance_e (and dL for load).
 * out[0] = the auxiliary loss value. */
__kernel void topk_aux_f32(__global const int *route, __global const float *G,
                           __global const float *P, __global float *coef, __global float *out,
                           const int N, const int E, const int K, const int noisy,
                           const float w_imp, const float w_load)
{
    if (get_global_id(0) != 0) return;
    float I[64], L[64];
    for (int e = 0; e < E; e++) I[e] = 0.0f, L[e] = 0.0f;
    for (int n = 0; n < N; n++) {
        for (int j = 0; j < K; j++) I[route[n * K + j]] += G[n * K + j];
        for (int e = 0; noisy && e < E; e++) L[e] += P[n * E + e];
    }
    float total = 0.0f;
    for (int pass = 0; pass < 2; pass++) {
        float *x = pass == 0 ? I : L;
        const float w = pass == 0 ? w_imp : (noisy ? w_load : 0.0f);
        float m = 0.0f, v = 0.0f;
        for (int e = 0; e < E; e++) m += x[e] / E;
        for (int e = 0; e < E; e++) v += (x[e] - m) * (x[e] - m) / E;
        const float mm = fmax(m, 1e-10f);
        total += w * v / (mm * mm);
        for (int e = 0; e < E; e++)
            coef[pass * E + e] = w * (2.0f * (x[e] - m) / E / (mm * mm) - 2.0f * v / (mm * mm * mm * E));
    }
    out[0] = total;
}

/* Gradients: dZ for each choice, and into the gate's outputs (clean logits,
 * and raw noise scales when noisy) through the top-k softmax, the noise and
 * the load estimator: P_i = Phi((c_i - t_i) / sd_i) moves with c_i, with
 * sd_i, and with the threshold t_i = H_j of the other expert j that is the
 * k-th largest, whose c_j and noise scale r_j it reaches through H_j. */
__kernel void topk_backward_f32(__global const float *Z, __global const float *gate,
                                __global const float *eps_in, __global const int *route,
                                __global const int *slot, __global const float *G,
                                __global const float *P, __global const float *coef,
                                __global const float *U, __global const float *dy,
                                __global float *dZ, __global float *dgate, const int N,
                                const int E, const int K, const int C, const int zs,
                                const int noisy)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    const int W = noisy ? 2 * E : E;
    float dG[64], dH[64];
    float dot = 0.0f;
    for (int j = 0; j < K; j++) {
        const int e = route[n * K + j];
        float s = 0.0f;
        for (int c = 0; c < C; c++) {
            s += dy[n * C + c] * Z[e * zs + slot[n * K + j] * C + c];
            dZ[e * zs + slot[n * K + j] * C + c] = G[n * K + j] * dy[n * C + c];
        }
        dG[j] = s + coef[e];
        dot += G[n * K + j] * dG[j];
    }
    for (int i = 0; i < E; i++) dH[i] = 0.0f;
    for (int j = 0; j < K; j++) dH[route[n * K + j]] = G[n * K + j] * (dG[j] - dot);
    float dc[64], dr[64];
    for (int i = 0; i < E; i++) dc[i] = 0.0f, dr[i] = 0.0f;
    if (noisy) {
        float H[64];
        noisy_logits(gate + n * W, eps_in + n * E, E, noisy, H);
        for (int i = 0; i < E; i++) {
            const int j = kth_largest_index(H, E, K, i);
            if (j < 0) continue; /* always chosen: P = 1, no gradient */
            /* load: dP/dc = phi / sd, dP/dsd = -phi u / sd, dP/dt = -phi / sd */
            const float r = gate[n * W + E + i], sd = softplus_f(r), sig = 1.0f / (1.0f + exp(-r));
            const float u = U[n * E + i];
            const float a = coef[E + i] * exp(-0.5f * u * u) * 0.3989422804f / sd;
            dc[i] += a;
            dr[i] += -a * u * sig;
            dH[j] -= a;
        }
    }
    for (int i = 0; i < E; i++) {
        dgate[n * W + i] = dc[i] + dH[i];
        if (noisy) {
            const float r = gate[n * W + E + i], sig = 1.0f / (1.0f + exp(-r));
            dgate[n * W + E + i] = dr[i] + dH[i] * eps_in[n * E + i] * sig;
        }
    }
}

/* Soft mixture: the importance loss w * CV^2(I), I[e] = the sum over the
 * batch of expert e's gate weight (Shazeer et al. 2017), in one work item;
 * coef[e] = d loss / d I[e], which every image's weight g[n][e] shares. */
__kernel void soft_importance_f32(__global const float *g, __global float *coef,
                                  __global float *out, const int N, const int E, const float w)
{
    if (get_global_id(0) != 0) return;
    float I[64];
    for (int e = 0; e < E; e++) I[e] = 0.0f;
    for (int n = 0; n < N; n++)
        for (int e = 0; e < E; e++) I[e] += g[n * E + e];
    float m = 0.0f, v = 0.0f;
    for (int e = 0; e < E; e++) m += I[e] / E;
    for (int e = 0; e < E; e++) v += (I[e] - m) * (I[e] - m) / E;
    const float mm = fmax(m, 1e-10f);
    out[0] = w * v / (mm * mm);
    for (int e = 0; e < E; e++)
        coef[e] = w * (2.0f * (I[e] - m) / E / (mm * mm) - 2.0f * v / (mm * mm * mm * E));
}

/* Adds the importance loss's gradient to the gate's logits through the
 * softmax: da[n][k] += g[n][k] (coef[k] - sum_j g[n][j] coef[j]). */
__kernel void soft_importance_backward_f32(__global const float *g, __global const float *coef,
                                           __global float *da, const int N, const int E)
{
    const int n = get_global_id(0);
    if (n >= N) return;
    float dot = 0.0f;
    for (int e = 0; e < E; e++) dot += g[n * E + e] * coef[e];
    for (int e = 0; e < E; e++) da[n * E + e] += g[n * E + e] * (coef[e] - dot);
}
