/* Status codes, the per-thread last-error message and OpenCL error names. */
#include "internal.h"

#include <stdio.h>
#include <time.h>
#ifdef MOECL_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif

static _Thread_local char last_error[8192];

static const char *const status_names[] = {
    [MOECL_OK] = "ok",
    [MOECL_ERR_INVALID_ARG] = "invalid argument",
    [MOECL_ERR_NO_DEVICE] = "no such device",
    [MOECL_ERR_NO_PLATFORM] = "no OpenCL platform",
    [MOECL_ERR_OPENCL] = "OpenCL error",
    [MOECL_ERR_BUILD] = "kernel build failed",
    [MOECL_ERR_BLAS] = "CLBlast error",
    [MOECL_ERR_IO] = "input/output error",
    [MOECL_ERR_FORMAT] = "malformed file",
    [MOECL_ERR_OUT_OF_MEMORY] = "out of memory",
    [MOECL_ERR_DIVERGED] = "training diverged",
};
_Static_assert(sizeof status_names / sizeof status_names[0] == MOECL_STATUS_COUNT,
               "every status needs a name");

const char *moecl_strerror(moecl_status status)
{
    if ((int)status < 0 || status >= MOECL_STATUS_COUNT) return "unknown status";
    return status_names[status];
}

const char *moecl_last_error(void) { return last_error; }

int moecl_exit_code(moecl_status status)
{
    switch (status) {
    case MOECL_OK: return 0;
    case MOECL_ERR_INVALID_ARG:
    case MOECL_ERR_NO_DEVICE:
    case MOECL_ERR_FORMAT: return 2;
    default: return 1;
    }
}

moecl_status moecl_fail(moecl_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

moecl_status moecl_cl_fail(cl_int code, const char *call, const moecl_device_info *dev)
{
    /* Keep only the function name of the call expression. */
    int len = 0;
    while (call[len] && call[len] != '(') len++;
    moecl_status st = (code == CL_OUT_OF_RESOURCES || code == CL_OUT_OF_HOST_MEMORY ||
                       code == CL_MEM_OBJECT_ALLOCATION_FAILURE)
                          ? MOECL_ERR_OUT_OF_MEMORY
                          : MOECL_ERR_OPENCL;
    return moecl_fail(st, "%.*s failed: %s (%d) on device %d '%s'", len, call,
                      moecl_cl_error_name(code), (int)code, dev ? dev->index : -1,
                      dev ? dev->name : "?");
}

const char *moecl_cl_error_name(cl_int code)
{
    switch (code) {
#define NAME(c) case c: return #c
    NAME(CL_SUCCESS);
    NAME(CL_DEVICE_NOT_FOUND);
    NAME(CL_DEVICE_NOT_AVAILABLE);
    NAME(CL_COMPILER_NOT_AVAILABLE);
    NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE);
    NAME(CL_OUT_OF_RESOURCES);
    NAME(CL_OUT_OF_HOST_MEMORY);
    NAME(CL_PROFILING_INFO_NOT_AVAILABLE);
    NAME(CL_MEM_COPY_OVERLAP);
    NAME(CL_IMAGE_FORMAT_MISMATCH);
    NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED);
    NAME(CL_BUILD_PROGRAM_FAILURE);
    NAME(CL_MAP_FAILURE);
    NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET);
    NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
    NAME(CL_COMPILE_PROGRAM_FAILURE);
    NAME(CL_LINKER_NOT_AVAILABLE);
    NAME(CL_LINK_PROGRAM_FAILURE);
    NAME(CL_DEVICE_PARTITION_FAILED);
    NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
    NAME(CL_INVALID_VALUE);
    NAME(CL_INVALID_DEVICE_TYPE);
    NAME(CL_INVALID_PLATFORM);
    NAME(CL_INVALID_DEVICE);
    NAME(CL_INVALID_CONTEXT);
    NAME(CL_INVALID_QUEUE_PROPERTIES);
    NAME(CL_INVALID_COMMAND_QUEUE);
    NAME(CL_INVALID_HOST_PTR);
    NAME(CL_INVALID_MEM_OBJECT);
    NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR);
    NAME(CL_INVALID_IMAGE_SIZE);
    NAME(CL_INVALID_SAMPLER);
    NAME(CL_INVALID_BINARY);
    NAME(CL_INVALID_BUILD_OPTIONS);
    NAME(CL_INVALID_PROGRAM);
    NAME(CL_INVALID_PROGRAM_EXECUTABLE);
    NAME(CL_INVALID_KERNEL_NAME);
    NAME(CL_INVALID_KERNEL_DEFINITION);
    NAME(CL_INVALID_KERNEL);
    NAME(CL_INVALID_ARG_INDEX);
    NAME(CL_INVALID_ARG_VALUE);
    NAME(CL_INVALID_ARG_SIZE);
    NAME(CL_INVALID_KERNEL_ARGS);
    NAME(CL_INVALID_WORK_DIMENSION);
    NAME(CL_INVALID_WORK_GROUP_SIZE);
    NAME(CL_INVALID_WORK_ITEM_SIZE);
    NAME(CL_INVALID_GLOBAL_OFFSET);
    NAME(CL_INVALID_EVENT_WAIT_LIST);
    NAME(CL_INVALID_EVENT);
    NAME(CL_INVALID_OPERATION);
    NAME(CL_INVALID_GL_OBJECT);
    NAME(CL_INVALID_BUFFER_SIZE);
    NAME(CL_INVALID_MIP_LEVEL);
    NAME(CL_INVALID_GLOBAL_WORK_SIZE);
    NAME(CL_INVALID_PROPERTY);
    NAME(CL_INVALID_IMAGE_DESCRIPTOR);
    NAME(CL_INVALID_COMPILER_OPTIONS);
    NAME(CL_INVALID_LINKER_OPTIONS);
    NAME(CL_INVALID_DEVICE_PARTITION_COUNT);
#undef NAME
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}

double moecl_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool moecl_leak_check(void)
{
#ifdef MOECL_SANITIZE
    return __lsan_do_recoverable_leak_check() != 0;
#else
    return false;
#endif
}
