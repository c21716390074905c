/* A model: one or more named parts (networks reading the same image) and a
 * head that turns their outputs into class probabilities and a loss:
 *  - single: one part whose logits go through a fused softmax cross-entropy;
 *  - soft mixture: a gate part gives softmax weights over expert parts, and
 *    the prediction is the weighted sum of the experts' class probabilities
 *    (the flat MoE of the source article, with the gate looking at the image).
 * Models come from JSON model files (model_file.c). */
#ifndef MOECL_MODEL_H
#define MOECL_MODEL_H

#include "loss.h"
#include "network.h"

/* Parts of a model: up to 64 experts, and for the hierarchical head a
 * sub-gate each, with a gate and a baseline. 64 experts is the routing
 * kernels' limit (cl/moe.cl keeps a value per expert in private arrays). */
#define MODEL_MAX_EXPERTS 64
#define MODEL_MAX_PARTS (2 * MODEL_MAX_EXPERTS + 2)

typedef enum model_head {
    HEAD_SINGLE,
    HEAD_SOFT_MIXTURE,
    HEAD_HIERARCHICAL,
    HEAD_SWITCH,
    HEAD_TOPK
} model_head;

/* A training stage: which parts learn (the rest frozen), on which classes,
 * for how long. A stage that trains one part other than a sub-gate trains
 * it alone, on its own outputs (the gate on its groups, as a binary task);
 * any other stage trains through the model's head. */
typedef struct model_stage {
    char name[64];
    bool train_parts[MODEL_MAX_PARTS]; /* which parts learn */
    unsigned classes;      /* bit per class */
    int epochs, patience;  /* 0: the run's options */
    int alone;             /* the part trained alone, or -1 */
} model_stage;

#define MODEL_MAX_STAGES 8

/* Test-time augmentation: none, flips, flips and 1-pixel translations. */
enum { TTA_NONE, TTA_FLIP, TTA_TRANSLATE };

typedef struct model {
    char name[64];
    char description[1024];
    char *recipe;                   /* the model file's "recipe" as JSON text (NULL: none) */
    shape3 input;
    int classes;
    network *parts[MODEL_MAX_PARTS];
    int n_parts;
    model_head head;
    int gate;                       /* soft mixture: the gate's part index */
    int experts[MODEL_MAX_PARTS];   /* soft mixture: the experts' part indices */
    int n_experts;
    int baseline;                   /* hierarchical: the baseline's part index */
    int subgates[MODEL_MAX_PARTS];  /* hierarchical: each expert's sub-gate */
    int group_of_class[64];         /* hierarchical: the expert (group) of each class */
    float capacity_factor;          /* switch: slots per expert = ceil(factor * n / E) in training */
    float eval_capacity_factor;     /* switch: the same in evaluation; 0 = every image kept */
    float aux_weight, z_weight;     /* switch: load-balancing loss and router z-loss */
    bool dense_eval;                /* switch: every expert on every image (for comparison) */
    int trunk;                      /* switch, top-k: a part run first on every image, whose
                                     * output the gate and the experts read (-1: none; they
                                     * read the image) */
    int topk;                       /* top-k: experts per image */
    bool noisy;                     /* top-k: noisy gating while training (gate gives 2E outputs) */
    bool lazy_experts;              /* routed: an idle expert's gradients are not cleared */
    int tta;                        /* evaluation: test-time augmentation (TTA_FLIP: each
                                     * image's class probabilities averaged with its mirror
                                     * image's; TTA_TRANSLATE: and 1-pixel shifts) */
    float label_smoothing;          /* training targets (1 - s) onehot + s / K (heads whose
                                     * loss is a softmax cross-entropy: model_smoothing_applies) */
    float importance_weight, load_weight; /* top-k: CV^2 losses */
    float aux_value;                /* top-k: the last step's auxiliary loss */
    int expert_counts[2 * MODEL_MAX_PARTS + 1]; /* switch: last forward's counts (see moe.cl) */
    model_stage stages[MODEL_MAX_STAGES];
    int n_stages;
    int stage;                      /* the active stage, -1 for the whole model */
    /* expert placement (model_place_experts, before model_setup): the
     * device a part lives on; NULL: the model's own (ctx) */
    moecl_ctx *part_ctx[MODEL_MAX_PARTS];
    /* after model_setup */
    moecl_ctx *ctx;
    int batch;
    moecl_tensor *images;           /* [batch, C*H*W]: the caller uploads images here */
    softmax_ce loss;                /* labels, per-example loss, predictions, probabilities */
    moecl_tensor *stacked, *dstacked; /* soft: expert logits [K, batch, classes] and gradients */
    moecl_tensor *gates, *resp, *dgate; /* soft: [batch, K] */
    moecl_tensor *dexpert[MODEL_MAX_PARTS]; /* soft, hierarchical: each expert's output gradient */
    moecl_tensor *subgate_out, *dsubgate_out; /* hierarchical: sub-gate logits [E, batch, 2C] */
    moecl_tensor *dsub[MODEL_MAX_PARTS];      /* hierarchical: each sub-gate's output gradient */
    moecl_tensor *dbaseline, *route;          /* hierarchical: [batch, C], [batch] (ints) */
    softmax_ce part_loss[MODEL_MAX_PARTS];    /* stages that train a part alone */
    moecl_tensor *expert_in[MODEL_MAX_PARTS]; /* switch: each expert's gathered images */
    moecl_tensor *dtrunk;                     /* the trunk's output gradient [batch, its size] */
    moecl_tensor *relay;   /* placed experts: rows on the model's device on their way to or
                            * from an expert's ([batch, the larger of input and classes]) */
    float *host_relay;     /* the same rows in host memory, between two devices */
    moecl_tensor *probs, *slot, *index, *counts, *mixed; /* switch routing; mixed: [batch, C] logits */
    moecl_tensor *kgate, *kroute, *kslot, *kload, *ku, *keps, *kcoef, *kaux; /* top-k routing */
    int *mapped_labels;                       /* [batch]: labels as a stage sees them */
    struct expert_exchange *exchange; /* --expert-parallel (expert_exchange.h); NULL: off */
    struct frozen_cache *cache;  /* hierarchical sub-gate stage: the frozen parts' outputs */
    const int *cache_rows;       /* set for a training step: the batch's rows in the cache */
} model;

/* The text of a model: a file path (a .safetensors checkpoint gives the
 * model it was trained as), else a built-in preset name
 * (assets/models/NAME.json). Free with free(). */
moecl_status model_source(const char *spec, char **text);
int model_preset_count(void);
const char *model_preset_name(int i);

/* Parses a model file; errors name the file, the part, the layer, the field. */
moecl_status model_parse(const char *json, const char *origin, model **out);
moecl_status model_load(const char *spec, model **out);
void model_free(model *m);

/* Expert parallelism: the mixture's experts on the n devices of ctxs, round
 * robin (expert k on ctxs[k % n]; a hierarchical expert's sub-gate with it);
 * the gates, a trunk, a baseline and the combination stay on the model's
 * device, and only each expert's rows cross. A part a stage trains alone is
 * scored where it lives. Before model_setup. */
moecl_status model_place_experts(model *m, moecl_ctx *const *ctxs, int n);
/* Waits for every device the model lives on. */
moecl_status model_finish(model *m);
/* Allocates every buffer for the largest batch and initialises the weights
 * from seed. */
moecl_status model_setup(model *m, moecl_ctx *ctx, int batch, uint64_t seed);
/* Uploads n labels (checked to be classes); in a stage that trains the
 * gate alone, each label becomes its group's index. */
moecl_status model_set_labels(model *m, const int *labels, int n);
/* The target the active stage trains towards for a class label: the
 * group's index when the gate trains alone, else the label. */
int model_target(const model *m, int label);
/* Makes stage s (0..n_stages-1) active, or the whole model (-1): freezes
 * every part that does not learn in it. */
moecl_status model_set_stage(model *m, int s);
/* Every part, then the head and the loss, over the n images in m->images. */
moecl_status model_forward(model *m, int n, const layer_run *run);
/* Gradients of the mean loss into every trainable parameter. */
moecl_status model_backward(model *m, int n);
/* Every model with a gate: each image's gate weights over the experts
 * [n, n_experts] in the last forward. Soft: the softmax weights; switch:
 * the router's probabilities; top-k: the chosen experts' weights, 0 for
 * the others; hierarchical: the binary gate's probabilities; a DenseMoE
 * layer's: its gating activation's. */
moecl_status model_read_gates(model *m, int n, float *gates);
/* Every model with a gate: the expert each image went to (the route of a
 * hard or top-k gate, -1 when dropped; a soft gate's largest weight) and
 * the gate weights [n, n_experts]. */
moecl_status model_read_choice(model *m, int n, int *expert, float *weights);
/* The experts whose routing is counted (evaluation, training batches): a
 * soft mixture's, a hierarchical, switch or top-k model's trained or
 * evaluated whole, a DenseMoE layer's in a plain model; 0 for every other
 * model and for a stage. */
int model_routed_experts(const model *m);
/* A plain model's gate inside a layer: its first DenseMoE layer (NULL: none,
 * or a model-level gate). Its experts are counted and drawn as a soft
 * mixture's: "expert_1"... */
const layer *model_layer_gate(const model *m);
/* The gate weighs every expert (a soft mixture, a DenseMoE layer). */
bool model_gate_is_soft(const model *m);
/* Expert k's name: its part's, or "expert_<k+1>" of a layer gate (in buf). */
const char *model_expert_name(const model *m, int k, char *buf, size_t size);
/* The classes the active stage's loss scores (the model's, or a stage's
 * targets): the width of model_read_probs's rows. */
int model_output_classes(const model *m);
/* Class probabilities [n, classes] of the last forward. */
moecl_status model_read_probs(model *m, int n, float *probs);
/* Hierarchical and switch: the expert each of the n images went to in the
 * last forward (-1: dropped by a full expert); top-k: its first choice. */
moecl_status model_read_route(model *m, int n, int *route);
/* Routed heads (switch, top-k, hierarchical): whether part `part` is an
 * expert (or a hierarchical sub-gate) that got no image in the last
 * forward; false for every other part and head. */
bool model_part_idle(const model *m, int part);
/* Whether label smoothing applies to the model's training loss: a single
 * network, switch and top-k heads, and stages that train a part alone (the
 * soft and hierarchical heads have losses of their own). */
bool model_smoothing_applies(const model *m);
/* Lazy experts: an idle expert's gradients are left as they are in the
 * backward pass (not cleared), for a training loop that gives it no step. */
void model_set_lazy_experts(model *m, bool lazy);

/* Per-example loss and predicted class of the last forward. */
moecl_status model_read(model *m, int n, float *loss, int *pred);

/* Every parameter, named "<layer>.<param>" (single part) or
 * "<part>.<layer>.<param>"; free(*list). */
typedef struct model_param {
    moecl_param *param;
    const layer *owner; /* frozen in the active stage: no gradient, no update */
    int part;           /* the part it belongs to */
    char name[160];
} model_param;
moecl_status model_params(const model *m, model_param **list, int *count);

size_t model_param_count(const model *m);
uint64_t model_flops_per_image(const model *m);
void model_print(const model *m, FILE *out);

#endif
