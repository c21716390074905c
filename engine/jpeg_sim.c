/* A CIFAR-10 image through a baseline-JPEG round trip, as an augmentation
 * (jpeg_sim.h): YCbCr, 4:2:0 chroma (each 2x2 cell's mean), 8x8 DCT of every
 * block, the standard tables scaled by the IJG quality formula, rounding
 * to the table's steps and back, nearest-neighbour chroma, RGB rounded to
 * bytes. No entropy coding: it is lossless. scripts/jpeg_roundtrip.py does
 * the same to whole files (tests/test_data.c checks the two agree through
 * a plain reference). */
#include "jpeg_sim.h"

#include <math.h>
#include <string.h>

static const unsigned char LUMA[64] = {
    16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
    14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
    18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
static const unsigned char CHROMA[64] = {
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

void jpeg_sim_table(int luma, int quality, double table[64])
{
    if (quality < 1) quality = 1;
    if (quality > 100) quality = 100;
    double scale = quality < 50 ? 5000.0 / quality : 200.0 - 2.0 * quality;
    for (int i = 0; i < 64; i++) {
        double q = floor(((luma ? LUMA : CHROMA)[i] * scale + 50.0) / 100.0);
        table[i] = q < 1 ? 1 : q > 255 ? 255 : q;
    }
}

/* The orthonormal 8-point DCT-II matrix, d[k][x] (made per call: no state
 * shared between the threads that make batches). */
static void dct_matrix(double d[8][8])
{
    for (int k = 0; k < 8; k++)
        for (int x = 0; x < 8; x++)
            d[k][x] = k == 0 ? sqrt(1.0 / 8) : sqrt(2.0 / 8) * cos((2 * x + 1) * k * 3.14159265358979323846 / 16);
}

/* Every 8x8 block of a w x h plane (multiples of 8) through the DCT, the
 * table's steps and back, separably: C = D B D^T, B' = D^T C' D. */
static void quantise_plane(double *plane, int w, int h, const double table[64], double d[8][8])
{
    for (int by = 0; by < h; by += 8)
        for (int bx = 0; bx < w; bx += 8) {
            double b[8][8], t[8][8], c[8][8];
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++) b[y][x] = plane[(by + y) * w + bx + x] - 128.0;
            for (int k = 0; k < 8; k++) /* t = D b */
                for (int x = 0; x < 8; x++) {
                    double s = 0;
                    for (int y = 0; y < 8; y++) s += d[k][y] * b[y][x];
                    t[k][x] = s;
                }
            for (int k = 0; k < 8; k++) /* c = t D^T, rounded to the table's steps */
                for (int l = 0; l < 8; l++) {
                    double s = 0;
                    for (int x = 0; x < 8; x++) s += t[k][x] * d[l][x];
                    c[k][l] = rint(s / table[k * 8 + l]) * table[k * 8 + l];
                }
            for (int y = 0; y < 8; y++) /* t = D^T c */
                for (int l = 0; l < 8; l++) {
                    double s = 0;
                    for (int k = 0; k < 8; k++) s += d[k][y] * c[k][l];
                    t[y][l] = s;
                }
            for (int y = 0; y < 8; y++) /* b = t D */
                for (int x = 0; x < 8; x++) {
                    double s = 0;
                    for (int l = 0; l < 8; l++) s += t[y][l] * d[l][x];
                    plane[(by + y) * w + bx + x] = s + 128.0;
                }
        }
}

static unsigned char to_byte(double v)
{
    v = rint(v);
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void jpeg_sim_roundtrip(const unsigned char *in, int quality, unsigned char *out)
{
    enum { S = 32, P = S * S, HS = S / 2 };
    double y[P], cb[HS * HS], cr[HS * HS];
    double luma[64], chroma[64];
    jpeg_sim_table(1, quality, luma);
    jpeg_sim_table(0, quality, chroma);
    double d[8][8];
    dct_matrix(d);
    memset(cb, 0, sizeof cb);
    memset(cr, 0, sizeof cr);
    for (int i = 0; i < P; i++) {
        double r = in[i], g = in[P + i], b = in[2 * P + i];
        y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
        int half = (i / S / 2) * HS + (i % S) / 2; /* the 2x2 cell's mean */
        cb[half] += 0.25 * (128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
        cr[half] += 0.25 * (128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
    }
    quantise_plane(y, S, S, luma, d);
    quantise_plane(cb, HS, HS, chroma, d);
    quantise_plane(cr, HS, HS, chroma, d);
    for (int i = 0; i < P; i++) {
        int half = (i / S / 2) * HS + (i % S) / 2;
        double u = cb[half] - 128, v = cr[half] - 128;
        out[i] = to_byte(y[i] + 1.402 * v);
        out[P + i] = to_byte(y[i] - 0.344136 * u - 0.714136 * v);
        out[2 * P + i] = to_byte(y[i] + 1.772 * u);
    }
}
