/* Engine-private declarations shared by the files of engine/. */
#ifndef MOECL_INTERNAL_H
#define MOECL_INTERNAL_H

#include "moecl.h"

#include <stdarg.h>

/* Checks the result of an OpenCL call: on failure records
 * "<call> failed: CL_CODE (n) on device '<name>'" and returns MOECL_ERR_OPENCL
 * (MOECL_ERR_OUT_OF_MEMORY for allocation failures). */
moecl_status moecl_cl_fail(cl_int code, const char *call, const moecl_device_info *dev);

#define MOECL_CL_CHECK(dev, call)                                   \
    do {                                                            \
        cl_int moecl_cl_err_ = (call);                              \
        if (moecl_cl_err_ != CL_SUCCESS)                            \
            return moecl_cl_fail(moecl_cl_err_, #call, (dev));      \
    } while (0)


#define MOECL_WORKSPACES 2

typedef struct moecl_kernel_entry {
    char name[64];
    cl_kernel kernel;
} moecl_kernel_entry;

struct moecl_ctx {
    moecl_device_info device;
    cl_context context;
    cl_command_queue queue;
    char cache_dir[1024]; /* "" when caching is off */
    char tuning_note[1400]; /* what was done about GEMM tuning ("" nothing) */

    cl_program *programs;
    moecl_program_report *reports;
    int program_count;

    moecl_kernel_entry *kernels;
    int kernel_count;

    cl_mem gemm_temp; /* CLBlast's temporary buffer, grown on demand */
    size_t gemm_temp_bytes;

    cl_mem workspace[MOECL_WORKSPACES]; /* shared layer temporaries */
    size_t workspace_bytes[MOECL_WORKSPACES];
};

/* ---- program cache (program_cache.c) ---------------------------------- */

#define MOECL_CACHE_FORMAT_VERSION 1

/* SHA-256 over the cache format version, source, build options, device
 * name, driver version and platform version, as lower-case hex. */
void moecl_cache_key(const moecl_device_info *dev, const char *source,
                     const char *options, char hex[65]);
/* Chooses the cache directory and creates it; "" when none is usable. */
void moecl_cache_dir_resolve(const char *requested, char *out, size_t size);
/* Loads a binary; false when absent. *corrupt is set when a file existed
 * but failed its checks. The caller frees *binary. */
bool moecl_cache_load(const char *dir, const char *key, unsigned char **binary,
                      size_t *size, bool *corrupt);
/* Stores a binary through a temporary file and a rename; failures are
 * reported on stderr once and otherwise ignored (the cache is optional). */
void moecl_cache_store(const char *dir, const char *key,
                       const unsigned char *binary, size_t size);
/* Path of the cache file of a key. */
void moecl_cache_path(const char *dir, const char *key, char *out, size_t size);

/* ---- embedded kernel sources (generated at build time) ----------------- */

typedef struct moecl_embedded_source {
    const char *name; /* file name without ".cl" */
    const char *source;
    size_t size;
} moecl_embedded_source;

extern const moecl_embedded_source moecl_embedded_sources[];
extern const int moecl_embedded_sources_count;
/* the .cl files of cl/lib: helper functions put in front of every embedded program */
extern const moecl_embedded_source moecl_embedded_cl_libs[];
extern const int moecl_embedded_cl_libs_count;
extern const moecl_embedded_source moecl_embedded_models[];
extern const int moecl_embedded_models_count;

/* ---- sha256.c ---------------------------------------------------------- */

typedef struct moecl_sha256 {
    uint32_t state[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t used;
} moecl_sha256;

void moecl_sha256_init(moecl_sha256 *s);
void moecl_sha256_update(moecl_sha256 *s, const void *data, size_t size);
void moecl_sha256_final(moecl_sha256 *s, unsigned char digest[32]);
void moecl_sha256_hex(const unsigned char digest[32], char hex[65]);

#endif
