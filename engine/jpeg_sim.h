/* A baseline-JPEG round trip of one CIFAR-10 image, for augmentation: the
 * test batch in ../shared/cifar10 has JPEG-rebuilt pixels after record
 * 1,016, and a model trained on exact pixels loses points on them. */
#ifndef MOECL_JPEG_SIM_H
#define MOECL_JPEG_SIM_H

/* in, out: 3 x 32 x 32 bytes (planar RGB, CIFAR-10's layout); quality 1-100
 * as libjpeg's. in and out may not overlap. */
void jpeg_sim_roundtrip(const unsigned char *in, int quality, unsigned char *out);
/* The standard luminance (luma != 0) or chrominance table scaled by the IJG
 * quality formula. */
void jpeg_sim_table(int luma, int quality, double table[64]);

#endif
