/* GEMM tuning: the parameters of CLBlast's GEMM kernel for one device, as
 * CLBlast's own tuner (clblast_tuner_xgemm, Debian package clblast-utils)
 * finds them. `moecl tune` runs the tuner and keeps the best parameters in
 * the kernel cache directory; every context applies them to CLBlast when it
 * opens (CLBlastOverrideParameters), unless caching is off. */
#ifndef MOECL_TUNING_H
#define MOECL_TUNING_H

#include "moecl.h"

#define MOECL_TUNING_MAX_PARAMS 24

typedef struct moecl_tuning {
    char kernel[32];      /* "Xgemm" or "XgemmDirect" */
    int count;
    char names[MOECL_TUNING_MAX_PARAMS][16];
    size_t values[MOECL_TUNING_MAX_PARAMS];
    double tuner_ms;      /* the tuner's best time */
    int m, n, k;          /* the sizes it tuned at */
} moecl_tuning;

/* CLBlast's two GEMM kernels, each tuned on its own: Xgemm (large products,
 * behind copy/transpose/pad helpers) and XgemmDirect (the products CLBlast
 * deems small, such as a convolution's weight-gradient chunks). */
#define MOECL_TUNED_KERNELS 2
extern const char *const moecl_tuned_kernels[MOECL_TUNED_KERNELS];

/* The tuning file of a device and kernel in a cache directory (keyed by the
 * device's name, driver and platform version, as the kernel cache):
 * gemm-tuning-KEY.json for Xgemm, gemm-direct-tuning-KEY.json for
 * XgemmDirect. */
void moecl_tuning_path(const char *cache_dir, const moecl_device_info *dev, const char *kernel,
                       char *out, size_t size);
/* A missing file is MOECL_ERR_IO; a malformed one, or one for another
 * device, MOECL_ERR_FORMAT naming the file and what is wrong. */
moecl_status moecl_tuning_load(const char *path, const moecl_device_info *dev, moecl_tuning *t);
moecl_status moecl_tuning_save(const char *path, const moecl_device_info *dev, const moecl_tuning *t);
/* Makes CLBlast use these parameters on the context's device from now on. */
moecl_status moecl_tuning_apply(const moecl_ctx *ctx, const moecl_tuning *t);
/* The best result in a clblast_tuner JSON output file. */
moecl_status moecl_tuning_from_tuner(const char *path, moecl_tuning *t);
/* "K=V K=V ..." of a tuning, for messages. */
void moecl_tuning_describe(const moecl_tuning *t, char *out, size_t size);

/* What the context did about tuning: "" (no file), or a line saying what was
 * applied or why a file was ignored. */
const char *moecl_ctx_tuning_note(const moecl_ctx *ctx);

#endif
