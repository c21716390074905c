/* The JPEG round trip used as an augmentation (engine/jpeg_sim.c): against
 * a plain reference (the 2-D DCT summed directly, not separably), against
 * scripts/jpeg_roundtrip.py (bytes it printed for a fixed image), its error
 * growing as the quality falls, and in batches: about half the images
 * changed, the same seed the same batch, nothing changed when off. */
#include "check.h"
#include "data.h"
#include "jpeg_sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { S = 32, P = S * S };

static double cosine(int k, int x) { return cos((2 * x + 1) * k * 3.14159265358979323846 / 16); }
static double alpha(int k) { return k == 0 ? sqrt(1.0 / 8) : sqrt(2.0 / 8); }

/* One 8x8 block of a w-wide plane at (bx, by), by the textbook formulas. */
static void reference_block(double *plane, int w, int bx, int by, const double table[64])
{
    double c[64], b[64];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) b[y * 8 + x] = plane[(by + y) * w + bx + x] - 128;
    for (int k = 0; k < 8; k++)
        for (int l = 0; l < 8; l++) {
            double s = 0;
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++) s += b[y * 8 + x] * cosine(k, y) * cosine(l, x);
            s *= alpha(k) * alpha(l);
            c[k * 8 + l] = rint(s / table[k * 8 + l]) * table[k * 8 + l];
        }
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) {
            double s = 0;
            for (int k = 0; k < 8; k++)
                for (int l = 0; l < 8; l++) s += alpha(k) * alpha(l) * c[k * 8 + l] * cosine(k, y) * cosine(l, x);
            plane[(by + y) * w + bx + x] = s + 128;
        }
}

static unsigned char byte_of(double v)
{
    v = rint(v);
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void reference_roundtrip(const unsigned char *in, int quality, unsigned char *out)
{
    static double y[P], cb[P / 4], cr[P / 4];
    double luma[64], chroma[64];
    jpeg_sim_table(1, quality, luma);
    jpeg_sim_table(0, quality, chroma);
    for (int i = 0; i < P; i++) y[i] = 0.299 * in[i] + 0.587 * in[P + i] + 0.114 * in[2 * P + i];
    for (int cy = 0; cy < S / 2; cy++)
        for (int cx = 0; cx < S / 2; cx++) {
            double u = 0, v = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    int i = (2 * cy + dy) * S + 2 * cx + dx;
                    double r = in[i], g = in[P + i], b = in[2 * P + i];
                    u += 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
                    v += 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
                }
            cb[cy * S / 2 + cx] = u / 4, cr[cy * S / 2 + cx] = v / 4;
        }
    for (int by = 0; by < S; by += 8)
        for (int bx = 0; bx < S; bx += 8) reference_block(y, S, bx, by, luma);
    for (int by = 0; by < S / 2; by += 8)
        for (int bx = 0; bx < S / 2; bx += 8) {
            reference_block(cb, S / 2, bx, by, chroma);
            reference_block(cr, S / 2, bx, by, chroma);
        }
    for (int i = 0; i < P; i++) {
        int half = (i / S / 2) * (S / 2) + (i % S) / 2;
        double u = cb[half] - 128, v = cr[half] - 128;
        out[i] = byte_of(y[i] + 1.402 * v);
        out[P + i] = byte_of(y[i] - 0.344136 * u - 0.714136 * v);
        out[2 * P + i] = byte_of(y[i] + 1.772 * u);
    }
}

/* An image of smooth regions, edges and noise from a seed. */
static void test_image(unsigned seed, unsigned char *img)
{
    unsigned s = seed * 2654435761u + 1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                s = s * 1103515245u + 12345u;
                int smooth = (int)(128 + 90 * sin((x + 3 * c + (int)seed) / 5.0) * cos(y / 7.0));
                int edge = (x + y) % 16 < 8 ? 40 : -40;
                img[(c * S + y) * S + x] = byte_of(smooth + edge + (int)((s >> 16) % 31) - 15);
            }
}

static double mean_abs(const unsigned char *a, const unsigned char *b)
{
    double e = 0;
    for (int i = 0; i < 3 * P; i++) e += abs(a[i] - b[i]);
    return e / (3 * P);
}

static void test_against_reference(void)
{
    unsigned char img[3 * P], got[3 * P], want[3 * P];
    const int qualities[] = {10, 60, 75, 90, 100};
    for (int q = 0; q < 5; q++)
        for (unsigned seed = 1; seed <= 6; seed++) {
            test_image(seed, img);
            jpeg_sim_roundtrip(img, qualities[q], got);
            reference_roundtrip(img, qualities[q], want);
            int off = 0, worst = 0;
            for (int i = 0; i < 3 * P; i++) {
                int d = abs(got[i] - want[i]);
                off += d > 0;
                worst = d > worst ? d : worst;
            }
            /* the two round differently only where a value lies on a .5 */
            CHECK(worst <= 1 && off <= 3 * P / 200, "quality %d, image %u: %d bytes differ from the "
                  "reference, by up to %d", qualities[q], seed, off, worst);
        }
}

/* Bytes scripts/jpeg_roundtrip.py gave for this image (numpy's float64 and
 * rounding to even, as rint): channel 0's first 12 and channel 2's 500th to
 * 507th, and the sum of all 3,072. */
static void test_against_script(void)
{
    unsigned char img[3 * P], out[3 * P];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                img[(c * S + y) * S + x] = (unsigned char)((37 * c + 11 * y * y + 7 * x + (x * y) % 13 * 9) % 256);
    struct { int q; long sum; unsigned char head[12], mid[8]; } cases[] = {
        {60, 394257, {0, 0, 48, 8, 52, 32, 94, 54, 25, 31, 75, 63}, {142, 184, 174, 183, 190, 207, 142, 169}},
        {75, 393874, {8, 13, 34, 30, 25, 14, 65, 54, 67, 47, 89, 79}, {157, 184, 206, 255, 153, 152, 173, 204}},
        {90, 393636, {0, 14, 17, 29, 11, 36, 48, 48, 55, 67, 62, 80}, {140, 163, 175, 203, 201, 195, 166, 198}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        jpeg_sim_roundtrip(img, cases[k].q, out);
        long sum = 0;
        for (int i = 0; i < 3 * P; i++) sum += out[i];
        CHECK(sum == cases[k].sum && memcmp(out, cases[k].head, 12) == 0 &&
                  memcmp(out + 2 * P + 500, cases[k].mid, 8) == 0,
              "quality %d: as scripts/jpeg_roundtrip.py (sum %ld, want %ld)", cases[k].q, sum, cases[k].sum);
    }
}

static void test_quality_order(void)
{
    unsigned char img[3 * P], out[3 * P];
    double e[3] = {0};
    const int qualities[] = {100, 90, 60};
    for (unsigned seed = 1; seed <= 8; seed++) {
        test_image(seed, img);
        for (int q = 0; q < 3; q++) {
            jpeg_sim_roundtrip(img, qualities[q], out);
            e[q] += mean_abs(img, out) / 8;
        }
    }
    CHECK(e[0] < e[1] && e[1] < e[2], "the error grows as the quality falls: %.2f %.2f %.2f", e[0], e[1], e[2]);
    /* at 100 what is left is 4:2:0's loss of the noise's colour detail */
    CHECK(e[0] < 8 && e[2] > 1.5 * e[0] && e[2] < 30, "plausible sizes: %.2f at 100, %.2f at 60", e[0], e[2]);
}

static void test_in_batches(void)
{
    enum { N = 200 };
    dataset d = {0};
    CHECK(dataset_synthetic(N, 7, &d) == MOECL_OK, "%s", moecl_last_error());
    normalizer norm = normalizer_fit(&d);
    int idx[N], labels[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    float *plain = malloc(sizeof(float) * N * 3 * P), *a = malloc(sizeof(float) * N * 3 * P),
          *b = malloc(sizeof(float) * N * 3 * P);
    augment off = {0}, on = {0};
    CHECK(augment_parse("jpeg", &on) && on.jpeg, "'jpeg' parses");
    augment both = {0};
    CHECK(augment_parse("translate,alternate,jpeg", &both) && both.jpeg && both.translate && both.alternate,
          "with the airbench recipe's");
    uint64_t r0 = 5, r1 = 5, r2 = 5, r3 = 5;
    dataset_make_batch(&d, idx, N, &norm, &off, &r0, plain, labels, NULL);
    dataset_make_batch(&d, idx, N, &norm, &on, &r1, a, labels, NULL);
    dataset_make_batch(&d, idx, N, &norm, &on, &r2, b, labels, NULL);
    CHECK(memcmp(a, b, sizeof(float) * N * 3 * P) == 0, "the same seed, the same batch");
    int changed = 0;
    for (int i = 0; i < N; i++)
        changed += memcmp(a + (size_t)i * 3 * P, plain + (size_t)i * 3 * P, sizeof(float) * 3 * P) != 0;
    CHECK(changed > N * 3 / 10 && changed < N * 7 / 10, "about half the images changed: %d of %d", changed, N);
    dataset_make_batch(&d, idx, N, &norm, &off, &r3, b, labels, NULL);
    CHECK(memcmp(plain, b, sizeof(float) * N * 3 * P) == 0, "off: the plain batch");
    free(plain), free(a), free(b);
    dataset_free(&d);
}

int main(void)
{
    test_against_reference();
    test_against_script();
    test_quality_order();
    test_in_batches();
    return check_summary("test_jpeg_sim");
}
