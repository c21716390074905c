/* Softmax with categorical cross-entropy over [n, classes] logits, fused
 * and numerically stable, with its buffers made once per largest batch. */
#ifndef MOECL_LOSS_H
#define MOECL_LOSS_H

#include "moecl.h"

typedef struct softmax_ce {
    moecl_ctx *ctx;
    int batch, classes;
    moecl_tensor *probs;   /* [batch, classes] */
    moecl_tensor *loss;    /* [batch] per-example loss */
    moecl_tensor *pred;    /* [batch] predicted class (ints) */
    moecl_tensor *labels;  /* [batch] labels (ints), uploaded per batch */
    moecl_tensor *grad;    /* [batch, classes] gradient of the mean loss */
    float smoothing; /* label smoothing: the targets are (1 - s) onehot + s / K (0: none) */
} softmax_ce;

moecl_status softmax_ce_init(softmax_ce *s, moecl_ctx *ctx, int batch, int classes);
void softmax_ce_free(softmax_ce *s);
/* Uploads n labels (each checked to lie in 0..classes-1). */
moecl_status softmax_ce_set_labels(softmax_ce *s, const int *labels, int n);
moecl_status softmax_ce_forward(softmax_ce *s, const moecl_tensor *logits, int n);
/* Gradient of the mean loss over the n examples. */
moecl_status softmax_ce_backward(softmax_ce *s, int n);
/* Downloads the per-example loss and predictions of the last forward. */
moecl_status softmax_ce_read(softmax_ce *s, int n, float *loss, int *pred);

#endif
