/* moecl kernels: builds every embedded kernel program for the device through
 * the cache, and reports what the cache did and the time to ready. With
 * --source, also builds a .cl file of the user's (a quick compile check). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cmd_kernels(const cli_globals *g, int argc, char **argv)
{
    const char *source_path = NULL, *options = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--source") == 0 && i + 1 < argc)
            source_path = argv[++i];
        else if (strcmp(argv[i], "--options") == 0 && i + 1 < argc)
            options = argv[++i];
        else
            return cli_usage_error("kernels: unknown option or missing value '%s'", argv[i]);
    }
    double start = moecl_seconds();
    moecl_ctx *ctx = NULL;
    int rc = cli_open_device(g, &ctx);
    if (rc) return rc;
    double ready = moecl_seconds() - start;

    int n = 0;
    const moecl_program_report *reports = moecl_ctx_reports(ctx, &n);
    printf("%-16s %8s %8s %8s %10s\n", "program", "kernels", "bytes", "cache", "ms");
    int built = 0, hits = 0;
    for (int i = 0; i < n; i++) {
        const moecl_program_report *r = &reports[i];
        printf("%-16s %8u %8zu %8s %10.1f\n", r->name, r->kernels, r->source_bytes,
               moecl_cache_result_name(r->cache), r->seconds * 1e3);
        if (r->cache == MOECL_CACHE_HIT)
            hits++;
        else
            built++;
    }
    const char *dir = moecl_ctx_cache_dir(ctx);
    printf("ready in %.3f s: %d program%s, %d from the cache, %d built (cache: %s)\n", ready, n,
           n == 1 ? "" : "s", hits, built, dir ? dir : "off");

    if (source_path) {
        char *source = NULL;
        moecl_status st = moecl_read_file(source_path, &source, NULL);
        if (st != MOECL_OK) {
            moecl_ctx_destroy(ctx);
            return cli_report(st);
        }
        cl_program program = NULL;
        moecl_program_report r;
        st = moecl_program_build(ctx, source_path, source, options, &program, &r);
        free(source);
        if (st != MOECL_OK) {
            rc = cli_report(st);
        } else {
            printf("%s: built, %u kernel%s, cache %s, %.1f ms\n", source_path, r.kernels,
                   r.kernels == 1 ? "" : "s", moecl_cache_result_name(r.cache), r.seconds * 1e3);
            clReleaseProgram(program);
        }
    }
    moecl_ctx_destroy(ctx);
    return rc;
}
