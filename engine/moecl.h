/* moecl: a portable OpenCL engine for mixture-of-experts networks.
 *
 * The one public header. Functions return a moecl_status; on failure,
 * moecl_last_error() holds a one-paragraph message naming what failed
 * (the OpenCL call, its symbolic error code and the device). Library code
 * never exits the process. */
#ifndef MOECL_H
#define MOECL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOECL_VERSION "0.1.0"

/* ---- status ------------------------------------------------------------ */

typedef enum moecl_status {
    MOECL_OK = 0,
    MOECL_ERR_INVALID_ARG,   /* bad usage or input: exit code 2 */
    MOECL_ERR_NO_DEVICE,     /* a device selection matched nothing: exit code 2 */
    MOECL_ERR_NO_PLATFORM,   /* no OpenCL platform is installed */
    MOECL_ERR_OPENCL,        /* an OpenCL call failed */
    MOECL_ERR_BUILD,         /* a kernel failed to build */
    MOECL_ERR_BLAS,          /* a CLBlast call failed */
    MOECL_ERR_IO,            /* a file could not be read or written */
    MOECL_ERR_FORMAT,        /* a file is malformed */
    MOECL_ERR_OUT_OF_MEMORY, /* host or device memory ran out */
    MOECL_ERR_DIVERGED,      /* training produced NaN or infinity */
    MOECL_STATUS_COUNT
} moecl_status;

const char *moecl_strerror(moecl_status status);
/* The detailed message of this thread's last failure ("" if none). */
const char *moecl_last_error(void);

#if defined(__GNUC__)
#define MOECL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MOECL_PRINTF(a, b)
#endif

/* Records a message as this thread's last error and returns status. */
moecl_status moecl_fail(moecl_status status, const char *fmt, ...) MOECL_PRINTF(2, 3);
/* Process exit code for a status: 0 ok, 2 usage or bad input, 1 otherwise. */
int moecl_exit_code(moecl_status status);
/* Returns from the enclosing function when a call fails. */
#define MOECL_TRY(expr)                                             \
    do {                                                            \
        moecl_status moecl_st_ = (expr);                            \
        if (moecl_st_ != MOECL_OK) return moecl_st_;                \
    } while (0)

/* Symbolic name of an OpenCL error code, e.g. "CL_OUT_OF_RESOURCES". */
const char *moecl_cl_error_name(cl_int code);

/* ---- devices ----------------------------------------------------------- */

typedef struct moecl_device_info {
    int index;                /* position in the flat list over all platforms */
    cl_platform_id platform;
    cl_device_id id;
    char platform_name[128];
    char platform_version[128];
    char name[256];
    char vendor[128];
    char driver_version[128];
    char opencl_c_version[64];
    char type[16];            /* "GPU", "CPU", "accelerator", "custom" */
    bool is_gpu;
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    unsigned native_float_width; /* floats in the device's native vector (8 for AVX2) */
    bool fp16;
    bool fp64;
} moecl_device_info;

/* Every OpenCL device of every platform, CPU devices included, as one list.
 * MOECL_ERR_NO_PLATFORM when no platform is installed. Free with free(). */
moecl_status moecl_devices_list(moecl_device_info **devices, int *count);

/* Chooses a device: spec is an index ("1") or a case-insensitive substring
 * of the device name; NULL or "" picks the first GPU, else the first device.
 * MOECL_ERR_NO_DEVICE when nothing matches. */
moecl_status moecl_device_select(const moecl_device_info *devices, int count,
                                 const char *spec, int *index);
/* The first item of a comma-separated device list ("0,1", "gfx,pthread")
 * into item (cut at 63 characters); returns where the next item starts. */
const char *moecl_device_list_next(const char *list, char item[64]);

/* ---- context: one device, its queue, its compiled kernels --------------- */

typedef struct moecl_ctx moecl_ctx;

typedef struct moecl_ctx_options {
    const char *cache_dir; /* NULL: $MOECL_CACHE_DIR, else the XDG cache dir */
    bool no_cache;         /* build every program from source, write nothing */
    bool profiling;        /* queue with profiling enabled */
    bool no_tuning;        /* ignore the device's GEMM tuning file (moecl tune) */
    const char *gemm;      /* GEMM path (see moecl_ctx_set_gemm); NULL: $MOECL_GEMM, else "auto" */
    bool gemm_progress;    /* a line on stderr for each GEMM shape measured */
    /* A device list as --experts-on takes it (indices or names, commas):
     * those on this device's platform join its OpenCL context, so that
     * moecl_ctx_create_like opens them in it and buffers are copied between
     * them by the driver instead of through host memory.
     * MOECL_SHARED_CONTEXT=0 keeps every device in a context of its own. */
    const char *share_with;
} moecl_ctx_options;

typedef enum moecl_cache_result {
    MOECL_CACHE_DISABLED = 0, /* --no-cache or no usable cache directory */
    MOECL_CACHE_MISS,         /* no entry: built from source and stored */
    MOECL_CACHE_HIT,          /* loaded from the cache, no compile */
    MOECL_CACHE_REBUILT       /* entry was corrupt or unusable: rebuilt */
} moecl_cache_result;

const char *moecl_cache_result_name(moecl_cache_result r);

typedef struct moecl_program_report {
    char name[64];
    moecl_cache_result cache;
    double seconds;
    size_t source_bytes;
    unsigned kernels;
} moecl_program_report;

/* Opens the device and builds (or loads from the cache) every embedded
 * kernel program. Afterwards no program is built again. */
moecl_status moecl_ctx_create(const moecl_device_info *device,
                              const moecl_ctx_options *options, moecl_ctx **ctx);
/* Another device opened as `like` was (cache, tuning, GEMM path, profiling),
 * in like's OpenCL context where like was created to share it with this
 * device (share_with), else in a context of its own. */
moecl_status moecl_ctx_create_like(const moecl_ctx *like, const moecl_device_info *device,
                                   moecl_ctx **ctx);
void moecl_ctx_destroy(moecl_ctx *ctx);

const moecl_device_info *moecl_ctx_device(const moecl_ctx *ctx);
cl_context moecl_ctx_cl_context(const moecl_ctx *ctx);
/* Whether two contexts' buffers live in one OpenCL context (share_with). */
bool moecl_ctx_same_context(const moecl_ctx *a, const moecl_ctx *b);
cl_command_queue moecl_ctx_queue(const moecl_ctx *ctx);
/* Reports of the embedded programs built at creation, in build order. */
const moecl_program_report *moecl_ctx_reports(const moecl_ctx *ctx, int *count);
/* The directory of the program cache, or NULL when caching is off. */
const char *moecl_ctx_cache_dir(const moecl_ctx *ctx);
/* A kernel of an embedded program by name; NULL (with last error) if none. */
cl_kernel moecl_kernel(moecl_ctx *ctx, const char *name);
/* Waits for all queued work. */
moecl_status moecl_ctx_finish(moecl_ctx *ctx);

/* Builds one program from source through the cache. On a build failure the
 * last error holds the device, the build options and the full build log. */
moecl_status moecl_program_build(moecl_ctx *ctx, const char *name,
                                 const char *source, const char *options,
                                 cl_program *program, moecl_program_report *report);

/* ---- tensors ----------------------------------------------------------- */

#define MOECL_MAX_DIMS 4

typedef struct moecl_tensor {
    moecl_ctx *ctx;
    cl_mem buf;
    int ndim;
    int shape[MOECL_MAX_DIMS];
    size_t count; /* number of float elements */
} moecl_tensor;

moecl_status moecl_tensor_create(moecl_ctx *ctx, int ndim, const int *shape,
                                 moecl_tensor **tensor);
void moecl_tensor_destroy(moecl_tensor *tensor);
moecl_status moecl_tensor_upload(moecl_tensor *t, const float *host, size_t count);
moecl_status moecl_tensor_download(const moecl_tensor *t, float *host, size_t count);
/* Writes the first count floats (count <= the tensor's), blocking. */
moecl_status moecl_tensor_upload_part(moecl_tensor *t, const float *host, size_t count);
moecl_status moecl_tensor_fill(moecl_tensor *t, float value);
/* Copies the first count floats of src into dst, on the device. */
moecl_status moecl_tensor_copy(const moecl_tensor *src, moecl_tensor *dst, size_t count);
/* "[3, 5, 7]" */
void moecl_tensor_shape_string(const moecl_tensor *t, char *buf, size_t size);

/* ---- matrix products through CLBlast ------------------------------------ */

/* Row-major C = alpha * op(A) * op(B) + beta * C, op(A) M x K, op(B) K x N.
 * Offsets and leading dimensions are in elements. */
typedef struct moecl_gemm_args {
    bool trans_a, trans_b;
    size_t m, n, k;
    float alpha, beta;
    cl_mem a; size_t a_offset, lda;
    cl_mem b; size_t b_offset, ldb;
    cl_mem c; size_t c_offset, ldc;
} moecl_gemm_args;

moecl_status moecl_gemm(moecl_ctx *ctx, const moecl_gemm_args *args);
/* batch_count products, the i-th one at offsets + i * stride. */
moecl_status moecl_gemm_strided_batched(moecl_ctx *ctx, const moecl_gemm_args *args,
                                        size_t a_stride, size_t b_stride,
                                        size_t c_stride, size_t batch_count);
/* Which GEMM runs a product:
 *   "auto"     the fastest for the shape, measured on the device the first
 *              time the shape is seen and kept in the cache directory
 *              (gemm-choices-KEY.txt), as cuDNN's benchmark mode does;
 *   "clblast"  CLBlast's kernels (shaped for GPUs);
 *   "own"      the fastest of our packed kernels (shaped for CPUs);
 *   "own6x16"  one of them by name (moecl_gemm_algorithm_name).
 * MOECL_ERR_INVALID_ARG, naming the known ones, for anything else. */
moecl_status moecl_ctx_set_gemm(moecl_ctx *ctx, const char *spec);
const char *moecl_ctx_gemm(const moecl_ctx *ctx);
/* Algorithms: 0 is CLBlast, 1.. our kernels' parameter sets; NULL past the end. */
const char *moecl_gemm_algorithm_name(const moecl_ctx *ctx, int algorithm);
/* The algorithm the current path runs for a shape (measuring it first
 * under "auto" if it is new), or -1 with the error recorded. */
int moecl_gemm_choose(moecl_ctx *ctx, const moecl_gemm_args *args, size_t a_stride,
                      size_t b_stride, size_t c_stride, size_t batch_count);
/* Bytes of the GEMM temporary buffer the context holds (grown, never per call). */
size_t moecl_gemm_temp_bytes(const moecl_ctx *ctx);

/* ---- kernel launches ---------------------------------------------------- */

typedef struct moecl_karg {
    size_t size;
    const void *value;
} moecl_karg;

#define MOECL_ARG_MEM(m) ((moecl_karg){sizeof(cl_mem), &(m)})
#define MOECL_ARG_INT(v) ((moecl_karg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define MOECL_ARG_UINT(v) ((moecl_karg){sizeof(cl_uint), &(cl_uint){(cl_uint)(v)}})
#define MOECL_ARG_FLOAT(v) ((moecl_karg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})

/* Enqueues an embedded kernel by name over `global` work items (rounded up
 * to a multiple of `local` when local > 0; kernels guard their index). */
moecl_status moecl_launch(moecl_ctx *ctx, const char *kernel, size_t global, size_t local,
                          const moecl_karg *args, int nargs);
#define MOECL_LAUNCH(ctx, kernel, global, local, ...)                               \
    moecl_launch((ctx), (kernel), (global), (local), (moecl_karg[]){__VA_ARGS__},   \
                 (int)(sizeof((moecl_karg[]){__VA_ARGS__}) / sizeof(moecl_karg)))

/* An element-wise kernel over `count` floats that takes MOECL_STREAM_CHUNK
 * consecutive elements per work item (cl/lib/stream.cl's STREAM_CHUNK). */
#define MOECL_STREAM_CHUNK 16
moecl_status moecl_launch_stream(moecl_ctx *ctx, const char *kernel, size_t count,
                                 const moecl_karg *args, int nargs);
#define MOECL_LAUNCH_STREAM(ctx, kernel, count, ...)                                  \
    moecl_launch_stream((ctx), (kernel), (count), (moecl_karg[]){__VA_ARGS__},        \
                        (int)(sizeof((moecl_karg[]){__VA_ARGS__}) / sizeof(moecl_karg)))

/* A three-dimensional launch, global0 x global1 x global2 work items, the
 * work-group size left to the driver. Dimension 0 runs along contiguous
 * memory, so that GPUs coalesce it; each index comes from its own dimension,
 * so that kernels need no per-item division (which CPU drivers repeat for
 * every vector lane). */
moecl_status moecl_launch_3d(moecl_ctx *ctx, const char *kernel, size_t global0, size_t global1,
                             size_t global2, const moecl_karg *args, int nargs);
#define MOECL_LAUNCH_3D(ctx, kernel, global0, global1, global2, ...)                          \
    moecl_launch_3d((ctx), (kernel), (global0), (global1), (global2),                         \
                    (moecl_karg[]){__VA_ARGS__},                                              \
                    (int)(sizeof((moecl_karg[]){__VA_ARGS__}) / sizeof(moecl_karg)))

/* Two shared device buffers (slots 0 and 1) for layer temporaries; reserve
 * the largest need at set-up, then use moecl_workspace() in the step. */
moecl_status moecl_workspace_reserve(moecl_ctx *ctx, int slot, size_t floats);
cl_mem moecl_workspace(moecl_ctx *ctx, int slot);

/* ---- profiling: where a step's time goes -------------------------------- */

typedef struct moecl_profile_record {
    char what[64];   /* kernel or routine: "im2col_f32", "gemm_packed (own6x16)", "clblast gemm" */
    char layer[96];  /* "conv2d_1 forward", or "(outside layers)" */
    double ms;       /* device time */
    cl_event event, before;
} moecl_profile_record;

/* Records every enqueue from now on (the context must have been opened
 * with profiling); stop waits for the queue and returns the records, valid
 * until the next start or release. */
moecl_status moecl_profile_start(moecl_ctx *ctx);
moecl_status moecl_profile_stop(moecl_ctx *ctx, moecl_profile_record **records, int *count);
void moecl_profile_release(moecl_ctx *ctx);
/* Names the layer and pass ("forward", "backward") that enqueues next. */
void moecl_profile_scope(moecl_ctx *ctx, const char *layer, const char *pass);

/* ---- small utilities --------------------------------------------------- */

double moecl_seconds(void); /* monotonic clock */

/* Writes v with that many decimals, or null where it is not finite (JSON
 * has no NaN or Infinity). */
void moecl_json_number(FILE *out, double v, int decimals);
/* A number read from a file as an int: saturated at INT_MIN and INT_MAX,
 * NaN as 0 (a plain cast of a value out of range is undefined). */
int moecl_int_of(double v);

/* In a sanitizer build (MOECL_SANITIZE), runs LeakSanitizer now and returns
 * true when it found leaks; otherwise false. Called at the end of main,
 * while the OpenCL driver's threads are idle rather than exiting. */
bool moecl_leak_check(void);

/* Reads a whole file (NUL-terminated for text use); free() the data. */
moecl_status moecl_read_file(const char *path, char **data, size_t *size);
/* Writes parts to a temporary file, syncs it and renames it over path, so
 * that a reader never sees half a file and a crash loses nothing old. */
moecl_status moecl_write_file_atomic(const char *path, const void *const *parts,
                                     const size_t *sizes, int count);
/* The temporary name for an atomic write of path: unique to this process
 * and thread (threads train on several devices at once). */
void moecl_temp_name(const char *path, char *out, size_t size);
/* For the crash tests only: with MOECL_TEST_KILL=POINT[@N] in the
 * environment, the process kills itself (SIGKILL, as kill -9) the N-th time
 * (default the first) it reaches POINT: "write:FILE" (FILE's atomic write
 * half done), "epoch-end:metrics" (the epoch's metrics line written, its
 * state not yet), "epoch-end:state" (the state written, the checkpoints
 * not yet). */
void moecl_test_kill(const char *point);

#ifdef __cplusplus
}
#endif
#endif
