/* moecl: the command line. Global options may stand anywhere on the line;
 * the first other word names the command. */
#include "cli.h"
#include "dist.h"

#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "moecl " MOECL_VERSION " - mixture-of-experts networks on any OpenCL device\n"
    "\n"
    "Usage: moecl [global options] <command> [command options]\n"
    "\n"
    "Commands:\n"
    "  devices [--json]            list every OpenCL device, numbered\n"
    "  train [options]             train a model on CIFAR-10:\n"
    "      --model M (airbench_moe_balanced) --data DIR --out RUN_DIR --epochs N (10) --batch N (128)\n"
    "      --lr X --optimizer adam|sgd --momentum X --nesterov --weight-decay X\n"
    "      --schedule constant|step|cosine|onecycle|triangle --step-epochs N --step-gamma X\n"
    "      --seed N (1) --patience N (2) --train-examples N --val N --test-examples N\n"
    "      --augment [crop|flip|translate|alternate|translate,alternate|...|none]\n"
    "      --synthetic [N]\n"
    "      --no-frozen-cache\n"
    "      --lazy-experts --sync-bn --expert-parallel --split W0,W1,... --label-smoothing X --tta [flip|translate] --ema D\n"
    "      --experts-on D0,D1,... (a mixture's experts round robin on these devices)\n"
    "      --micro-batch N (a batch in pieces of N on the device, gradients summed)\n"
    "      --weights CHECKPOINT (start from its weights) --start-stage S (staged models)\n"
    "  train --resume RUN_DIR [--epochs N]\n"
    "                              continue an interrupted or finished run\n"
    "  eval --checkpoint F [--data DIR] [--test-examples N] [--json] [--tta [flip|translate]]\n"
    "                              test accuracy, per class, confusion matrix\n"
    "                              (text, and a PNG: --png F, default beside F)\n"
    "  info [--model M]            layers, shapes, parameters, FLOPs\n"
    "  gates --checkpoint F [--count N (60)] [--out gates.png] [--heatmap F]\n"
    "        [--scale 2|3] [--columns N] [--data DIR] [--test-examples N]\n"
    "                              the gate's decisions as a PNG grid, one band per\n"
    "                              expert, and a class-by-expert routing heat map\n"
    "  predict --checkpoint F [--json] [--tta [flip|translate]] IMAGE.png...\n"
    "                              class probabilities, route and gate weights of\n"
    "                              PNG images (any size, scaled to 32x32)\n"
    "  curves RUN_DIR [--out F]    redraw RUN_DIR/curves.png from metrics.jsonl\n"
    "  report RUN_DIR... [--baseline RUN_DIR] [--markdown] [--png F]\n"
    "                              finished runs side by side: test accuracy, epochs,\n"
    "                              minutes, per stage, against their baseline\n"
    "  tune [--size N] [--kernel Xgemm|XgemmDirect] [--full [--fraction F]]\n"
    "       | --show | --reset      tune CLBlast's GEMM kernels for the device (its own\n"
    "                              tuners); used from then on\n"
    "  kernels [--source F.cl] [--options S]\n"
    "                              build every kernel (through the cache) and report\n"
    "                              the time to ready; --source builds a file of yours\n"
    "  bench gemm [--max-size N] [--min-time S] [--json|--profile]\n"
    "                              SGEMM GFLOPS and the path chosen: squares and the\n"
    "                              vgg preset's convolution products\n"
    "  bench train [--model M (switch)] [--batch N] [--steps N] [--profile]\n"
    "              [--lazy-experts] [--experts-on D0,D1,...] [--expert-parallel]\n"
    "                              training and inference images per second;\n"
    "                              --profile: device time per kernel and per layer;\n"
    "                              --experts-on D0,D1,...: experts placed as in train;\n"
    "                              --expert-parallel: experts spread over the ranks\n"
    "  bench moe [--model M] [--batch N] [--steps N] [--capacity-factor F] [--lazy-experts]\n"
    "                              switch or hierarchical routing: conditional\n"
    "                              against dense compute\n"
    "  bench conv [--batch N] [--reps N]\n"
    "                              the vgg convolutions' three passes through the\n"
    "                              way each layer chooses: ms, GFLOPS, kernel\n"
    "  help, version\n"
    "\n"
    "Global options:\n"
    "  --device N|NAME     device index from 'moecl devices', or a case-insensitive\n"
    "                      substring of its name (default: first GPU, else first device)\n"
    "  --no-cache          build kernels from source; read and write no cache\n"
    "                      (and no GEMM tuning file)\n"
    "  --no-tuning         CLBlast's default GEMM parameters even where tuned\n"
    "  --cache-dir DIR     kernel cache directory\n"
    "  --gemm PATH         matrix products: auto (default: the fastest for each\n"
    "                      shape, measured once per device and kept in the cache\n"
    "                      directory), clblast, own (our kernels shaped for CPUs),\n"
    "                      or one parameter set of ours (own6x16, ...)\n"
    "  --quiet             no device line, no progress output\n"
    "\n"
    "Environment:\n"
    "  MOECL_DEVICE        default for --device\n"
    "  MOECL_GEMM          default for --gemm\n"
    "  MOECL_CACHE_DIR     kernel cache directory (default $XDG_CACHE_HOME/moecl/kernels,\n"
    "                      else ~/.cache/moecl/kernels)\n"
    "  MOECL_DATA          CIFAR-10 directory when --data is not given\n"
    "  MOECL_DATA_URL      where to download cifar-10-binary.tar.gz from\n"
    "\n"
    "Exit codes: 0 success, 1 runtime failure, 2 usage error or bad input,\n"
    "3 training did not learn, 130 interrupted (state saved).\n";

typedef struct command {
    const char *name;
    int (*run)(const cli_globals *g, int argc, char **argv);
} command;

static const command COMMANDS[] = {
    {"devices", cmd_devices},
    {"kernels", cmd_kernels},
    {"bench", cmd_bench},
    {"train", cmd_train},
    {"eval", cmd_eval},
    {"info", cmd_info},
    {"gates", cmd_gates},
    {"predict", cmd_predict},
    {"curves", cmd_curves},
    {"report", cmd_report},
    {"tune", cmd_tune},
};

/* Takes the global options out of argv, leaving the command and its own. */
static int parse_globals(int *argc, char **argv, cli_globals *g)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char *value = NULL;
        if (strcmp(a, "--device") == 0 || strcmp(a, "--cache-dir") == 0 || strcmp(a, "--gemm") == 0) {
            if (i + 1 >= *argc) return cli_usage_error("%s needs a value", a);
            value = argv[++i];
        } else if (strncmp(a, "--device=", 9) == 0) {
            value = a + 9;
            a = "--device";
        } else if (strncmp(a, "--gemm=", 7) == 0) {
            value = a + 7;
            a = "--gemm";
        } else if (strncmp(a, "--cache-dir=", 12) == 0) {
            value = a + 12;
            a = "--cache-dir";
        }
        if (strcmp(a, "--device") == 0) {
            if (!*value) return cli_usage_error("--device needs a value");
            g->device_spec = value;
        } else if (strcmp(a, "--cache-dir") == 0) {
            g->cache_dir = value;
        } else if (strcmp(a, "--gemm") == 0) {
            if (!*value) return cli_usage_error("--gemm needs a value (auto, clblast, own)");
            g->gemm = value;
        } else if (strcmp(a, "--no-cache") == 0) {
            g->no_cache = true;
        } else if (strcmp(a, "--no-tuning") == 0) {
            g->no_tuning = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            g->quiet = true;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    cli_globals g = {0};
    const char *env = getenv("MOECL_DEVICE");
    if (env && *env) g.device_spec = env;
    int rc = parse_globals(&argc, argv, &g);
    if (rc) return rc;

    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("moecl %s\n", MOECL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) {
            rc = COMMANDS[i].run(&g, argc - 1, argv + 1);
            if (!dist_used() && moecl_leak_check()) {
                fprintf(stderr, "moecl: memory leaks found (sanitizer build)\n");
                if (rc == 0) rc = 1;
            }
            return rc;
        }
    return cli_usage_error("unknown command '%s'", argv[1]);
}
