/* The convolution's forward pass and input gradient by Winograd's minimal
 * filtering, F(m x m, 3 x 3) with m = 2 or 4 (cl/winograd.cl): for 3x3
 * stride-1 layers, the input and the kernel transformed into (m+2)^2
 * matrices whose products (one strided-batched GEMM, moecl's choice of
 * GEMM) transform back into the output; the weight gradient the same
 * way round (the tiles' sum a product along the tiles). Buffers: workspace 0 the
 * transformed input, workspace 1 the products, scratch 4 the transformed
 * kernel. conv2d.c measures it against the other ways. */
#ifndef MOECL_CONV2D_WINOGRAD_H
#define MOECL_CONV2D_WINOGRAD_H

#include "../internal.h"
#include "../layer.h"

/* 3x3, stride 1, the same padding on every side (at most 2). */
bool conv_winograd_shape(const layer *l);
/* The shape, and the buffers were reserved at set-up. */
bool conv_winograd_fits(const layer *l);
/* At set-up, for a layer of that shape: the buffers of all passes for both
 * m, for batches of up to l->batch images; none where they would take more
 * than a sixteenth of the device memory or a quarter of what is left (the
 * layer then goes without). */
moecl_status conv_winograd_reserve(layer *l);
moecl_status conv_winograd_forward(layer *l, const moecl_tensor *x, int n, int m);
moecl_status conv_winograd_input_gradient(layer *l, const moecl_tensor *dy, int n, int m);
/* dW = G^T [sum over tiles (B^T d B) .* (A dy A^T)] G, and the bias gradient. */
moecl_status conv_winograd_weight_gradient(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                           int n, int m);

#endif
