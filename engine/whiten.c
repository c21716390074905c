/* A whitening convolution's weights from the training images (airbench's
 * first layer): the second moments of every kh x kw patch of the
 * normalised images, their eigen-directions v_i with eigenvalues l_i, and
 * the filters v_i / sqrt(l_i + eps) and their negatives, largest first.
 * Each filter's response then has unit variance over the training
 * patches, and the pair of signs lets the activation after it keep both
 * halves. The layer is fixed (cfg.fixed): it learns nothing afterwards. */
#include "whiten.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* Eigen-decomposition of the symmetric d x d matrix a (destroyed) by
 * cyclic Jacobi rotations: eigenvalues into val, eigenvectors as the
 * columns of vec (d x d, row-major). Plenty for d of a few dozen. */
void whiten_eigen(double *a, int d, double *val, double *vec)
{
    for (int i = 0; i < d * d; i++) vec[i] = i / d == i % d;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, total = 0;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                total += a[i * d + j] * a[i * d + j];
                if (i != j) off += a[i * d + j] * a[i * d + j];
            }
        if (off <= 1e-30 * total || off == 0) break;
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) {
                double apq = a[p * d + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < d; k++) { /* a = a R: columns p and q */
                    double akp = a[k * d + p], akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for (int k = 0; k < d; k++) { /* a = R^T a: rows p and q */
                    double apk = a[p * d + k], aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < d; k++) {
                    double vkp = vec[k * d + p], vkq = vec[k * d + q];
                    vec[k * d + p] = c * vkp - s * vkq;
                    vec[k * d + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < d; i++) val[i] = a[i * d + i];
}

/* Adds the outer products of every kh x kw patch (stride 1, inside the
 * image) of n images [n][C][H][W] to cov (d x d, d = C kh kw, patch
 * order c, y, x as a kernel's); returns the patches counted. */
static long add_patch_moments(const float *img, int n, int C, int H, int W, int kh, int kw,
                              double *cov)
{
    int d = C * kh * kw;
    double patch[WHITEN_MAX_DIM];
    long count = 0;
    for (int i = 0; i < n; i++)
        for (int y = 0; y + kh <= H; y++)
            for (int x = 0; x + kw <= W; x++, count++) {
                const float *base = img + (size_t)i * C * H * W;
                for (int c = 0, k = 0; c < C; c++)
                    for (int u = 0; u < kh; u++)
                        for (int v = 0; v < kw; v++)
                            patch[k++] = base[((size_t)c * H + y + u) * W + x + v];
                for (int a = 0; a < d; a++)
                    for (int b = a; b < d; b++) cov[a * d + b] += patch[a] * patch[b];
            }
    return count;
}

moecl_status whiten_kernel(const float *images, int n, int C, int H, int W, int kh, int kw,
                           double eps, float *kernel)
{
    int d = C * kh * kw;
    if (d > WHITEN_MAX_DIM)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "a whitening convolution's patch of %d values is "
                          "more than the %d it supports", d, WHITEN_MAX_DIM);
    double *cov = calloc((size_t)d * d, sizeof *cov), *vec = malloc((size_t)d * d * sizeof *vec);
    double *val = malloc((size_t)d * sizeof *val);
    int *order = malloc((size_t)d * sizeof *order);
    if (!cov || !vec || !val || !order) {
        free(cov), free(vec), free(val), free(order);
        return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    long count = add_patch_moments(images, n, C, H, W, kh, kw, cov);
    for (int a = 0; a < d; a++)
        for (int b = 0; b <= a; b++) cov[a * d + b] = cov[b * d + a] /= (double)(count ? count : 1);
    whiten_eigen(cov, d, val, vec);
    for (int i = 0; i < d; i++) order[i] = i;
    for (int i = 1; i < d; i++) /* largest eigenvalue first */
        for (int j = i; j > 0 && val[order[j]] > val[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (int f = 0; f < d; f++) {
        int e = order[f];
        double norm = 1.0 / sqrt((val[e] > 0 ? val[e] : 0) + eps);
        for (int k = 0; k < d; k++) {
            kernel[(size_t)f * d + k] = (float)(vec[k * d + e] * norm);
            kernel[(size_t)(f + d) * d + k] = -(float)(vec[k * d + e] * norm);
        }
    }
    free(cov), free(vec), free(val), free(order);
    return MOECL_OK;
}

moecl_status whiten_model(model *m, const dataset *d, const normalizer *norm, int max_images)
{
    int n = d->count < max_images ? d->count : max_images;
    float *images = NULL;
    int *idx = NULL, *labels = NULL;
    moecl_status st = MOECL_OK;
    for (int p = 0; p < m->n_parts && st == MOECL_OK; p++) {
        layer *l = m->parts[p]->layers[0];
        if (l->kind != LAYER_CONV2D || !l->cfg.whiten) continue;
        if (n < 1)
            return moecl_fail(MOECL_ERR_INVALID_ARG, "layer %s: a whitening convolution needs "
                              "training images to measure", l->name);
        if (!images) { /* the first n training images, normalised, no augmentation */
            images = malloc((size_t)n * CIFAR_IMAGE_BYTES * sizeof *images);
            idx = malloc((size_t)n * sizeof *idx);
            labels = malloc((size_t)n * sizeof *labels);
            if (!images || !idx || !labels) {
                st = moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
                break;
            }
            for (int i = 0; i < n; i++) idx[i] = i;
            dataset_make_batch(d, idx, n, norm, NULL, NULL, images, labels, NULL);
        }
        moecl_param *kernel = &l->params[0];
        float *w = malloc(kernel->value->count * sizeof *w);
        if (!w) {
            st = moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory");
            break;
        }
        st = whiten_kernel(images, n, l->in.c, l->in.h, l->in.w, l->cfg.kh, l->cfg.kw,
                          l->cfg.whiten_eps, w);
        if (st == MOECL_OK) st = moecl_tensor_upload(kernel->value, w, kernel->value->count);
        free(w);
    }
    free(images), free(idx), free(labels);
    return st;
}
