/* Whitening convolutions (model file "init": "whiten"): weights measured
 * on the training images' patches at the start of a run, then fixed. */
#ifndef MOECL_WHITEN_H
#define MOECL_WHITEN_H

#include "data.h"
#include "model.h"

#define WHITEN_MAX_DIM 75 /* channels x window: 3 x 5 x 5 */
/* added to each eigenvalue: keeps the flattest directions from blowing up
 * (airbench's value; a model file's "whiten_eps" overrides it) */
#define WHITEN_EPS 5e-4f
#define WHITEN_IMAGES 5000 /* training images measured (airbench's count) */

/* Eigenvalues (val) and eigenvectors (the columns of vec) of the symmetric
 * d x d matrix a, which it destroys. */
void whiten_eigen(double *a, int d, double *val, double *vec);
/* The 2 C kh kw filters [2d][C][kh][kw] whitening the kh x kw patches of n
 * images [n][C][H][W]: the eigen-directions scaled to unit variance,
 * largest first, then their negatives. */
moecl_status whiten_kernel(const float *images, int n, int C, int H, int W, int kh, int kw,
                           double eps, float *kernel);
/* Every part whose first layer is a whitening convolution: its kernel from
 * the first max_images images of d. */
moecl_status whiten_model(model *m, const dataset *d, const normalizer *norm, int max_images);

#endif
