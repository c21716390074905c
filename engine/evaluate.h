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
    /* mixtures: routing. The dominant expert of an image is its largest gate weight. */
    int n_experts;
    int routed[MODEL_MAX_PARTS][CIFAR_CLASSES]; /* images per dominant expert and true class */
    double share[MODEL_MAX_PARTS];              /* share of images per dominant expert */
    double mean_gate[MODEL_MAX_PARTS];          /* mean gate weight per expert */
    bool dead_expert;                           /* an expert dominates (almost) no image */
    bool collapsed;                             /* one expert dominates nearly every image */
    double gate_accuracy;                       /* hierarchical: routes to the class's group; -1 if none */
    int dropped;                                /* switch: images no expert had room for */
} eval_result;

/* The routing's shares, mean gate weights and warnings from each expert's
 * images (`routed`) and summed gate weights over `count` images (also
 * for the training batches' routing); r's other fields stay. */
void eval_routing_finish(eval_result *r, int n_experts, int count, const double *routed,
                         const double *gate_sum);
/* One line on routing ("" for models without a gate), after `label`:
 * shares and warnings. */
void eval_routing_summary(const model *m, const eval_result *r, const char *label, char *buf,
                          size_t size);

/* host_batch: a buffer of batch * 3072 floats the caller owns. */
moecl_status evaluate(model *net, const dataset *d, const normalizer *norm, float *host_batch,
                      eval_result *r);

/* Per-image results, each array d->count long (NULL: not wanted):
 * predictions, class probabilities [count][classes], and for a model with a
 * gate the expert each image went to (-1: dropped) and the gate weights
 * [count][n_experts]. */
typedef struct eval_images {
    int *pred;
    float *probs;
    int *expert;
    float *weights;
} eval_images;
moecl_status evaluate_images(model *net, const dataset *d, const normalizer *norm, float *host_batch,
                             eval_result *r, const eval_images *out);

/* Test-time augmentation levels by name: "none" / "flip" / "translate";
 * false if unknown. */
bool tta_parse(const char *s, int *level);
const char *tta_name(int level);

#endif
