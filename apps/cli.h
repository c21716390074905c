/* Shared pieces of the moecl command line. */
#ifndef MOECL_CLI_H
#define MOECL_CLI_H

#include "moecl.h"

#include <stdio.h>

/* Options that apply to every command, wherever they stand on the line. */
typedef struct cli_globals {
    const char *device_spec; /* --device, else $MOECL_DEVICE, else NULL */
    const char *cache_dir;   /* --cache-dir, else NULL ($MOECL_CACHE_DIR / XDG) */
    bool no_cache;           /* --no-cache */
    bool no_tuning;          /* --no-tuning: CLBlast's default GEMM parameters */
    bool quiet;              /* --quiet: no device line, no progress */
    bool log_off;            /* no progress or results (a data-parallel rank other than 0) */
    bool profiling;          /* set by commands that profile (bench train --profile) */
    const char *gemm;        /* --gemm auto|clblast|own|VARIANT, else $MOECL_GEMM */
} cli_globals;

/* A command as the dispatcher calls it. */
typedef int (*cli_command_fn)(const cli_globals *g, int argc, char **argv);

/* Runs a data-parallel command on every rank (apps/cli_ranks.c): with a
 * --device list outside mpirun, a thread per device; under mpirun, this
 * process's rank, on the device of its place on its host (its local rank,
 * modulo the devices, or that item of a --device list). Ranks other than
 * 0 run with log_off (rank 0 reports). A rank that fails stops them all. */
int cli_run_ranks(const cli_globals *g, int argc, char **argv, cli_command_fn command);

/* Lists the devices, selects one, says which on stderr and opens it with
 * every kernel ready. Prints the error itself and returns an exit code. */
int cli_open_device(const cli_globals *g, moecl_ctx **ctx);
/* The same, the context made to be shared with the devices of a list
 * (--experts-on) on the same platform (moecl_ctx_options.share_with). */
int cli_open_device_sharing(const cli_globals *g, const char *share_with, moecl_ctx **ctx);

/* Loads a model (file or preset), opens the device and sets the model up
 * for a batch size. Prints the error itself and returns an exit code. */
struct model;
int cli_open_model(const cli_globals *g, const char *spec, int batch, moecl_ctx **ctx,
                   struct model **m);
/* The same with the mixture's experts placed on the devices of experts_on
 * (NULL: none; closed again here on failure). */
struct expert_devices;
int cli_open_model_placed(const cli_globals *g, const char *spec, int batch, const char *experts_on,
                          moecl_ctx **ctx, struct model **m, struct expert_devices *placed);

/* Prints "moecl: error: <message>" for a failed status; returns its exit code. */
int cli_report(moecl_status st);
/* Prints a usage error; returns 2. */
int cli_usage_error(const char *fmt, ...);

void cli_print_device_table(FILE *out, const moecl_device_info *devices, int count, int selected);
/* Writes s as a JSON string literal, quotes included. */
void cli_json_string(FILE *out, const char *s);

/* Parses a whole non-negative number or a positive float; false if malformed. */
bool cli_parse_long(const char *s, long *value);
bool cli_parse_double(const char *s, double *value);

int cmd_devices(const cli_globals *g, int argc, char **argv);
int cmd_kernels(const cli_globals *g, int argc, char **argv);
int cmd_bench(const cli_globals *g, int argc, char **argv);
int cmd_train(const cli_globals *g, int argc, char **argv);
int cmd_eval(const cli_globals *g, int argc, char **argv);
int cmd_info(const cli_globals *g, int argc, char **argv);
int cmd_gates(const cli_globals *g, int argc, char **argv);
int cmd_predict(const cli_globals *g, int argc, char **argv);
int cmd_curves(const cli_globals *g, int argc, char **argv);
int cmd_report(const cli_globals *g, int argc, char **argv);
int cmd_tune(const cli_globals *g, int argc, char **argv);

/* The model `train` and `info` use without --model (a preset name): the
 * mixture-of-experts preset best by test accuracy (docs/results.md). */
#define MOECL_DEFAULT_MODEL "airbench_moe_balanced"
/* bench train's: a small, quick mixture. */
#define MOECL_BENCH_MODEL "switch"

#endif
