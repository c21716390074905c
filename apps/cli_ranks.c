/* Data-parallel commands (train, bench train): the same command run by
 * every rank, a thread per device of a --device list, or a process per
 * rank under mpirun (engine/dist.h). */
#include "cli.h"
#include "dist.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A comma-separated --device list: its items (index or name), at most
 * DIST_MAX_THREADS; 0 for a single device. */
static int device_list(const char *spec, char items[][64])
{
    if (!spec || !strchr(spec, ',')) return 0;
    int n = 0;
    for (const char *p = spec; *p && n < DIST_MAX_THREADS;) p = moecl_device_list_next(p, items[n++]);
    return n;
}

/* One rank of a data-parallel run: its own device, context and replica. */
typedef struct rank_run {
    cli_globals g;
    int argc, rank, rc;
    char **argv;
    char spec[64];
    cli_command_fn command;
} rank_run;

static void finish_rank(int rank, int rc)
{
    if (rc != 0 && rc != 130 && dist_size() > 1) {
        fprintf(stderr, "moecl: rank %d of %d failed (exit code %d): stopping every rank\n", rank,
                dist_size(), rc);
        dist_abort(rc);
    }
}

static void *rank_thread(void *arg)
{
    rank_run *r = arg;
    dist_threads_join_rank(r->rank);
    r->rc = r->command(&r->g, r->argc, r->argv);
    finish_rank(r->rank, r->rc);
    return NULL;
}

/* --device 0,1 outside mpirun: a thread per device, each a rank. */
static int run_on_devices(const cli_globals *g, char items[][64], int n, int argc, char **argv,
                          cli_command_fn command)
{
    /* the devices found and checked here, before any thread: the ICD
     * loader's first platform query is not safe from several threads */
    moecl_device_info *devices = NULL;
    int count = 0, index = 0;
    moecl_status st = moecl_devices_list(&devices, &count);
    for (int i = 0; i < n && st == MOECL_OK; i++) st = moecl_device_select(devices, count, items[i], &index);
    free(devices);
    if (st != MOECL_OK) return cli_report(st);
    st = dist_threads_start(n);
    if (st != MOECL_OK) return cli_report(st);
    if (!g->quiet) fprintf(stderr, "moecl: data parallel over %d devices: each takes its share of "
                                   "every batch\n", n);
    rank_run runs[DIST_MAX_THREADS];
    pthread_t threads[DIST_MAX_THREADS];
    for (int i = 0; i < n; i++) {
        runs[i] = (rank_run){.g = *g, .argc = argc, .argv = argv, .rank = i, .command = command};
        memcpy(runs[i].spec, items[i], sizeof runs[i].spec);
        runs[i].g.device_spec = runs[i].spec;
        /* every rank names its device; rank 0 alone shows progress and results */
        runs[i].g.quiet = g->quiet;
        runs[i].g.log_off = i > 0;
    }
    int started = 0;
    for (; started < n; started++)
        if (pthread_create(&threads[started], NULL, rank_thread, &runs[started]) != 0) break;
    if (started < n) {
        fprintf(stderr, "moecl: cannot start a thread for device %s\n", items[started]);
        fflush(NULL);
        _exit(1); /* the started ranks wait for it at their first step */
    }
    for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
    dist_threads_stop();
    return runs[0].rc;
}

int cli_run_ranks(const cli_globals *g, int argc, char **argv, cli_command_fn command)
{
    moecl_status st = dist_init(&argc, &argv);
    if (st != MOECL_OK) return cli_report(st);
    char items[DIST_MAX_THREADS][64];
    int listed = device_list(g->device_spec, items);
    if (listed > 0 && dist_size() == 1) return run_on_devices(g, items, listed, argc, argv, command);
    cli_globals mine = *g;
    char spec[32];
    if (dist_size() > 1) {
        mine.log_off = dist_rank() > 0;
        if (listed > 0) {
            mine.device_spec = items[dist_local_rank() % listed];
        } else if (!mine.device_spec) {
            moecl_device_info *devices = NULL;
            int count = 0;
            if (moecl_devices_list(&devices, &count) == MOECL_OK && count > 0) {
                snprintf(spec, sizeof spec, "%d", dist_local_rank() % count);
                mine.device_spec = spec;
            }
            free(devices);
        }
        if (!mine.quiet && !mine.log_off)
            fprintf(stderr, "moecl: data parallel over %d ranks (MPI): each takes its share of "
                            "every batch; to stop after a step and save: Ctrl-C on mpirun "
                            "(it kills the ranks 2 s later) or kill -INT %ld\n",
                    dist_size(), (long)getpid());
    }
    int rc = command(&mine, argc, argv);
    finish_rank(dist_rank(), rc);
    dist_finalize();
    return rc;
}

