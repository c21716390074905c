/* CIFAR-10 binary files, synthetic data, splits and float batches. */
#include "data.h"
#include "jpeg_sim.h"
#include "internal.h"
#include "layer.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *const CIFAR_CLASS_NAMES[CIFAR_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

static const char *const TRAIN_FILES[5] = {"data_batch_1.bin", "data_batch_2.bin",
                                           "data_batch_3.bin", "data_batch_4.bin",
                                           "data_batch_5.bin"};
static const char TEST_FILE[] = "test_batch.bin";
/* The published sums of the official files. */
static const char *const OFFICIAL_MD5[6][2] = {
    {"data_batch_1.bin", "5dd7e06a14cb22eb9f671a540d1b7c25"},
    {"data_batch_2.bin", "5ea93a67294ea407fff1d09f752e9692"},
    {"data_batch_3.bin", "942cd6a4bcdd0dd3c604fbe906cb4421"},
    {"data_batch_4.bin", "ae636b3ba5c66a11e91e8cb52e771fcb"},
    {"data_batch_5.bin", "53f37980c15c3d472c316c40844f3f0d"},
    {"test_batch.bin", "803d5f7f4d78ea53de84dbe85f74fb6d"}};
static const char ARCHIVE_MD5[] = "c32a1d4ab5d03f1284b67883e8d87530";
static const char DEFAULT_URL[] = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

void dataset_free(dataset *d)
{
    free(d->labels);
    free(d->pixels);
    memset(d, 0, sizeof *d);
}

static moecl_status dataset_grow(dataset *d, int extra)
{
    uint8_t *l = realloc(d->labels, (size_t)(d->count + extra));
    if (l) d->labels = l;
    uint8_t *p = realloc(d->pixels, (size_t)(d->count + extra) * CIFAR_IMAGE_BYTES);
    if (p) d->pixels = p;
    if (!l || !p) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of memory for the data set");
    return MOECL_OK;
}

moecl_status cifar10_read_file(const char *path, dataset *d, int limit)
{
    FILE *f = fopen(path, "rb");
    if (!f) return moecl_fail(MOECL_ERR_IO, "cannot open CIFAR-10 file '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return moecl_fail(MOECL_ERR_FORMAT, "CIFAR-10 file '%s' is not a regular file", path);
    }
    if (st.st_size == 0 || st.st_size % CIFAR_RECORD_BYTES != 0) {
        fclose(f);
        return moecl_fail(MOECL_ERR_FORMAT,
                          "CIFAR-10 file '%s' has %lld bytes, not a whole number of 3,073-byte "
                          "records (record %lld is cut short: truncated or not a CIFAR-10 file)",
                          path, (long long)st.st_size, (long long)(st.st_size / CIFAR_RECORD_BYTES));
    }
    long long records = st.st_size / CIFAR_RECORD_BYTES;
    int take = (int)(limit > 0 && limit < records ? limit : records);
    moecl_status s = dataset_grow(d, take);
    if (s != MOECL_OK) {
        fclose(f);
        return s;
    }
    unsigned char record[CIFAR_RECORD_BYTES];
    for (int i = 0; i < take; i++) {
        if (fread(record, 1, CIFAR_RECORD_BYTES, f) != CIFAR_RECORD_BYTES) {
            fclose(f);
            return moecl_fail(MOECL_ERR_FORMAT, "CIFAR-10 file '%s': record %d cannot be read "
                              "(the file changed while reading?)", path, i);
        }
        if (record[0] >= CIFAR_CLASSES) {
            fclose(f);
            return moecl_fail(MOECL_ERR_FORMAT,
                              "CIFAR-10 file '%s': record %d has label %d (labels are 0..9)", path,
                              i, record[0]);
        }
        d->labels[d->count] = record[0];
        memcpy(d->pixels + (size_t)d->count * CIFAR_IMAGE_BYTES, record + 1, CIFAR_IMAGE_BYTES);
        d->count++;
    }
    fclose(f);
    return MOECL_OK;
}

moecl_status cifar10_load(const char *dir, bool train, int limit, dataset *d)
{
    memset(d, 0, sizeof *d);
    char path[4096];
    int files = train ? 5 : 1;
    for (int i = 0; i < files && (limit <= 0 || d->count < limit); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, train ? TRAIN_FILES[i] : TEST_FILE);
        moecl_status s = cifar10_read_file(path, d, limit > 0 ? limit - d->count : 0);
        if (s != MOECL_OK) {
            dataset_free(d);
            return s;
        }
    }
    return MOECL_OK;
}

static bool has_data(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, TEST_FILE);
    if (access(path, R_OK) != 0) return false;
    snprintf(path, sizeof path, "%s/%s", dir, TRAIN_FILES[0]);
    return access(path, R_OK) == 0;
}

moecl_status cifar10_verify(const char *dir)
{
    for (int i = 0; i < 6; i++) {
        char path[4096], hex[33];
        snprintf(path, sizeof path, "%s/%s", dir, OFFICIAL_MD5[i][0]);
        char *data = NULL;
        size_t size = 0;
        MOECL_TRY(moecl_read_file(path, &data, &size));
        moecl_md5_hex(data, size, hex);
        free(data);
        if (strcmp(hex, OFFICIAL_MD5[i][1]) != 0)
            return moecl_fail(MOECL_ERR_FORMAT, "'%s' has md5 %s, the published file has %s", path,
                              hex, OFFICIAL_MD5[i][1]);
    }
    return MOECL_OK;
}

static int run_program(char *const argv[])
{
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static moecl_status download(const char *root, char *out, size_t size)
{
    const char *url = getenv("MOECL_DATA_URL");
    if (!url || !*url) url = DEFAULT_URL;
    char archive[4096], target[4096];
    snprintf(archive, sizeof archive, "%s/cifar-10-binary.tar.gz", root);
    snprintf(target, sizeof target, "%s/cifar-10-batches-bin", root);
    const char *manual =
        "Put the six CIFAR-10 binary files (data_batch_1.bin .. data_batch_5.bin, "
        "test_batch.bin) in a directory and pass --data DIR or set MOECL_DATA; the archive "
        "cifar-10-binary.tar.gz (md5 c32a1d4ab5d03f1284b67883e8d87530) is on the data set's "
        "home page, https://www.cs.toronto.edu/~kriz/cifar.html";
    if (mkdir(root, 0755) != 0 && errno != EEXIST)
        return moecl_fail(MOECL_ERR_IO, "cannot create '%s': %s. %s", root, strerror(errno), manual);
    fprintf(stderr, "moecl: CIFAR-10 not found; downloading %s\n", url);
    char *curl[] = {"curl", "-fL", "--retry", "2", "--progress-bar", "-o", archive, (char *)url, NULL};
    int rc = run_program(curl);
    if (rc != 0) {
        remove(archive);
        return moecl_fail(MOECL_ERR_IO, "the download of %s failed (%s). %s", url,
                          rc < 0 ? "curl is not installed" : "curl exited with an error", manual);
    }
    char *data = NULL;
    size_t n = 0;
    MOECL_TRY(moecl_read_file(archive, &data, &n));
    char hex[33];
    moecl_md5_hex(data, n, hex);
    free(data);
    if (strcmp(hex, ARCHIVE_MD5) != 0) {
        remove(archive);
        return moecl_fail(MOECL_ERR_FORMAT, "the downloaded archive has md5 %s, not %s. %s", hex,
                          ARCHIVE_MD5, manual);
    }
    char *tar[] = {"tar", "-xzf", archive, "-C", (char *)root, NULL};
    if (run_program(tar) != 0)
        return moecl_fail(MOECL_ERR_IO, "cannot unpack '%s' with tar. %s", archive, manual);
    MOECL_TRY(cifar10_verify(target));
    remove(archive);
    snprintf(out, size, "%s", target);
    fprintf(stderr, "moecl: CIFAR-10 is in %s (md5 checked)\n", target);
    return MOECL_OK;
}

moecl_status cifar10_locate(const char *dir, char *out, size_t size)
{
    if (dir && *dir) {
        if (!has_data(dir))
            return moecl_fail(MOECL_ERR_IO, "--data '%s' does not hold the CIFAR-10 binary files "
                              "(data_batch_1.bin .. data_batch_5.bin, test_batch.bin)", dir);
        snprintf(out, size, "%s", dir);
        return MOECL_OK;
    }
    const char *env = getenv("MOECL_DATA");
    if (env && *env) {
        if (!has_data(env))
            return moecl_fail(MOECL_ERR_IO, "MOECL_DATA '%s' does not hold the CIFAR-10 binary "
                              "files (data_batch_1.bin .. data_batch_5.bin, test_batch.bin)", env);
        snprintf(out, size, "%s", env);
        return MOECL_OK;
    }
    if (has_data("data/cifar-10-batches-bin")) {
        snprintf(out, size, "data/cifar-10-batches-bin");
        return MOECL_OK;
    }
    return download("data", out, size);
}

moecl_status dataset_synthetic(int count, uint64_t seed, dataset *d)
{
    memset(d, 0, sizeof *d);
    MOECL_TRY(dataset_grow(d, count));
    /* One coarse 4x4 colour pattern per class, upsampled, plus noise. */
    uint64_t rng = 0x5eedull;
    unsigned char pattern[CIFAR_CLASSES][3][4][4];
    for (int k = 0; k < CIFAR_CLASSES; k++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 16; i++) pattern[k][c][i / 4][i % 4] = (unsigned char)(moecl_rng_next(&rng) & 255);
    rng = seed;
    for (int n = 0; n < count; n++) {
        int k = (int)(moecl_rng_next(&rng) % CIFAR_CLASSES);
        d->labels[n] = (uint8_t)k;
        uint8_t *px = d->pixels + (size_t)n * CIFAR_IMAGE_BYTES;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    /* patterns at half contrast under heavy noise: learnable, not instant */
                    int v = 64 + pattern[k][c][y / 8][x / 8] / 2 + (int)(moecl_rng_next(&rng) % 201) - 100;
                    px[(c * 32 + y) * 32 + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
    }
    d->count = count;
    return MOECL_OK;
}

moecl_status dataset_split_tail(dataset *d, int count, dataset *tail)
{
    memset(tail, 0, sizeof *tail);
    if (count < 0 || count >= d->count)
        return moecl_fail(MOECL_ERR_INVALID_ARG, "a validation split of %d from %d examples leaves "
                          "nothing to train on", count, d->count);
    if (count == 0) return MOECL_OK;
    MOECL_TRY(dataset_grow(tail, count));
    int start = d->count - count;
    memcpy(tail->labels, d->labels + start, (size_t)count);
    memcpy(tail->pixels, d->pixels + (size_t)start * CIFAR_IMAGE_BYTES,
           (size_t)count * CIFAR_IMAGE_BYTES);
    tail->count = count;
    d->count = start;
    return MOECL_OK;
}

moecl_status dataset_subset(const dataset *d, unsigned mask, dataset *out)
{
    memset(out, 0, sizeof *out);
    int n = 0;
    for (int i = 0; i < d->count; i++) n += (mask >> d->labels[i]) & 1u;
    MOECL_TRY(dataset_grow(out, n > 0 ? n : 1));
    for (int i = 0; i < d->count; i++) {
        if (!((mask >> d->labels[i]) & 1u)) continue;
        out->labels[out->count] = d->labels[i];
        memcpy(out->pixels + (size_t)out->count * CIFAR_IMAGE_BYTES,
               d->pixels + (size_t)i * CIFAR_IMAGE_BYTES, CIFAR_IMAGE_BYTES);
        out->count++;
    }
    return MOECL_OK;
}

moecl_status dataset_filter_classes(dataset *d, unsigned mask)
{
    int kept = 0;
    for (int i = 0; i < d->count; i++) {
        if (!(mask & (1u << d->labels[i]))) continue;
        if (kept != i) {
            d->labels[kept] = d->labels[i];
            memcpy(d->pixels + (size_t)kept * CIFAR_IMAGE_BYTES,
                   d->pixels + (size_t)i * CIFAR_IMAGE_BYTES, CIFAR_IMAGE_BYTES);
        }
        kept++;
    }
    d->count = kept;
    return MOECL_OK;
}

normalizer normalizer_fit(const dataset *d)
{
    normalizer n;
    for (int c = 0; c < 3; c++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < d->count; i++) {
            const uint8_t *p = d->pixels + (size_t)i * CIFAR_IMAGE_BYTES + c * 1024;
            for (int j = 0; j < 1024; j++) {
                double v = p[j] / 255.0;
                s += v;
                s2 += v * v;
            }
        }
        double cnt = (double)d->count * 1024.0;
        double mean = cnt > 0 ? s / cnt : 0.5;
        double var = cnt > 0 ? s2 / cnt - mean * mean : 0.0625;
        n.mean[c] = (float)mean;
        n.std[c] = (float)(var > 1e-8 ? sqrt(var) : 1.0);
    }
    return n;
}

bool augment_parse(const char *s, augment *a)
{
    augment r = {0};
    if (strcmp(s, "none") == 0) { /* lets a script's default be switched off */
        *a = r;
        return true;
    }
    size_t len;
    for (; *s; s += len + (s[len] == ',')) {
        len = strcspn(s, ",");
        if (len == 4 && strncmp(s, "crop", 4) == 0) r.crop = true;
        else if (len == 4 && strncmp(s, "flip", 4) == 0) r.flip = true;
        else if (len == 9 && strncmp(s, "translate", 9) == 0) r.translate = true;
        else if (len == 9 && strncmp(s, "alternate", 9) == 0) r.alternate = true;
        else if (len == 4 && strncmp(s, "jpeg", 4) == 0) r.jpeg = true;
        else return false;
        if (s[len] == ',' && s[len + 1] == '\0') return false;
    }
    if (!r.crop && !r.flip && !r.translate && !r.alternate && !r.jpeg) return false;
    if (r.flip && r.alternate) return false; /* two ways to flip: one or the other */
    if (r.crop && r.translate) return false; /* two shifts: one or the other */
    *a = r;
    return true;
}

/* A coordinate outside 0..31 mirrored back in, the edge not repeated
 * (reflect padding: -1 -> 1, 32 -> 30). */
static int reflect(int i) { return i < 0 ? -i : i > 31 ? 62 - i : i; }

/* One image into normalised floats, shifted by (dy, dx) and mirrored; the
 * border zero, or reflected. */
static void make_image(const uint8_t *px, int dy, int dx, bool flip, bool reflected,
                       const normalizer *norm, float *o)
{
    for (int c = 0; c < 3; c++) {
        float scale = 1.0f / (255.0f * norm->std[c]), shift = norm->mean[c] / norm->std[c];
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                int sy = y + dy, sx = (flip ? 31 - x : x) + dx;
                if (reflected) sy = reflect(sy), sx = reflect(sx);
                /* padding is zero in the normalised space, as Keras pads after scaling */
                float v = 0.0f;
                if (sy >= 0 && sy < 32 && sx >= 0 && sx < 32)
                    v = px[(c * 32 + sy) * 32 + sx] * scale - shift;
                o[(c * 32 + y) * 32 + x] = v;
            }
    }
}

void dataset_make_batch(const dataset *d, const int *idx, int n, const normalizer *norm,
                        const augment *aug, uint64_t *rng, float *out, int *labels, bool *flipped)
{
    for (int b = 0; b < n; b++) {
        labels[b] = d->labels[idx[b]];
        int dy = 0, dx = 0;
        bool flip = false;
        if (aug && aug->crop) {
            dy = (int)(moecl_rng_next(rng) % 9) - 4;
            dx = (int)(moecl_rng_next(rng) % 9) - 4;
        }
        if (aug && aug->translate) {
            dy = (int)(moecl_rng_next(rng) % 5) - 2;
            dx = (int)(moecl_rng_next(rng) % 5) - 2;
        }
        if (aug && aug->flip) flip = moecl_rng_next(rng) & 1;
        if (aug && aug->alternate) { /* the image's own start, then every other epoch */
            uint64_t s = aug->seed ^ ((uint64_t)idx[b] * 0x9e3779b97f4a7c15ull);
            flip = ((moecl_rng_next(&s) >> 17) + (uint64_t)aug->epoch) & 1;
        }
        if (flipped) flipped[b] = flip;
        const unsigned char *pixels = d->pixels + (size_t)idx[b] * CIFAR_IMAGE_BYTES;
        unsigned char degraded[CIFAR_IMAGE_BYTES];
        if (aug && aug->jpeg) { /* drawn only when on: other recipes keep their draws */
            uint64_t r = moecl_rng_next(rng);
            if (r & 1) {
                int span = JPEG_AUG_QUALITY_MAX - JPEG_AUG_QUALITY_MIN + 1;
                jpeg_sim_roundtrip(pixels, JPEG_AUG_QUALITY_MIN + (int)((r >> 1) % (uint64_t)span), degraded);
                pixels = degraded;
            }
        }
        make_image(pixels, dy, dx, flip, aug && aug->translate, norm,
                   out + (size_t)b * CIFAR_IMAGE_BYTES);
    }
}

void dataset_make_view_batch(const dataset *d, const int *idx, int n, const normalizer *norm,
                             bool mirrored, int dy, int dx, float *out, int *labels)
{
    for (int b = 0; b < n; b++) {
        labels[b] = d->labels[idx[b]];
        make_image(d->pixels + (size_t)idx[b] * CIFAR_IMAGE_BYTES, dy, dx, mirrored, true, norm,
                   out + (size_t)b * CIFAR_IMAGE_BYTES);
    }
}
