/* The convolution's passes on our kernels (cl/gemm), each two ways:
 *  - im2col: the column matrix written straight into packed panels, the
 *    product written in NCHW with the bias (no permute kernels);
 *  - direct: no column matrix at all; the input is copied once with its
 *    zero border and read in place (stride 1 for the forward pass and the
 *    input gradient, whose output width must be a multiple of NR or half
 *    of it).
 * conv2d.c measures which way, and which of our parameter sets or CLBlast,
 * runs each pass. Scratch slots of the layer: 0 the weight gradient's
 * partial sums, 1 the flipped kernel, 2 the bordered input, 3 the
 * bordered output gradient. */
#ifndef MOECL_CONV2D_PACKED_H
#define MOECL_CONV2D_PACKED_H

#include "../internal.h"
#include "../layer.h"

/* Whether the direct way can run a pass (the forward pass: out_h x out_w
 * is the output's size; the input gradient: the input's). */
bool conv_direct_fits(const layer *l, int variant, int out_h, int out_w);
moecl_status conv_packed_forward(layer *l, const moecl_tensor *x, int n, int variant, bool direct);
/* The bias gradient (the sums of dy per channel), when the layer has a bias. */
moecl_status conv_bias_gradient(layer *l, const moecl_tensor *dy, int n);
/* dW (in `parts` chunks of `chunk` output pixels summed in scratch 0 when
 * parts > 1) and the bias gradient. */
moecl_status conv_packed_weight_gradient(layer *l, const moecl_tensor *x, const moecl_tensor *dy,
                                         int n, int variant, bool direct, size_t chunk, size_t parts);
/* dX: at stride 1 a convolution of dy with the flipped kernel; otherwise
 * W^T dy into workspace 0, then col2im into l->grad_input. */
moecl_status conv_packed_input_gradient(layer *l, const moecl_tensor *dy, int n, int variant,
                                        bool direct);

#endif
