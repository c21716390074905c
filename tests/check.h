/* A minimal test harness: CHECK records a failure and goes on, so one run
 * reports every broken assertion; test_main prints "N passed, N failed". */
#ifndef MOECL_CHECK_H
#define MOECL_CHECK_H

#include "moecl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            check_passed++;                                                     \
        } else {                                                                \
            check_failed++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
        }                                                                       \
    } while (0)

/* For calls whose failure makes the rest of a test meaningless. */
#define REQUIRE_OK(expr)                                                        \
    do {                                                                        \
        moecl_status req_st_ = (expr);                                          \
        if (req_st_ != MOECL_OK) {                                              \
            fprintf(stderr, "FAIL %s:%d: %s: %s: %s\n", __FILE__, __LINE__,     \
                    #expr, moecl_strerror(req_st_), moecl_last_error());        \
            check_failed++;                                                     \
            return;                                                             \
        }                                                                       \
    } while (0)

static inline int check_summary(const char *name)
{
    if (moecl_leak_check()) {
        fprintf(stderr, "FAIL: memory leaks (see LeakSanitizer's report above)\n");
        check_failed++;
    }
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* Opens the device chosen by $MOECL_DEVICE (default selection otherwise),
 * with the kernel cache in dir (NULL: no cache). Exits with 1 on failure:
 * every device test needs a device. */
static inline moecl_ctx *check_open_device(const char *cache_dir)
{
    moecl_device_info *devices = NULL;
    int count = 0, index = 0;
    moecl_status st = moecl_devices_list(&devices, &count);
    if (st == MOECL_OK) st = moecl_device_select(devices, count, getenv("MOECL_DEVICE"), &index);
    moecl_ctx *ctx = NULL;
    moecl_ctx_options opts = {.cache_dir = cache_dir, .no_cache = cache_dir == NULL};
    if (st == MOECL_OK) st = moecl_ctx_create(&devices[index], &opts, &ctx);
    free(devices);
    if (st != MOECL_OK) {
        fprintf(stderr, "cannot open an OpenCL device: %s\n", moecl_last_error());
        exit(1);
    }
    return ctx;
}

/* The larger of a running worst difference and a new one, where NaN wins
 * and stays: a comparison against a tolerance then fails (fmax would drop
 * a NaN difference and let a NaN result pass). */
static inline double check_worst(double worst, double diff)
{
    return isnan(worst) || diff <= worst ? worst : diff;
}

/* Deterministic pseudo-random floats in [-1, 1). */
static inline float check_random(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
}

#endif
