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

/* ---- GEMM paths (gemm_own.c, gemm_select.c, blas.c) -------------------- */

#define MOECL_GEMM_MAX_VARIANTS 4

/* One parameter set of our packed GEMM (cl/gemm/gemm_packed.cl): an MR x NR
 * register tile per work-item; its program is built when first needed. */
typedef struct moecl_gemm_variant {
    int mr, nr;
    char name[16]; /* "own6x16" */
    cl_program program;
    cl_kernel pack_a, pack_b, tile, pack_b_im2col, pack_b_im2col_t;
    cl_kernel conv_forward, conv_pack_dy_t, conv_weight_grad; /* conv_direct.cl */
} moecl_gemm_variant;

typedef struct moecl_gemm_state {
    char spec[32];      /* "auto", "clblast", "own" or a variant name */
    bool progress;      /* a line on stderr for every new measurement */
    moecl_gemm_variant variants[MOECL_GEMM_MAX_VARIANTS];
    int variant_count;
    char conv[16];      /* MOECL_CONV: "auto", "direct", "im2col", "winograd[24]" */
    cl_mem packed[2];   /* packed A and B panels, grown on demand */
    size_t packed_bytes[2];
} moecl_gemm_state;

/* ---- choosing by measurement (choice.c) --------------------------------- */

#define MOECL_CHOICE_MAX 12

/* A shape (key) and the milliseconds each named algorithm took on it;
 * NaN: not measured, infinity: not applicable. */
typedef struct moecl_choice {
    char key[112];
    int count;
    char names[MOECL_CHOICE_MAX][24];
    double ms[MOECL_CHOICE_MAX];
} moecl_choice;

typedef struct moecl_choices {
    moecl_choice *list;
    int count, capacity;
    bool loaded;
    char path[1200]; /* "" when caching is off */
} moecl_choices;

/* The ways a piece of work can run: run(ctx, i, user) enqueues way i. */
typedef struct moecl_candidates {
    int count;
    const char *names[MOECL_CHOICE_MAX];
    bool wanted[MOECL_CHOICE_MAX];     /* among those the current spec picks from */
    bool applicable[MOECL_CHOICE_MAX]; /* can run this shape at all */
    moecl_status (*run)(moecl_ctx *ctx, int i, void *user);
    void *user;
} moecl_candidates;

/* The fastest wanted and applicable candidate for key (-1: none), timing
 * those not measured yet and keeping the times. */
moecl_status moecl_choose_by_timing(moecl_ctx *ctx, const char *key, const moecl_candidates *cand,
                                    int *best);
void moecl_choices_path(const char *cache_dir, const moecl_device_info *dev, char *out, size_t size);
/* Reads the choices file now (otherwise at the first choice); a damaged
 * file is ignored with a warning naming it. */
void moecl_choices_load(moecl_ctx *ctx);
/* The file's second line, which it must match: device, driver, kernels. */
void moecl_choices_device_line(const moecl_device_info *dev, char *out, size_t size);
void moecl_choices_init(moecl_ctx *ctx);
void moecl_choices_release(moecl_ctx *ctx);

/* The parameter sets worth trying on a device (from its native vector
 * width) and the spec; MOECL_ERR_INVALID_ARG for an unknown spec. */
moecl_status moecl_gemm_state_init(moecl_ctx *ctx, const char *spec, bool progress); /* gemm_select.c */
/* gemm_own.c: the parameter sets for the device's native vector width. */
void moecl_own_variants_choose(moecl_ctx *ctx);
void moecl_gemm_state_release(moecl_gemm_state *g);
/* A product for our kernels in its general form: matrices seen through
 * views (element (r, c) at offset + t * batch_stride + r * rs +
 * (c / group) * gs + (c % group) * cs; group 0: r * rs + c * cs), B
 * optionally built from an NCHW image as a convolution's im2col matrix or
 * its transpose, a bias added per row or column, and K optionally in
 * chunks of kc (batch = the number of chunks; each writes its own C). */
typedef struct moecl_view {
    cl_mem buf;
    size_t offset, batch_stride, rs, cs, group, gs;
} moecl_view;

typedef struct moecl_conv_shape {
    int c, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
} moecl_conv_shape;

typedef enum moecl_b_source {
    MOECL_B_VIEW = 0,
    MOECL_B_IM2COL,   /* B[(c, i, j), (n, oh, ow)] from the image in b.buf */
    MOECL_B_IM2COL_T  /* its transpose: K runs over the output pixels */
} moecl_b_source;

typedef struct moecl_product {
    size_t m, n, k, batch, kc;
    float alpha, beta;
    moecl_view a, b, c;
    moecl_b_source b_source;
    moecl_conv_shape conv;
    cl_mem bias;   /* NULL: none */
    int bias_mode; /* 1: bias[row], 2: bias[column] */
    bool relu;     /* C = max(0, C) after the bias (a fused ReLU) */
} moecl_product;

/* Runs a product with our variant v (index into ctx->gemm.variants). */
moecl_status moecl_own_product(moecl_ctx *ctx, int v, const moecl_product *p);
/* Stride-1 convolution straight from the zero-bordered input xp ([n, C,
 * OH+KH-1, wp]; conv_direct.cl), variant v: y (NCHW) = w * xp + bias,
 * through max(0, .) with relu. wp is at least moecl_own_conv_direct_width
 * (the rows' panels reach past OW to a multiple of NR). Needs an output row
 * of at least half a panel, or two rows a panel (moecl_own_conv_direct_fits).
 * conv.c/h/w are the input's channels and the rest of s as in moecl_conv_shape. */
bool moecl_own_conv_direct_fits(const moecl_ctx *ctx, int v, int oh, int ow);
int moecl_own_conv_direct_width(const moecl_ctx *ctx, int v, int oh, int ow, int kw);
/* The widest that width is on any variant (scratch sizes). */
#define MOECL_CONV_DIRECT_MAX_WIDTH(ow, kw) ((size_t)(((ow) + 15) / 16 * 16 + (kw) - 1))
moecl_status moecl_own_conv_forward(moecl_ctx *ctx, int v, cl_mem xp, int wp, cl_mem w, cl_mem bias,
                                    bool relu, cl_mem y, int filters, const moecl_conv_shape *s,
                                    int n);
/* The partial weight gradients of `chunks` chunks of kc output pixels each,
 * [chunks][F][C*KH*KW] into part, from the bordered input xp ([n, C,
 * (OH-1)*SH+KH, (OW-1)*SW+KW]) and dy (NCHW). */
moecl_status moecl_own_conv_weight_grad(moecl_ctx *ctx, int v, cl_mem xp, int wp, cl_mem dy, cl_mem part,
                                        int filters, const moecl_conv_shape *s, int n, size_t kc,
                                        size_t chunks);
/* Bytes of the packed panels a product needs with variant v. */
size_t moecl_own_packed_bytes(const moecl_ctx *ctx, int v, size_t m, size_t n, size_t k, size_t batch);
/* Our GEMM with variant v; false from _fits when its sizes do not fit the
 * kernels' int arguments or the device's largest allocation. */
bool moecl_own_gemm_fits(const moecl_ctx *ctx, int v, const moecl_gemm_args *a, size_t sa,
                         size_t sb, size_t sc, size_t batch);
moecl_status moecl_own_gemm(moecl_ctx *ctx, int v, const moecl_gemm_args *a, size_t sa,
                            size_t sb, size_t sc, size_t batch);
/* CLBlast's GEMM (blas.c). */
moecl_status moecl_clblast_gemm(moecl_ctx *ctx, const moecl_gemm_args *a, size_t sa, size_t sb,
                                size_t sc, size_t batch);
/* The name of a CLBlast status code (its own or OpenCL's), for messages. */
const char *moecl_clblast_status_name(int status);
/* The key of a device for files kept per device (name, driver, platform). */
void moecl_device_key(const moecl_device_info *dev, char hex[65]);
/* ---- profiling (profile.c) ------------------------------------------------ */

typedef struct moecl_profile {
    bool recording;
    const char *layer, *pass; /* who enqueues now (moecl_profile_scope) */
    moecl_profile_record *records;
    int count, capacity;
    cl_event pending; /* the marker before a CLBlast routine */
} moecl_profile;

/* The event slot for the next enqueue while recording, else NULL. */
cl_event *moecl_profile_event(moecl_ctx *ctx, const char *what);
moecl_status moecl_profile_bracket_begin(moecl_ctx *ctx);
moecl_status moecl_profile_bracket_end(moecl_ctx *ctx, const char *what);

typedef struct moecl_kernel_entry {
    char name[64];
    cl_kernel kernel;
} moecl_kernel_entry;

/* The bytes moecl may hold on the device: its global memory, or
 * MOECL_DEVICE_MEMORY_MB (0: no limit known). */
uint64_t moecl_memory_limit(const moecl_device_info *d);

/* Every device buffer of moecl: refused with a message saying what was
 * needed and what the device has when it exceeds the largest allocation
 * or would bring moecl's buffers past the device's global memory (rather
 * than a driver's late CL_OUT_OF_RESOURCES in the middle of a step). */
moecl_status moecl_buffer_create(moecl_ctx *ctx, size_t bytes, const char *what, cl_mem *out);
void moecl_buffer_release(moecl_ctx *ctx, cl_mem buf, size_t bytes);

#define MOECL_CONTEXT_DEVICES_MAX 16

struct moecl_ctx {
    moecl_device_info device;
    cl_context context;
    /* the devices of the OpenCL context (this one first; more where it is
     * shared with the devices experts are placed on: moecl_ctx_options) */
    cl_device_id context_devices[MOECL_CONTEXT_DEVICES_MAX];
    int n_context_devices;
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
    size_t device_bytes; /* all of moecl's buffers on the device (moecl_buffer_create) */

    moecl_gemm_state gemm; /* our GEMM kernels and the choices between paths */
    moecl_choices choices; /* measured choices (choice.c) */
    bool profiling;        /* the queue records timestamps */
    bool no_tuning;        /* CLBlast's defaults even where a tuning file is */
    /* Element-wise, pooling and reduction kernels shaped for a CPU driver (a
     * vector's worth of work per item, small groups) rather than for a GPU
     * (an item per element, coalesced): the device's type, or
     * MOECL_KERNEL_SHAPE=cpu|gpu (tests run both shapes on one device). */
    bool cpu_shaped;
    moecl_profile profile;

    cl_mem workspace[MOECL_WORKSPACES]; /* shared layer temporaries */
    size_t workspace_bytes[MOECL_WORKSPACES];
};

/* Waits for the queue (moecl_ctx_finish, inline so that the files below
 * the context (profile.c, choice.c) need not call back into context.c). */
static inline moecl_status moecl_queue_finish(moecl_ctx *ctx)
{
    MOECL_CL_CHECK(&ctx->device, clFinish(ctx->queue));
    return MOECL_OK;
}

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
/* cl/gemm: built per parameter set with -D options, when first needed */
extern const moecl_embedded_source moecl_embedded_gemm_sources[];
extern const int moecl_embedded_gemm_sources_count;
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
