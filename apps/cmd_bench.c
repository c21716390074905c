/* moecl bench <what>: benchmarks. Speed is measured here, never in tests. */
#include "cli.h"

#include <string.h>

int bench_gemm(const cli_globals *g, int argc, char **argv);
int bench_train(const cli_globals *g, int argc, char **argv);
int bench_conv(const cli_globals *g, int argc, char **argv);
int bench_moe(const cli_globals *g, int argc, char **argv);

int cmd_bench(const cli_globals *g, int argc, char **argv)
{
    if (argc < 2) return cli_usage_error("bench: say what to measure: 'bench gemm' or 'bench train'");
    if (strcmp(argv[1], "gemm") == 0) return bench_gemm(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "train") == 0) return bench_train(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "conv") == 0) return bench_conv(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "moe") == 0) return bench_moe(g, argc - 1, argv + 1);
    return cli_usage_error("bench: unknown benchmark '%s' (known: gemm, train, conv, moe)", argv[1]);
}
