#!/usr/bin/python3
"""A CIFAR-10 binary file's images through a baseline-JPEG round trip.

Why: the test batch in ../shared/cifar10 has exact pixels for its first
1,017 records only; the rest were rebuilt from JPEG copies (mean absolute
error about 5.8/255, its README). To see how much a model loses to that,
and to choose remedies on validation data rather than on the test batch,
this writes a training file's records back after the same kind of loss:
YCbCr, 4:2:0 chroma, 8x8 DCT, the standard quantisation tables scaled by
the IJG quality formula, rounding back to bytes. No entropy coding (it is
lossless). numpy only.

Usage: scripts/jpeg_roundtrip.py IN.bin OUT.bin [--quality Q] [--records N]
Prints the mean absolute pixel error (in 1/255) of the round trip.
"""
import argparse
import sys

import numpy as np

LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64).reshape(8, 8)
CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99]
    + [99] * 32, dtype=np.float64).reshape(8, 8)


def scaled_table(table, quality):
    """The IJG (libjpeg) quality scaling of a quantisation table."""
    quality = min(max(quality, 1), 100)
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((table * scale + 50) / 100), 1, 255)


def dct_matrix():
    k = np.arange(8)
    m = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    m[0, :] = np.sqrt(1 / 8)
    return m


def quantise_planes(planes, table):
    """planes: (n, h, w), h and w multiples of 8; each 8x8 block through
    DCT, quantisation and back."""
    n, h, w = planes.shape
    d = dct_matrix()
    blocks = planes.reshape(n, h // 8, 8, w // 8, 8).transpose(0, 1, 3, 2, 4)
    coef = d @ (blocks - 128.0) @ d.T
    coef = np.round(coef / table) * table
    back = d.T @ coef @ d + 128.0
    return back.transpose(0, 1, 3, 2, 4).reshape(n, h, w)


def roundtrip(rgb, quality):
    """rgb: (n, 3, 32, 32) uint8 -> the same after a JPEG round trip."""
    x = rgb.astype(np.float64)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    n = x.shape[0]

    def sub(c):  # 4:2:0: the mean of each 2x2 (16x16: two blocks a side)
        return c.reshape(n, 16, 2, 16, 2).mean(axis=(2, 4))

    def up(c):  # back to 32x32 by repeating (nearest)
        return c.repeat(2, axis=1).repeat(2, axis=2)

    y = quantise_planes(y, scaled_table(LUMA, quality))
    cb = up(quantise_planes(sub(cb), scaled_table(CHROMA, quality)))
    cr = up(quantise_planes(sub(cr), scaled_table(CHROMA, quality)))
    r = y + 1.402 * (cr - 128)
    g = y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    b = y + 1.772 * (cb - 128)
    out = np.stack([r, g, b], axis=1)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--quality", type=int, default=75)
    p.add_argument("--records", type=int, default=0)
    a = p.parse_args()
    raw = np.fromfile(a.input, dtype=np.uint8)
    if raw.size == 0 or raw.size % 3073:
        sys.exit(f"jpeg_roundtrip: {a.input}: {raw.size} bytes is not a whole "
                 "number of CIFAR-10 records (3,073 bytes each)")
    rec = raw.reshape(-1, 3073)
    if a.records:
        rec = rec[:a.records]
    pixels = rec[:, 1:].reshape(-1, 3, 32, 32)
    out = roundtrip(pixels, a.quality)
    err = np.abs(out.astype(np.int32) - pixels.astype(np.int32)).mean()
    result = np.concatenate([rec[:, :1], out.reshape(-1, 3072)], axis=1)
    result.astype(np.uint8).tofile(a.output)
    print(f"{len(rec)} records, quality {a.quality}: mean absolute error "
          f"{err:.2f}/255")


if __name__ == "__main__":
    main()
