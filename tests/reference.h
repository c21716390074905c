/* Plain C reference implementations of the layers, written for clarity
 * (direct loops, doubles), to check the device kernels against. */
#ifndef MOECL_REFERENCE_H
#define MOECL_REFERENCE_H

#include <math.h>
#include <stddef.h>

/* x [B, C, H, W], w [F, C, KH, KW], b [F] or NULL -> y [B, F, OH, OW] */
static inline void ref_conv2d(const float *x, const float *w, const float *b, float *y, int B,
                              int C, int H, int W, int F, int KH, int KW, int SH, int SW, int PH,
                              int PW, int OH, int OW)
{
    for (int n = 0; n < B; n++)
        for (int f = 0; f < F; f++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double s = b ? b[f] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < KH; i++)
                            for (int j = 0; j < KW; j++) {
                                int h = oh * SH - PH + i, ww = ow * SW - PW + j;
                                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                                s += (double)x[((n * C + c) * H + h) * W + ww] *
                                     w[((f * C + c) * KH + i) * KW + j];
                            }
                    y[((n * F + f) * OH + oh) * OW + ow] = (float)s;
                }
}

/* x [B, IN], w [IN, U], b [U] or NULL -> y [B, U] */
static inline void ref_dense(const float *x, const float *w, const float *b, float *y, int B,
                             int IN, int U)
{
    for (int n = 0; n < B; n++)
        for (int u = 0; u < U; u++) {
            double s = b ? b[u] : 0.0;
            for (int i = 0; i < IN; i++) s += (double)x[n * IN + i] * w[i * U + u];
            y[n * U + u] = (float)s;
        }
}

static inline void ref_maxpool(const float *x, float *y, int BC, int H, int W, int KH, int KW,
                               int SH, int SW, int PH, int PW, int OH, int OW)
{
    for (int bc = 0; bc < BC; bc++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float m = -INFINITY;
                for (int i = 0; i < KH; i++)
                    for (int j = 0; j < KW; j++) {
                        int h = oh * SH - PH + i, w = ow * SW - PW + j;
                        if (h < 0 || h >= H || w < 0 || w >= W) continue;
                        float v = x[(bc * H + h) * W + w];
                        if (v > m) m = v;
                    }
                y[(bc * OH + oh) * OW + ow] = m;
            }
}

static inline void ref_global_avgpool(const float *x, float *y, int BC, int P)
{
    for (int i = 0; i < BC; i++) {
        double s = 0;
        for (int p = 0; p < P; p++) s += x[i * P + p];
        y[i] = (float)(s / P);
    }
}

/* Training-mode batch norm over [B, C, P] with batch statistics. */
static inline void ref_batchnorm(const float *x, const float *gamma, const float *beta, float *y,
                                 float *mean_out, float *var_out, int B, int C, int P, float eps)
{
    for (int c = 0; c < C; c++) {
        double s = 0, s2 = 0;
        for (int n = 0; n < B; n++)
            for (int p = 0; p < P; p++) s += x[(n * C + c) * P + p];
        double mean = s / (B * P);
        for (int n = 0; n < B; n++)
            for (int p = 0; p < P; p++) {
                double d = x[(n * C + c) * P + p] - mean;
                s2 += d * d;
            }
        double var = s2 / (B * P);
        if (mean_out) mean_out[c] = (float)mean;
        if (var_out) var_out[c] = (float)var;
        for (int n = 0; n < B; n++)
            for (int p = 0; p < P; p++) {
                int i = (n * C + c) * P + p;
                y[i] = (float)(gamma[c] * (x[i] - mean) / sqrt(var + eps) + beta[c]);
            }
    }
}

/* DenseMoE: x [B, IN]; we [IN, U, K]; be [U, K] or NULL; wg [IN, K]; bg [K]
 * or NULL; expert_relu / gate (0 linear, 1 relu, 2 softmax) -> y [B, U]. */
static inline void ref_dense_moe(const float *x, const float *we, const float *be,
                                 const float *wg, const float *bg, float *y, int B, int IN, int U,
                                 int K, int expert_act, int gate_act)
{
    for (int n = 0; n < B; n++) {
        double g[64];
        for (int k = 0; k < K; k++) {
            double s = bg ? bg[k] : 0.0;
            for (int i = 0; i < IN; i++) s += (double)x[n * IN + i] * wg[i * K + k];
            g[k] = gate_act == 1 && s < 0 ? 0 : s;
        }
        if (gate_act == 2) {
            double mx = g[0], sum = 0;
            for (int k = 1; k < K; k++) mx = fmax(mx, g[k]);
            for (int k = 0; k < K; k++) sum += (g[k] = exp(g[k] - mx));
            for (int k = 0; k < K; k++) g[k] /= sum;
        }
        for (int u = 0; u < U; u++) {
            double out = 0;
            for (int k = 0; k < K; k++) {
                double s = be ? be[u * K + k] : 0.0;
                for (int i = 0; i < IN; i++) s += (double)x[n * IN + i] * we[(i * U + u) * K + k];
                if (expert_act == 1 && s < 0) s = 0;
                out += g[k] * s;
            }
            y[n * U + u] = (float)out;
        }
    }
}

/* Mean softmax cross-entropy of [B, K] logits; probs out. */
/* Mean cross-entropy against targets (1 - eps) onehot + eps / K (label
 * smoothing; eps 0: the plain loss). */
static inline double ref_softmax_ce_smoothed(const float *z, const int *labels, float *probs, int B,
                                             int K, double eps)
{
    double total = 0;
    for (int n = 0; n < B; n++) {
        double mx = z[n * K];
        for (int k = 1; k < K; k++) mx = fmax(mx, z[n * K + k]);
        double s = 0;
        for (int k = 0; k < K; k++) s += exp(z[n * K + k] - mx);
        for (int k = 0; k < K; k++) probs[n * K + k] = (float)(exp(z[n * K + k] - mx) / s);
        for (int k = 0; k < K; k++) {
            double q = (k == labels[n] ? 1.0 - eps : 0.0) + eps / K;
            total -= q * (z[n * K + k] - mx - log(s));
        }
    }
    return total / B;
}

static inline double ref_softmax_ce(const float *z, const int *labels, float *probs, int B, int K)
{
    return ref_softmax_ce_smoothed(z, labels, probs, B, K, 0.0);
}

#endif
