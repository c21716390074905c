/* Evaluation of a network on a data set in eval mode: loss, accuracy,
 * per-class accuracy and the confusion matrix. */
#ifndef MOECL_EVALUATE_H
#define MOECL_EVALUATE_H

#include "data.h"
#include "model.h"

typedef struct eval_result {
    int count;
    double loss;     /* mean cross-entropy */
    double accuracy; /* 0..1 */
    int confusion[CIFAR_CLASSES][CIFAR_CLASSES]; /* [true][predicted] */
    int class_count[CIFAR_CLASSES];
    double class_accuracy[CIFAR_CLASSES];
    bool non_finite; /* a loss was NaN or infinite */
} eval_result;

/* host_batch: a buffer of batch * 3072 floats the caller owns. */
moecl_status evaluate(model *net, const dataset *d, const normalizer *norm, float *host_batch,
                      eval_result *r);

#endif
