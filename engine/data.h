/* CIFAR-10 data: the binary reader (strict), where the files are found or
 * downloaded to, a learnable synthetic set in the same layout, splits,
 * shuffling, per-channel normalisation and augmentation into float batches. */
#ifndef MOECL_DATA_H
#define MOECL_DATA_H

#include "moecl.h"

#define CIFAR_IMAGE_BYTES 3072
#define CIFAR_RECORD_BYTES 3073
#define CIFAR_RECORDS_PER_FILE 10000
#define CIFAR_CLASSES 10

extern const char *const CIFAR_CLASS_NAMES[CIFAR_CLASSES];

typedef struct dataset {
    int count;
    uint8_t *labels; /* [count] */
    uint8_t *pixels; /* [count][3][32][32], channel planes as in the files */
} dataset;

void dataset_free(dataset *d);
/* Appends the records of one CIFAR-10 binary file: a size that is not a
 * multiple of 3,073 bytes, or a label outside 0..9, is an error naming the
 * file and the record; nothing is read past what was checked. At most
 * `limit` records are taken when limit > 0. */
moecl_status cifar10_read_file(const char *path, dataset *d, int limit);
/* The five training files (train) or the test file, up to limit records. */
moecl_status cifar10_load(const char *dir, bool train, int limit, dataset *d);
/* Finds the data: dir, else $MOECL_DATA, else ./data/cifar-10-batches-bin,
 * else downloads it there (md5-checked). Writes the directory used. */
moecl_status cifar10_locate(const char *dir, char *out, size_t size);
/* Checks every file of a directory against the published md5 sums. */
moecl_status cifar10_verify(const char *dir);

/* A learnable synthetic set: each class is a fixed random colour pattern
 * plus noise, in CIFAR's layout. */
moecl_status dataset_synthetic(int count, uint64_t seed, dataset *d);
/* Moves the last `count` examples of d into the empty set `tail` (a
 * validation split). */
moecl_status dataset_split_tail(dataset *d, int count, dataset *tail);
/* Copies the examples whose label is in the mask (bit per class) into the
 * empty set `out`. */
moecl_status dataset_subset(const dataset *d, unsigned class_mask, dataset *out);
/* Keeps only examples whose label is in the mask (bit per class). */
moecl_status dataset_filter_classes(dataset *d, unsigned class_mask);

typedef struct normalizer {
    float mean[3], std[3];
} normalizer;
/* Per-channel mean and standard deviation (of pixels / 255). */
normalizer normalizer_fit(const dataset *d);

typedef struct augment {
    bool crop;      /* random crop with 4-pixel zero padding */
    bool flip;      /* random horizontal flip */
    bool translate; /* random shift by up to 2 pixels, the border reflected (airbench) */
    bool alternate; /* flips alternate: each image mirrored every other epoch, from a
                     * random first one (airbench), rather than by a coin each time */
    bool jpeg;      /* every other image on average through a JPEG round trip at a
                     * quality drawn from JPEG_AUG_QUALITY_MIN..MAX (jpeg_sim.h): the
                     * test batch's rebuilt records are JPEG copies */
    int epoch;      /* with alternate: the epoch (the training loop sets it) */
    uint64_t seed;  /* with alternate: which images start mirrored */
} augment;
#define JPEG_AUG_QUALITY_MIN 60
#define JPEG_AUG_QUALITY_MAX 90
/* "crop", "flip", "translate", "alternate" (alternating flips), "jpeg",
 * several of them joined by commas, or "none" into *a; false for
 * anything else. */
bool augment_parse(const char *s, augment *a);

/* Writes n examples, indices idx[0..n), as normalised floats [n][3][32][32]
 * and their labels; augmentation draws from *rng. flipped (may be NULL): which
 * images were mirrored. */
void dataset_make_batch(const dataset *d, const int *idx, int n, const normalizer *norm,
                        const augment *aug, uint64_t *rng, float *out, int *labels, bool *flipped);
/* The same without random augmentation: every image mirrored or none, and
 * shifted by (dy, dx) with the border reflected (0, 0: as it is). */
void dataset_make_view_batch(const dataset *d, const int *idx, int n, const normalizer *norm,
                             bool mirrored, int dy, int dx, float *out, int *labels);

/* MD5 of a buffer as lower-case hex. */
void moecl_md5_hex(const void *data, size_t size, char hex[33]);

#endif
