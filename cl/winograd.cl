/* Winograd convolution F(m x m, 3 x 3) for 3x3 stride-1 layers (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
 *
 * An m x m block of outputs comes from an a x a tile of the input (a = m+2):
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * so the a*a products of each (filter, channel) pair replace the 9*m*m of
 * the plain convolution: 2.25x fewer multiplications for m = 2, 4x for m = 4.
 * The element-wise products summed over the channels are a*a independent
 * GEMMs, run by moecl's GEMM (engine/layers/conv2d_winograd.c):
 *   U[e] ([Fo, Ci]) = filter transform,  V[e] ([Ci, T]) = input transform,
 *   M[e] = U[e] V[e] ([Fo, T]),  e = 0 .. a*a-1, T = tiles of the batch.
 * m = 4 needs fractions in G; its rounding error stays near 1e-6 relative
 * for unit-scale data (tests/test_layers.c checks both against the host). */

/* The distance between the a*a matrices of V or M: their size rounded up
 * to 64 floats, plus 16, so that the a*a streams a work-item writes or
 * reads do not all fall on the same cache sets (a power-of-two distance
 * made the transforms 3x slower). engine/layers/conv2d_winograd.c agrees. */
#define WINO_PLANE(floats) (((floats) + 63) / 64 * 64 + 16)

/* The 1-D transforms, written out (zeros and ones cost nothing): each
 * reads its operand at p[0], p[st], p[2 st], ... and writes q likewise. */
#define WINO_BT2(p, st, q, sq)                                                       \
    do {                                                                             \
        const float d0 = (p)[0], d1 = (p)[st], d2 = (p)[2 * (st)], d3 = (p)[3 * (st)];      \
        (q)[0] = d0 - d2, (q)[sq] = d1 + d2, (q)[2 * (sq)] = d2 - d1, (q)[3 * (sq)] = d1 - d3; \
    } while (0)
#define WINO_AT2(p, st, q, sq)                                                       \
    do {                                                                             \
        const float m1 = (p)[st], m2 = (p)[2 * (st)];                                    \
        (q)[0] = (p)[0] + m1 + m2, (q)[sq] = m1 - m2 - (p)[3 * (st)];                        \
    } while (0)
#define WINO_G2(p, st, q, sq)                                                        \
    do {                                                                             \
        const float g0 = (p)[0], g1 = (p)[st], g2 = (p)[2 * (st)];                          \
        (q)[0] = g0, (q)[sq] = 0.5f * (g0 + g1 + g2), (q)[2 * (sq)] = 0.5f * (g0 - g1 + g2), \
        (q)[3 * (sq)] = g2;                                                            \
    } while (0)
#define WINO_BT4(p, st, q, sq)                                                       \
    do {                                                                             \
        const float d0 = (p)[0], d1 = (p)[st], d2 = (p)[2 * (st)], d3 = (p)[3 * (st)],       \
                    d4 = (p)[4 * (st)], d5 = (p)[5 * (st)];                              \
        (q)[0] = 4.0f * d0 - 5.0f * d2 + d4;                                           \
        (q)[sq] = d3 + d4 - 4.0f * (d1 + d2);                                          \
        (q)[2 * (sq)] = d4 - d3 + 4.0f * (d1 - d2);                                    \
        (q)[3 * (sq)] = d4 - d2 + 2.0f * (d3 - d1);                                    \
        (q)[4 * (sq)] = d4 - d2 + 2.0f * (d1 - d3);                                    \
        (q)[5 * (sq)] = 4.0f * d1 - 5.0f * d3 + d5;                                    \
    } while (0)
#define WINO_AT4(p, st, q, sq)                                                       \
    do {                                                                             \
        const float m1 = (p)[st], m2 = (p)[2 * (st)], m3 = (p)[3 * (st)], m4 = (p)[4 * (st)]; \
        const float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;      \
        (q)[0] = (p)[0] + s12 + s34, (q)[sq] = d12 + 2.0f * d34;                           \
        (q)[2 * (sq)] = s12 + 4.0f * s34, (q)[3 * (sq)] = d12 + 8.0f * d34 + (p)[5 * (st)]; \
    } while (0)
#define WINO_G4(p, st, q, sq)                                                        \
    do {                                                                             \
        const float g0 = (p)[0], g1 = (p)[st], g2 = (p)[2 * (st)];                          \
        (q)[0] = 0.25f * g0;                                                           \
        (q)[sq] = -(g0 + g1 + g2) / 6.0f, (q)[2 * (sq)] = -(g0 - g1 + g2) / 6.0f;        \
        (q)[3 * (sq)] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;                           \
        (q)[4 * (sq)] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;                           \
        (q)[5 * (sq)] = g2;                                                            \
    } while (0)

/* The weight gradient's: A y (m values to a) and G^T m (a values to 3). */
#define WINO_A2(p, st, q, sq)                                                        \
    do {                                                                             \
        const float y0 = (p)[0], y1 = (p)[st];                                       \
        (q)[0] = y0, (q)[sq] = y0 + y1, (q)[2 * (sq)] = y0 - y1, (q)[3 * (sq)] = -y1; \
    } while (0)
#define WINO_GT2(p, st, q, sq)                                                       \
    do {                                                                             \
        const float s12 = 0.5f * ((p)[st] + (p)[2 * (st)]);                          \
        (q)[0] = (p)[0] + s12, (q)[sq] = 0.5f * ((p)[st] - (p)[2 * (st)]);           \
        (q)[2 * (sq)] = s12 + (p)[3 * (st)];                                         \
    } while (0)
#define WINO_A4(p, st, q, sq)                                                        \
    do {                                                                             \
        const float y0 = (p)[0], y1 = (p)[st], y2 = (p)[2 * (st)], y3 = (p)[3 * (st)]; \
        (q)[0] = y0, (q)[sq] = y0 + y1 + y2 + y3, (q)[2 * (sq)] = y0 - y1 + y2 - y3;  \
        (q)[3 * (sq)] = y0 + 2.0f * y1 + 4.0f * y2 + 8.0f * y3;                      \
        (q)[4 * (sq)] = y0 - 2.0f * y1 + 4.0f * y2 - 8.0f * y3, (q)[5 * (sq)] = y3;  \
    } while (0)
#define WINO_GT4(p, st, q, sq)                                                       \
    do {                                                                             \
        const float m0 = (p)[0], m1 = (p)[st], m2 = (p)[2 * (st)], m3 = (p)[3 * (st)], \
                    m4 = (p)[4 * (st)], m5 = (p)[5 * (st)];                          \
        (q)[0] = 0.25f * m0 - (m1 + m2) / 6.0f + (m3 + m4) / 24.0f;                  \
        (q)[sq] = (m2 - m1) / 6.0f + (m3 - m4) / 12.0f;                              \
        (q)[2 * (sq)] = (m3 + m4 - m1 - m2) / 6.0f + m5;                             \
    } while (0)

/* U[e][f][c] = (G g G^T)[e] for the kernel g of output channel f and input
 * channel c: w[f][c] as stored, or (flip: the input gradient's convolution
 * of dy) w[c][f] turned by 180 degrees. 2-D (input channel, output channel). */
#define WINO_FILTER(M_, A_)                                                                     \
    __kernel void winograd##M_##_filter_f32(__global const float *w, __global float *U,         \
                                            const int Fo, const int Ci, const int flip)          \
    {                                                                                           \
        const int c = get_global_id(0), f = get_global_id(1);                                   \
        if (c >= Ci || f >= Fo) return;                                                         \
        float g[9], t[A_ * 3], u[A_ * A_];                                                      \
        for (int i = 0; i < 3; i++)                                                             \
            for (int j = 0; j < 3; j++)                                                         \
                g[i * 3 + j] = flip ? w[(((size_t)c * Fo + f) * 3 + 2 - i) * 3 + 2 - j]          \
                                    : w[(((size_t)f * Ci + c) * 3 + i) * 3 + j];                \
        for (int j = 0; j < 3; j++) WINO_G##M_(g + j, 3, (t + j), 3);  /* columns: t = G g */ \
        for (int r = 0; r < A_; r++) WINO_G##M_((t + r * 3), 1, (u + r * A_), 1); /* rows */   \
        const size_t plane = (size_t)Fo * Ci;                                                   \
        for (int e = 0; e < A_ * A_; e++) U[e * plane + (size_t)f * Ci + c] = u[e];             \
    }

/* V[e][c][t] = (B^T d B)[e] for the a x a input tile d of tile t (tiles of
 * m x m outputs, TW x TH per image, row-major, image after image) and
 * channel c; d is read from x ([n, Ci, H, W]) at rows ty*m-P.., zero
 * outside. 2-D (tile, input channel). */
#define WINO_INPUT(M_, A_)                                                                      \
    __kernel void winograd##M_##_input_f32(__global const float *x, __global float *V,           \
                                           const int Ci, const int H, const int W, const int P,  \
                                           const int TH, const int TW, const int T)              \
    {                                                                                           \
        const int t = get_global_id(0), c = get_global_id(1);                                   \
        if (t >= T || c >= Ci) return;                                                          \
        const int tx = t % TW, ty = t / TW % TH, n = t / (TW * TH);                             \
        const int h0 = ty * M_ - P, w0 = tx * M_ - P;                                           \
        __global const float *src = x + ((size_t)n * Ci + c) * H * W;                           \
        float d[A_ * A_], u[A_ * A_], v[A_ * A_];                                               \
        if (h0 >= 0 && w0 >= 0 && h0 + A_ <= H && w0 + A_ <= W) {                               \
            for (int i = 0; i < A_; i++)                                                        \
                for (int j = 0; j < A_; j++) d[i * A_ + j] = src[(h0 + i) * W + w0 + j];         \
        } else {                                                                                \
            for (int i = 0; i < A_; i++)                                                        \
                for (int j = 0; j < A_; j++) {                                                  \
                    const int h = h0 + i, w = w0 + j;                                           \
                    d[i * A_ + j] = h >= 0 && h < H && w >= 0 && w < W ? src[h * W + w] : 0.0f;  \
                }                                                                               \
        }                                                                                       \
        for (int j = 0; j < A_; j++) WINO_BT##M_((d + j), A_, (u + j), A_); /* u = B^T d */     \
        for (int r = 0; r < A_; r++) WINO_BT##M_((u + r * A_), 1, (v + r * A_), 1); /* u B */   \
        const size_t plane = WINO_PLANE((size_t)Ci * T);                                        \
        for (int e = 0; e < A_ * A_; e++) V[e * plane + (size_t)c * T + t] = v[e];              \
    }

/* y[n][f] at tile t's m x m outputs = A^T M[.][f][t] A (+ bias[f], then
 * max(0, .) with relu, a NaN kept); outputs past OH, OW are not stored.
 * 2-D (tile, output channel). */
#define WINO_OUTPUT(M_, A_)                                                                     \
    __kernel void winograd##M_##_output_f32(__global const float *Mt, __global float *y,         \
                                            __global const float *bias, const int use_bias,      \
                                            const int relu, const int Fo, const int OH,          \
                                            const int OW, const int TH, const int TW,            \
                                            const int T)                                         \
    {                                                                                           \
        const int t = get_global_id(0), f = get_global_id(1);                                   \
        if (t >= T || f >= Fo) return;                                                          \
        const int tx = t % TW, ty = t / TW % TH, n = t / (TW * TH);                             \
        const size_t plane = WINO_PLANE((size_t)Fo * T);                                        \
        float e[A_ * A_], u[M_ * A_], o[M_ * M_];                                               \
        for (int k = 0; k < A_ * A_; k++) e[k] = Mt[k * plane + (size_t)f * T + t];             \
        for (int j = 0; j < A_; j++) WINO_AT##M_((e + j), A_, (u + j), A_); /* u = A^T e */      \
        for (int r = 0; r < M_; r++) WINO_AT##M_((u + r * A_), 1, (o + r * M_), 1); /* u A */   \
        const float b = use_bias ? bias[f] : 0.0f;                                              \
        __global float *dst = y + ((size_t)n * Fo + f) * OH * OW;                               \
        for (int r = 0; r < M_; r++)                                                            \
            for (int s = 0; s < M_; s++) {                                                      \
                const int oh = ty * M_ + r, ow = tx * M_ + s;                                   \
                const float v = o[r * M_ + s] + b;                                              \
                if (oh < OH && ow < OW) dst[oh * OW + ow] = relu && !isnan(v) ? fmax(v, 0.0f) : v; \
            }                                                                                   \
    }

/* The weight gradient, dW = G^T [ sum over tiles (B^T d B) .* (A dy A^T) ] G:
 * D[e][f][t] = (A dy A^T)[e] for the m x m output gradient of tile t
 * (zeros past OH, OW), laid out as V. 2-D (tile, output channel). */
#define WINO_DY(M_, A_)                                                                         \
    __kernel void winograd##M_##_dy_f32(__global const float *dy, __global float *D,             \
                                        const int Fo, const int OH, const int OW, const int TH,  \
                                        const int TW, const int T)                               \
    {                                                                                           \
        const int t = get_global_id(0), f = get_global_id(1);                                   \
        if (t >= T || f >= Fo) return;                                                          \
        const int tx = t % TW, ty = t / TW % TH, n = t / (TW * TH);                             \
        __global const float *src = dy + ((size_t)n * Fo + f) * OH * OW;                        \
        float g[M_ * M_], u[A_ * M_], v[A_ * A_];                                               \
        for (int r = 0; r < M_; r++)                                                            \
            for (int s = 0; s < M_; s++) {                                                      \
                const int oh = ty * M_ + r, ow = tx * M_ + s;                                   \
                g[r * M_ + s] = oh < OH && ow < OW ? src[oh * OW + ow] : 0.0f;                  \
            }                                                                                   \
        for (int j = 0; j < M_; j++) WINO_A##M_((g + j), M_, (u + j), M_); /* A g: a x m */     \
        for (int r = 0; r < A_; r++) WINO_A##M_((u + r * M_), 1, (v + r * A_), 1); /* A^T */    \
        const size_t plane = WINO_PLANE((size_t)Fo * T);                                        \
        for (int e = 0; e < A_ * A_; e++) D[e * plane + (size_t)f * T + t] = v[e];              \
    }

/* dw[f][c] (3 x 3) = G^T Mw[.][f][c] G, Mw the a*a sums over the tiles laid
 * out as U. 2-D (input channel, output channel). */
#define WINO_DW(M_, A_)                                                                         \
    __kernel void winograd##M_##_dw_f32(__global const float *Mw, __global float *dw,            \
                                        const int Fo, const int Ci)                              \
    {                                                                                           \
        const int c = get_global_id(0), f = get_global_id(1);                                   \
        if (c >= Ci || f >= Fo) return;                                                         \
        const size_t plane = (size_t)Fo * Ci;                                                   \
        float e[A_ * A_], u[3 * A_], o[9];                                                      \
        for (int k = 0; k < A_ * A_; k++) e[k] = Mw[k * plane + (size_t)f * Ci + c];            \
        for (int j = 0; j < A_; j++) WINO_GT##M_((e + j), A_, (u + j), A_); /* G^T e: 3 x a */  \
        for (int r = 0; r < 3; r++) WINO_GT##M_((u + r * A_), 1, (o + r * 3), 1); /* G */       \
        for (int k = 0; k < 9; k++) dw[((size_t)f * Ci + c) * 9 + k] = o[k];                   \
    }

WINO_FILTER(2, 4)
WINO_FILTER(4, 6)
WINO_INPUT(2, 4)
WINO_INPUT(4, 6)
WINO_OUTPUT(2, 4)
WINO_OUTPUT(4, 6)
WINO_DY(2, 4)
WINO_DY(4, 6)
WINO_DW(2, 4)
WINO_DW(4, 6)
