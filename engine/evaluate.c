#include "evaluate.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

moecl_status evaluate(model *net, const dataset *d, const normalizer *norm, float *host_batch,
                      eval_result *r)
{
    memset(r, 0, sizeof *r);
    int B = net->batch;
    int *idx = malloc((size_t)B * sizeof *idx), *labels = malloc((size_t)B * sizeof *labels);
    int *pred = malloc((size_t)B * sizeof *pred);
    float *loss = malloc((size_t)B * sizeof *loss);
    moecl_status st = (idx && labels && pred && loss) ? MOECL_OK
                      : moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory");
    layer_run run = {.training = false};
    double total = 0;
    for (int start = 0; st == MOECL_OK && start < d->count; start += B) {
        int n = d->count - start < B ? d->count - start : B;
        for (int i = 0; i < n; i++) idx[i] = start + i;
        dataset_make_batch(d, idx, n, norm, NULL, NULL, host_batch, labels);
        st = moecl_tensor_upload_part(net->images, host_batch, (size_t)n * CIFAR_IMAGE_BYTES);
        if (st == MOECL_OK) st = model_set_labels(net, labels, n);
        if (st == MOECL_OK) st = model_forward(net, n, &run);
        if (st == MOECL_OK) st = model_read(net, n, loss, pred);
        for (int i = 0; st == MOECL_OK && i < n; i++) {
            if (!isfinite(loss[i])) r->non_finite = true;
            total += loss[i];
            r->confusion[labels[i]][pred[i]]++;
            r->class_count[labels[i]]++;
        }
    }
    if (st == MOECL_OK) {
        int correct = 0;
        for (int k = 0; k < CIFAR_CLASSES; k++) {
            correct += r->confusion[k][k];
            r->class_accuracy[k] = r->class_count[k] ? (double)r->confusion[k][k] / r->class_count[k] : 0;
        }
        r->count = d->count;
        r->loss = d->count ? total / d->count : 0;
        r->accuracy = d->count ? (double)correct / d->count : 0;
    }
    free(idx), free(labels), free(pred), free(loss);
    return st;
}
