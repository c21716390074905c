/* Device opening, error reporting and small output helpers of the CLI. */
#include "cli.h"
#include "tuning.h"
#include "model.h"
#include "expert_devices.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_report(moecl_status st)
{
    fprintf(stderr, "moecl: error: %s\n", moecl_last_error()[0] ? moecl_last_error()
                                                                 : moecl_strerror(st));
    return moecl_exit_code(st);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "moecl: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'moecl help' for the commands and options.\n");
    va_end(ap);
    return 2;
}

static void format_bytes(uint64_t bytes, char *buf, size_t size)
{
    if (bytes >= (1ull << 30))
        snprintf(buf, size, "%.1f GiB", (double)bytes / (double)(1ull << 30));
    else if (bytes >= (1ull << 20))
        snprintf(buf, size, "%.1f MiB", (double)bytes / (double)(1ull << 20));
    else
        snprintf(buf, size, "%.0f KiB", (double)bytes / 1024.0);
}

void cli_print_device_table(FILE *out, const moecl_device_info *devices, int count, int selected)
{
    for (int i = 0; i < count; i++) {
        const moecl_device_info *d = &devices[i];
        char gmem[32], lmem[32];
        format_bytes(d->global_mem_bytes, gmem, sizeof gmem);
        format_bytes(d->local_mem_bytes, lmem, sizeof lmem);
        fprintf(out, "%c %d: %s\n", i == selected ? '*' : ' ', d->index, d->name);
        fprintf(out, "     platform %s (%s) | type %s | vendor %s\n", d->platform_name,
                d->platform_version, d->type, d->vendor);
        fprintf(out, "     driver %s | %s\n", d->driver_version, d->opencl_c_version);
        fprintf(out,
                "     %u compute units @ %u MHz | global %s | local %s | max work-group %zu | "
                "fp16 %s | fp64 %s\n",
                d->compute_units, d->clock_mhz, gmem, lmem, d->max_work_group_size,
                d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
    }
}

void cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

bool cli_parse_long(const char *s, long *value)
{
    char *end = NULL;
    if (!s || !*s) return false;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 0) return false;
    *value = v;
    return true;
}

bool cli_parse_double(const char *s, double *value)
{
    char *end = NULL;
    if (!s || !*s) return false;
    double v = strtod(s, &end);
    if (*end != '\0' || !(v > 0)) return false;
    *value = v;
    return true;
}

int cli_open_device(const cli_globals *g, moecl_ctx **ctx)
{
    return cli_open_device_sharing(g, NULL, ctx);
}

int cli_open_device_sharing(const cli_globals *g, const char *share_with, moecl_ctx **ctx)
{
    *ctx = NULL;
    moecl_device_info *devices = NULL;
    int count = 0;
    moecl_status st = moecl_devices_list(&devices, &count);
    if (st != MOECL_OK) return cli_report(st);
    int index = 0;
    st = moecl_device_select(devices, count, g->device_spec, &index);
    if (st != MOECL_OK) {
        int code = cli_report(st);
        fprintf(stderr, "The OpenCL devices on this machine ('moecl devices' for details):\n");
        for (int i = 0; i < count; i++)
            fprintf(stderr, "  %d: %s (%s, %s)\n", i, devices[i].name, devices[i].platform_name,
                    devices[i].type);
        fprintf(stderr, "Choose one with --device INDEX or --device NAME-SUBSTRING "
                        "(or MOECL_DEVICE).\n");
        free(devices);
        return code;
    }
    const moecl_device_info *d = &devices[index];
    if (!g->quiet)
        fprintf(stderr, "moecl: device %d: %s (%s, %s, %u compute units)\n", d->index, d->name,
                d->platform_name, d->type, d->compute_units);
    moecl_ctx_options opts = {.cache_dir = g->cache_dir, .no_cache = g->no_cache,
                              .no_tuning = g->no_tuning, .gemm = g->gemm,
                              .profiling = g->profiling,
                              .gemm_progress = !g->quiet, .share_with = share_with};
    st = moecl_ctx_create(d, &opts, ctx);
    free(devices);
    if (st != MOECL_OK) return cli_report(st);
    const char *note = moecl_ctx_tuning_note(*ctx);
    if (!g->quiet && strstr(note, "GEMM tuned")) fprintf(stderr, "moecl: %s\n", note);
    return 0;
}

int cli_open_model(const cli_globals *g, const char *spec, int batch, moecl_ctx **ctx, model **net)
{
    return cli_open_model_placed(g, spec, batch, NULL, ctx, net, NULL);
}

int cli_open_model_placed(const cli_globals *g, const char *spec, int batch, const char *experts_on,
                          moecl_ctx **ctx, model **net, expert_devices *placed)
{
    *ctx = NULL;
    *net = NULL;
    moecl_status st = model_load(spec, net);
    if (st != MOECL_OK) return cli_report(st);
    int rc = cli_open_device_sharing(g, experts_on, ctx);
    if (rc == 0 && experts_on) {
        st = expert_devices_open(*ctx, experts_on, g->quiet ? NULL : stderr, placed);
        if (st == MOECL_OK) st = model_place_experts(*net, placed->ctx, placed->n);
        if (st != MOECL_OK) rc = cli_report(st);
    }
    if (rc == 0) {
        st = model_setup(*net, *ctx, batch, 1);
        if (st != MOECL_OK) rc = cli_report(st);
    }
    if (rc) {
        model_free(*net);
        if (placed) expert_devices_close(placed);
        moecl_ctx_destroy(*ctx);
        *net = NULL;
        *ctx = NULL;
    }
    return rc;
}
