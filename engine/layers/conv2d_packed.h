/* The convolution's products on our packed GEMM kernels, fused at the
 * edges: im2col written straight into the packed panels, the output
 * written in NCHW with the bias added, the output gradient read in NCHW
 * (no permute kernels). conv2d.c runs these when the GEMM chosen for the
 * pass's shape (moecl_gemm_choose) is one of our variants, and its
 * im2col + GEMM + permute path otherwise (CLBlast). */
#ifndef MOECL_CONV2D_PACKED_H
#define MOECL_CONV2D_PACKED_H

#include "../internal.h"
#include "../layer.h"

moecl_status conv_packed_forward(layer *l, const moecl_tensor *x, int n, int variant);
/* dW (split into chunks of `chunk` output pixels, summed in scratch 0,
 * when `parts` > 1) and the bias gradient. */
moecl_status conv_packed_weight_gradient(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                         int n, int variant, size_t chunk, size_t parts);
/* dX: at stride 1 a convolution of dy with the flipped kernel (scratch 1);
 * otherwise W^T dy into workspace 0, then col2im into l->grad_input. */
moecl_status conv_packed_input_gradient(layer *l, const moecl_tensor *dy, int n, int variant);

#endif
