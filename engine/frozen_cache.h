/* The outputs of a hierarchical model's frozen parts, computed once per
 * stage. When a stage trains only the sub-gates, the baseline, the binary
 * gate and the experts are frozen and run as evaluated (no dropout), so
 * their outputs are a function of the image alone: three VGG forwards per
 * image and step become one pass over the training set (two with flips:
 * each image as is and mirrored) and a table lookup. Random crops make too
 * many variants to keep; the stage then runs every part as usual. The
 * validation images get rows too, so that each epoch's validation reads the
 * table as well; the test set always runs the whole model. */
#ifndef MOECL_FROZEN_CACHE_H
#define MOECL_FROZEN_CACHE_H

#include "data.h"
#include "model.h"

#include <stdio.h>

typedef struct frozen_cache {
    int images;      /* training images; row i + images is image i mirrored */
    int rows;        /* images (2 x images when mirrors are kept), then val_count */
    const dataset *val; /* the validation set the table covers (NULL: none) */
    int val_first;      /* its first row */
    float *baseline; /* [rows, classes]: the baseline's outputs */
    float *gate;     /* [rows, experts]: the binary gate's outputs */
    float *chosen;   /* [rows, classes]: the outputs of the expert the gate chose */
    float *staged;   /* one batch of the three, on the host before upload */
    moecl_tensor *chosen_batch; /* [batch, classes] on the device */
} frozen_cache;

/* Whether the active stage trains only the sub-gates of a hierarchical model. */
bool frozen_cache_applies(const model *m);
/* Computes the table for every image of `train` (and its mirror image when
 * `mirrored`) and of `val` (may be NULL) in batches through the model's own
 * buffers, into m->cache. `val` must outlive the table.
 * `host` holds a batch of images, `labels` a batch of labels. A Ctrl-C
 * (moecl_interrupted) stops it with *stopped set and no table kept. */
moecl_status frozen_cache_build(model *m, const dataset *train, const dataset *val,
                                const normalizer *norm, bool mirrored, float *host, int *labels,
                                FILE *log, bool *stopped);
/* The cache row of image `index` of the training set, mirrored or not. */
int frozen_cache_row(const frozen_cache *c, int index, bool mirrored);
/* The cache row of image `index` of data set d when d is the validation set
 * the table covers; -1 otherwise (evaluate runs the whole model). */
int frozen_cache_eval_row(const frozen_cache *c, const dataset *d, int index);
/* Writes the rows' outputs where the forward pass leaves them: the
 * baseline's and the gate's outputs, and c->chosen_batch. */
moecl_status frozen_cache_upload(model *m, const int *rows, int n);
void frozen_cache_free(model *m);

#endif
