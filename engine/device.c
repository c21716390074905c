/* One flat, numbered list of every OpenCL device of every platform, and
 * the choice of a device by index or by a substring of its name. */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ocl-icd returns this when no vendor ICD is installed. */
#define MOECL_CL_PLATFORM_NOT_FOUND_KHR (-1001)

static void device_string(cl_device_id id, cl_device_info what, char *out, size_t size)
{
    out[0] = '\0';
    if (clGetDeviceInfo(id, what, size, out, NULL) != CL_SUCCESS) snprintf(out, size, "?");
    out[size - 1] = '\0';
}

static const char *device_type_name(cl_device_type type)
{
    if (type & CL_DEVICE_TYPE_GPU) return "GPU";
    if (type & CL_DEVICE_TYPE_CPU) return "CPU";
    if (type & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    return "custom";
}

static void fill_device_info(moecl_device_info *d, cl_platform_id platform, cl_device_id id)
{
    memset(d, 0, sizeof *d);
    d->platform = platform;
    d->id = id;
    clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof d->platform_name, d->platform_name, NULL);
    clGetPlatformInfo(platform, CL_PLATFORM_VERSION, sizeof d->platform_version,
                      d->platform_version, NULL);
    d->platform_name[sizeof d->platform_name - 1] = '\0';
    d->platform_version[sizeof d->platform_version - 1] = '\0';
    device_string(id, CL_DEVICE_NAME, d->name, sizeof d->name);
    device_string(id, CL_DEVICE_VENDOR, d->vendor, sizeof d->vendor);
    device_string(id, CL_DRIVER_VERSION, d->driver_version, sizeof d->driver_version);
    device_string(id, CL_DEVICE_OPENCL_C_VERSION, d->opencl_c_version, sizeof d->opencl_c_version);

    cl_device_type type = 0;
    clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    snprintf(d->type, sizeof d->type, "%s", device_type_name(type));
    d->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;

    cl_uint u = 0;
    clGetDeviceInfo(id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL);
    d->compute_units = u;
    u = 0;
    clGetDeviceInfo(id, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL);
    d->clock_mhz = u;
    cl_ulong l = 0;
    clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof l, &l, NULL);
    d->global_mem_bytes = l;
    l = 0;
    clGetDeviceInfo(id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof l, &l, NULL);
    d->local_mem_bytes = l;
    l = 0;
    clGetDeviceInfo(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof l, &l, NULL);
    d->max_alloc_bytes = l;
    size_t s = 0;
    clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof s, &s, NULL);
    d->max_work_group_size = s;
    cl_uint width = 1;
    clGetDeviceInfo(id, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof width, &width, NULL);
    d->native_float_width = width ? width : 1;

    /* fp16/fp64 support is read from the extension list, as OpenCL 1.2 says. */
    size_t ext_size = 0;
    if (clGetDeviceInfo(id, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_size) == CL_SUCCESS && ext_size) {
        char *ext = malloc(ext_size + 1);
        if (ext && clGetDeviceInfo(id, CL_DEVICE_EXTENSIONS, ext_size, ext, NULL) == CL_SUCCESS) {
            ext[ext_size] = '\0';
            d->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
            d->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
        }
        free(ext);
    }
}

moecl_status moecl_devices_list(moecl_device_info **devices, int *count)
{
    *devices = NULL;
    *count = 0;
    cl_uint nplat = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &nplat);
    if (err == MOECL_CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && nplat == 0))
        return moecl_fail(MOECL_ERR_NO_PLATFORM,
                          "no OpenCL platform is installed. Install one: PoCL for CPUs "
                          "(Debian/Ubuntu: 'apt-get install pocl-opencl-icd'), or your GPU "
                          "vendor's OpenCL driver (AMD ROCm/Mesa rusticl, Intel compute-runtime, "
                          "NVIDIA driver). The ICD loader looks for vendor files in "
                          "/etc/OpenCL/vendors (or $OCL_ICD_VENDORS).");
    if (err != CL_SUCCESS) return moecl_cl_fail(err, "clGetPlatformIDs", NULL);

    cl_platform_id *plats = calloc(nplat, sizeof *plats);
    if (!plats) return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory listing platforms");
    err = clGetPlatformIDs(nplat, plats, NULL);
    if (err != CL_SUCCESS) {
        free(plats);
        return moecl_cl_fail(err, "clGetPlatformIDs", NULL);
    }

    moecl_device_info *list = NULL;
    int n = 0;
    for (cl_uint p = 0; p < nplat; p++) {
        cl_uint ndev = 0;
        /* A platform with no devices answers CL_DEVICE_NOT_FOUND: skip it. */
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev) != CL_SUCCESS || !ndev)
            continue;
        cl_device_id *ids = calloc(ndev, sizeof *ids);
        moecl_device_info *grown = realloc(list, (size_t)(n + (int)ndev) * sizeof *list);
        if (!ids || !grown) {
            free(ids);
            free(grown ? grown : list);
            free(plats);
            return moecl_fail(MOECL_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
        }
        list = grown;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, ids, NULL) == CL_SUCCESS) {
            for (cl_uint d = 0; d < ndev; d++) {
                fill_device_info(&list[n], plats[p], ids[d]);
                list[n].index = n;
                n++;
            }
        }
        free(ids);
    }
    free(plats);
    if (n == 0) {
        free(list);
        return moecl_fail(MOECL_ERR_NO_PLATFORM,
                          "OpenCL platforms are installed but none has a device. Install PoCL "
                          "for CPUs ('apt-get install pocl-opencl-icd') or check your GPU driver.");
    }
    *devices = list;
    *count = n;
    return MOECL_OK;
}

static bool contains_ignoring_case(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < nl && h[i] &&
               tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl) return true;
    }
    return nl == 0;
}

static bool parse_index(const char *s, long *value)
{
    char *end = NULL;
    if (!*s) return false;
    long v = strtol(s, &end, 10);
    if (*end != '\0') return false;
    *value = v;
    return true;
}

moecl_status moecl_device_select(const moecl_device_info *devices, int count,
                                 const char *spec, int *index)
{
    if (count <= 0) return moecl_fail(MOECL_ERR_NO_PLATFORM, "no OpenCL device");
    if (!spec || !*spec) {
        *index = 0;
        for (int i = 0; i < count; i++)
            if (devices[i].is_gpu) {
                *index = i;
                break;
            }
        return MOECL_OK;
    }
    long v;
    if (parse_index(spec, &v)) {
        if (v < 0 || v >= count)
            return moecl_fail(MOECL_ERR_NO_DEVICE,
                              "device index %ld does not exist: there %s %d device%s (0..%d)", v,
                              count == 1 ? "is" : "are", count, count == 1 ? "" : "s", count - 1);
        *index = (int)v;
        return MOECL_OK;
    }
    for (int i = 0; i < count; i++)
        if (contains_ignoring_case(devices[i].name, spec)) {
            *index = i;
            return MOECL_OK;
        }
    return moecl_fail(MOECL_ERR_NO_DEVICE, "no device name contains '%s'", spec);
}

const char *moecl_device_list_next(const char *list, char item[64])
{
    size_t len = strcspn(list, ",");
    snprintf(item, 64, "%.*s", (int)(len < 63 ? len : 63), list);
    return list + len + (list[len] == ',');
}
