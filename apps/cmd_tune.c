/* moecl tune: runs CLBlast's own tuners for its two GEMM kernels
 * (clblast_tuner_xgemm and clblast_tuner_xgemm_direct) on the chosen device
 * (by default only their first phase, a fixed set of configurations: the
 * random phases after it search spaces of up to 10^8), checks the best
 * parameters of each against the default ones on a product that kernel runs
 * in training (same results, more GFLOPS), and keeps them in the kernel
 * cache directory, where every later moecl run applies them. */
#include "cli.h"
#include "tuning.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A tuner, its kernel, and the product its verdict is taken on: the shape
 * training spends its time in rather than the tuner's square. */
typedef struct tuner_spec {
    const char *kernel, *program, *check_what;
    size_t m, n, k;
    bool trans_b;
    /* the direct tuner reads -fraction as a divisor (46 configurations at
     * 0.002 became 23,000 random draws): it runs its fixed set only, whole */
    bool first_set_only;
} tuner_spec;

static const tuner_spec TUNERS[MOECL_TUNED_KERNELS] = {
    /* a convolution of the VGG presets (64 -> 64 channels, 3x3, a batch of
     * 32 16x16 maps, rounded to CLBlast's tile multiples) */
    {"Xgemm", "clblast_tuner_xgemm", "a VGG convolution's shape", 128, 16384, 576, false, false},
    /* a weight-gradient chunk of the VGG's second convolution (dY * cols^T,
     * 4096 columns), which CLBlast runs with its direct kernel */
    {"XgemmDirect", "clblast_tuner_xgemm_direct", "a convolution's weight-gradient chunk", 32, 288,
     4096, true, true},
};

typedef struct tune_options {
    long size;
    double fraction;
    bool show, reset, full;
    const char *only; /* --kernel: one kernel's tuner, or NULL for both */
} tune_options;

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[2048];
    for (const char *p = path ? path : ""; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, prog);
        if (access(buf, X_OK) == 0) return true;
        p += len + (p[len] == ':');
    }
    return false;
}

/* The tuner names devices by platform index and index within the platform. */
static moecl_status platform_indices(const moecl_device_info *d, int *platform, int *device)
{
    cl_platform_id ps[32];
    cl_uint np = 0;
    if (clGetPlatformIDs(32, ps, &np) != CL_SUCCESS) np = 0;
    for (cl_uint i = 0; i < np; i++) {
        if (ps[i] != d->platform) continue;
        cl_device_id ds[64];
        cl_uint nd = 0;
        if (clGetDeviceIDs(ps[i], CL_DEVICE_TYPE_ALL, 64, ds, &nd) != CL_SUCCESS) nd = 0;
        for (cl_uint j = 0; j < nd; j++)
            if (ds[j] == d->id) {
                *platform = (int)i, *device = (int)j;
                return MOECL_OK;
            }
    }
    return moecl_fail(MOECL_ERR_OPENCL, "cannot find device '%s' in its platform's list", d->name);
}

/* Follows the tuner's log (it can grow to millions of lines): reads what
 * was added since *offset, tracking the phase ("* (2/4) ..."), the last
 * configuration tried ("|   53 |  6040 | ...") and the best GFLOPS seen
 * (the second-to-last cell of a results row). */
typedef struct tuner_watch {
    long offset;
    int phase;
    bool first_done; /* the first set's results are written */
    long tried;
    double best;
    char partial[512];
} tuner_watch;

static void watch_line(tuner_watch *w, const char *line)
{
    const char *at = strstr(line, "* (");
    if (at == line && at[3] >= '1' && at[3] <= '9') w->phase = at[3] - '0';
    if (w->phase >= 2 || strncmp(line, "* Completed tuning process", 26) == 0) w->first_done = true;
    long id = 0;
    if (sscanf(line, "| %ld |", &id) != 1) return;
    w->tried = id;
    const char *cells[32];
    int n = 0;
    for (const char *c = strchr(line, '|'); c && n < 32; c = strchr(c + 1, '|')) cells[n++] = c;
    if (n >= 4) {
        double g = atof(cells[n - 2] + 1);
        if (g > w->best) w->best = g;
    }
}

static void append_bounded(char *dst, size_t size, const char *src)
{
    size_t used = strlen(dst), n = strlen(src);
    if (used + 1 >= size) return;
    if (n > size - used - 1) n = size - used - 1;
    memcpy(dst + used, src, n);
    dst[used + n] = '\0';
}

static void tuner_progress(const char *log, tuner_watch *w)
{
    FILE *f = fopen(log, "r");
    if (!f) return;
    if (fseek(f, w->offset, SEEK_SET) == 0) {
        char buf[65536];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf - 1, f)) > 0) {
            buf[got] = '\0';
            w->offset += (long)got;
            char *p = buf;
            for (char *nl; (nl = strchr(p, '\n')); p = nl + 1) {
                *nl = '\0';
                char line[1024] = "";
                append_bounded(line, sizeof line, w->partial);
                append_bounded(line, sizeof line, p); /* long lines are cut: only their start matters */
                w->partial[0] = '\0';
                watch_line(w, line);
            }
            append_bounded(w->partial, sizeof w->partial, p); /* an unfinished last line */
        }
    }
    fclose(f);
}

/* Runs the tuner in dir, redrawing one progress line; 130 on Ctrl-C. */
static int run_tuner(const tuner_spec *spec, const tune_options *o, int platform, int device,
                     const char *dir, bool quiet)
{
    char log[1100];
    snprintf(log, sizeof log, "%s/tuner.log", dir);
    char size[32], frac[32], plat[16], dev[16];
    snprintf(size, sizeof size, "%ld", o->size);
    snprintf(frac, sizeof frac, "%g", spec->first_set_only ? 1.0 : o->fraction);
    snprintf(plat, sizeof plat, "%d", platform);
    snprintf(dev, sizeof dev, "%d", device);
    /* Ctrl-C stops the tuner; moecl itself lives on to clean up */
    void (*old_int)(int) = signal(SIGINT, SIG_IGN);
    pid_t pid = fork();
    if (pid < 0) {
        signal(SIGINT, old_int);
        return -1;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        if (chdir(dir) != 0 || !freopen("tuner.log", "w", stdout) || !dup2(fileno(stdout), 2)) _exit(127);
        execlp(spec->program, spec->program, "-platform", plat, "-device", dev, "-precision", "32", "-m", size, "-n",
               size, "-k", size, "-fraction", frac, "-runs", "1", (char *)NULL);
        _exit(127);
    }
    tuner_watch w = {0};
    double t0 = moecl_seconds();
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        tuner_progress(log, &w);
        if (w.first_done && (!o->full || spec->first_set_only)) { /* the fixed set is written: enough */
            kill(pid, SIGTERM);
            waitpid(pid, &status, 0);
            if (!quiet && isatty(2)) fprintf(stderr, "\r\033[K");
            signal(SIGINT, old_int);
            return 0;
        }
        if (!quiet && isatty(2))
            fprintf(stderr, "\rtuning %s: phase %d, configuration %ld, best %.1f GFLOPS, %.0f s\033[K",
                    spec->kernel, w.phase, w.tried, w.best, moecl_seconds() - t0);
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 500000000}, NULL);
    }
    if (!quiet && isatty(2)) fprintf(stderr, "\r\033[K");
    signal(SIGINT, old_int);
    if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGINT ? 130 : 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* The best result over the tuner's JSON files (one per phase family). */
static moecl_status best_result(const char *dir, moecl_tuning *best)
{
    DIR *d = opendir(dir);
    if (!d) return moecl_fail(MOECL_ERR_IO, "cannot read %s: %s", dir, strerror(errno));
    bool found = false;
    moecl_status st = MOECL_OK;
    for (struct dirent *e; st == MOECL_OK && (e = readdir(d));) {
        if (strncmp(e->d_name, "clblast_", 8) != 0 || !strstr(e->d_name, "_32.json")) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        moecl_tuning t;
        st = moecl_tuning_from_tuner(path, &t);
        if (st == MOECL_OK && (!found || t.tuner_ms < best->tuner_ms)) *best = t, found = true;
    }
    closedir(d);
    if (st == MOECL_OK && !found) st = moecl_fail(MOECL_ERR_IO, "the tuner wrote no results in %s", dir);
    return st;
}

/* ms per check product (after an untimed call, which may compile) and its
 * result. */
static moecl_status time_gemm(moecl_ctx *ctx, const tuner_spec *spec, moecl_tensor *a,
                              moecl_tensor *b, moecl_tensor *c, double *ms, float *out)
{
    moecl_gemm_args g = {.trans_b = spec->trans_b, .m = spec->m, .n = spec->n, .k = spec->k,
                         .alpha = 1.0f, .beta = 0.0f, .a = a->buf, .lda = spec->k, .b = b->buf,
                         .ldb = spec->trans_b ? spec->k : spec->n, .c = c->buf, .ldc = spec->n};
    MOECL_TRY(moecl_gemm(ctx, &g));
    clFinish(moecl_ctx_queue(ctx));
    int reps = 0;
    double t0 = moecl_seconds();
    do {
        MOECL_TRY(moecl_gemm(ctx, &g));
        clFinish(moecl_ctx_queue(ctx));
        reps++;
    } while (moecl_seconds() - t0 < 1.5 || reps < 3);
    *ms = (moecl_seconds() - t0) * 1e3 / reps;
    return moecl_tensor_download(c, out, spec->m * spec->n);
}

static int parse(int argc, char **argv, tune_options *o)
{
    *o = (tune_options){.size = 512, .fraction = 0.002};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--show") == 0) o->show = true;
        else if (strcmp(argv[i], "--full") == 0) o->full = true;
        else if (strcmp(argv[i], "--reset") == 0) o->reset = true;
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            /* CLBlast's tuner needs sizes that its largest work-group tiles divide */
            if (!cli_parse_long(argv[++i], &o->size) || o->size < 128 || o->size > 8192 || o->size % 128)
                return cli_usage_error("tune: --size takes a multiple of 128 from 128 to 8192");
        } else if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc) {
            o->only = argv[++i];
            if (strcmp(o->only, "Xgemm") != 0 && strcmp(o->only, "XgemmDirect") != 0)
                return cli_usage_error("tune: --kernel takes Xgemm or XgemmDirect");
        } else if (strcmp(argv[i], "--fraction") == 0 && i + 1 < argc) {
            if (!cli_parse_double(argv[++i], &o->fraction) || o->fraction > 1)
                return cli_usage_error("tune: --fraction takes a number in (0, 1]");
        } else
            return cli_usage_error("tune: unknown option or missing value '%s'", argv[i]);
    }
    return 0;
}

/* --show and --reset, for both kernels' files. */
static moecl_status show_or_reset(moecl_ctx *ctx, const tune_options *o)
{
    const moecl_device_info *dev = moecl_ctx_device(ctx);
    moecl_status st = MOECL_OK;
    for (int i = 0; i < MOECL_TUNED_KERNELS && st == MOECL_OK; i++) {
        char path[1200];
        moecl_tuning_path(moecl_ctx_cache_dir(ctx), dev, TUNERS[i].kernel, path, sizeof path);
        moecl_tuning t;
        if (access(path, F_OK) != 0) {
            printf("%s: %s not tuned (no %s)\n", dev->name, TUNERS[i].kernel, path);
        } else if (o->reset) {
            st = remove(path) == 0 ? MOECL_OK
                                   : moecl_fail(MOECL_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
            if (st == MOECL_OK) printf("removed %s: CLBlast's defaults from now on\n", path);
        } else if ((st = moecl_tuning_load(path, dev, &t)) == MOECL_OK) {
            char desc[600];
            moecl_tuning_describe(&t, desc, sizeof desc);
            printf("%s: %s %s\n  tuned at %dx%dx%d (tuner: %.2f ms); %s\n", dev->name, t.kernel, desc,
                   t.m, t.n, t.k, t.tuner_ms, path);
        }
    }
    return st;
}

/* Random operands for a check product. */
static moecl_status check_operands(moecl_ctx *ctx, const tuner_spec *spec, moecl_tensor **a,
                                   moecl_tensor **b, moecl_tensor **c)
{
    int da[2] = {(int)spec->m, (int)spec->k}, dc[2] = {(int)spec->m, (int)spec->n};
    int db[2] = {(int)(spec->trans_b ? spec->n : spec->k), (int)(spec->trans_b ? spec->k : spec->n)};
    size_t big = spec->k * (spec->m > spec->n ? spec->m : spec->n);
    float *host = malloc(big * sizeof *host);
    if (!host) return MOECL_ERR_OUT_OF_MEMORY;
    unsigned s = 1;
    for (size_t i = 0; i < big; i++)
        s = s * 1103515245u + 12345u, host[i] = (float)(s >> 16 & 0x7fff) / 32768.0f - 0.5f;
    moecl_status st = moecl_tensor_create(ctx, 2, da, a);
    if (st == MOECL_OK) st = moecl_tensor_create(ctx, 2, db, b);
    if (st == MOECL_OK) st = moecl_tensor_create(ctx, 2, dc, c);
    if (st == MOECL_OK) st = moecl_tensor_upload(*a, host, spec->m * spec->k);
    if (st == MOECL_OK) st = moecl_tensor_upload(*b, host, spec->n * spec->k);
    free(host);
    return st;
}

/* One tuner: default timing, the tuner's run, its best applied, the tuned
 * timing and results compared, the file kept when it is faster. Returns a
 * status; *rc becomes 130 on Ctrl-C. */
static moecl_status tune_one(moecl_ctx *ctx, const tuner_spec *spec, const tune_options *o,
                             bool quiet, int platform, int device, int *rc)
{
    const moecl_device_info *dev = moecl_ctx_device(ctx);
    char path[1200], dir[] = "/tmp/moecl-tune-XXXXXX";
    moecl_tuning_path(moecl_ctx_cache_dir(ctx), dev, spec->kernel, path, sizeof path);
    moecl_tensor *a = NULL, *b = NULL, *c = NULL;
    size_t outs = spec->m * spec->n;
    float *want = malloc(outs * sizeof *want), *got = malloc(outs * sizeof *got);
    double ms_default = 0, ms_tuned = 0;
    bool made_dir = false;
    moecl_tuning t;
    moecl_status st = want && got ? check_operands(ctx, spec, &a, &b, &c) : MOECL_ERR_OUT_OF_MEMORY;
    if (st == MOECL_OK) st = time_gemm(ctx, spec, a, b, c, &ms_default, want);
    if (st == MOECL_OK && !(made_dir = mkdtemp(dir) != NULL))
        st = moecl_fail(MOECL_ERR_IO, "cannot make a temporary directory: %s", strerror(errno));
    if (st == MOECL_OK) {
        int n = (int)o->size;
        if (!quiet)
            fprintf(stderr, "moecl: running %s at %dx%dx%d (%s; minutes); log: %s/tuner.log\n",
                    spec->program, n, n, n, o->full ? "all its phases, random searches over --fraction of their space"
                                                    : "its fixed set of configurations", dir);
        int trc = run_tuner(spec, o, platform, device, dir, quiet);
        if (trc == 130) *rc = 130;
        else if (trc != 0)
            st = moecl_fail(MOECL_ERR_OPENCL, "%s failed (exit %d); its log: %s/tuner.log", spec->program,
                            trc, dir);
    }
    if (st == MOECL_OK && *rc == 0) st = best_result(dir, &t);
    if (st == MOECL_OK && *rc == 0) st = moecl_tuning_apply(ctx, &t);
    if (st == MOECL_OK && *rc == 0) st = time_gemm(ctx, spec, a, b, c, &ms_tuned, got);
    double worst = 0;
    for (size_t i = 0; st == MOECL_OK && *rc == 0 && i < outs; i++)
        worst = fmax(worst, fabs(got[i] - want[i]) / (1 + fabs(want[i])));
    if (st == MOECL_OK && *rc == 0) {
        double gf = 2.0 * spec->m * spec->n * spec->k * 1e-6;
        char desc[600];
        moecl_tuning_describe(&t, desc, sizeof desc);
        printf("%s: %s %s\n", dev->name, t.kernel, desc);
        printf("tuner's best at %dx%dx%d: %.2f ms (%.1f GFLOPS)\n", t.m, t.n, t.k, t.tuner_ms,
               t.tuner_ms > 0 ? 2.0 * t.m * t.n * t.k * 1e-6 / t.tuner_ms : 0);
        printf("SGEMM %zux%zux%zu (%s): default %.1f GFLOPS (%.2f ms), tuned %.1f GFLOPS (%.2f ms): "
               "%.2fx; largest relative difference %.2g\n", spec->m, spec->n, spec->k, spec->check_what,
               gf / ms_default, ms_default, gf / ms_tuned, ms_tuned, ms_default / ms_tuned, worst);
        if (worst > 1e-3)
            st = moecl_fail(MOECL_ERR_OPENCL, "the tuned %s's results differ from the default's by %.2g: "
                            "not kept", spec->kernel, worst);
        else if (ms_tuned >= ms_default)
            printf("%s not kept: no faster than CLBlast's defaults here\n", spec->kernel);
        else if ((st = moecl_tuning_save(path, dev, &t)) == MOECL_OK)
            printf("kept in %s: every moecl run on this device uses it ('moecl --no-tuning ...' to "
                   "compare, 'moecl tune --reset' to drop it)\n", path);
    }
    /* keep the log of a failed run (the error names it); remove the rest */
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (made_dir && st == MOECL_OK && system(cmd) != 0) fprintf(stderr, "moecl: could not remove %s\n", dir);
    moecl_tensor_destroy(a), moecl_tensor_destroy(b), moecl_tensor_destroy(c);
    free(want), free(got);
    return st;
}

int cmd_tune(const cli_globals *g, int argc, char **argv)
{
    tune_options o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    if (g->no_cache) return cli_usage_error("tune: the tuning is kept in the kernel cache directory; drop --no-cache");
    cli_globals plain = *g;
    plain.no_tuning = true; /* measure CLBlast's defaults first */
    moecl_ctx *ctx = NULL;
    rc = cli_open_device(&plain, &ctx);
    if (rc) return rc;
    moecl_status st = MOECL_OK;
    if (!moecl_ctx_cache_dir(ctx))
        st = moecl_fail(MOECL_ERR_IO, "no usable kernel cache directory to keep the tuning in");
    else if (o.show || o.reset)
        st = show_or_reset(ctx, &o);
    else {
        for (int i = 0; i < MOECL_TUNED_KERNELS && st == MOECL_OK; i++)
            if (!on_path(TUNERS[i].program))
                st = moecl_fail(MOECL_ERR_IO, "%s not found: it comes with CLBlast's tools (Debian "
                                "package clblast-utils; scripts/setup.sh installs it)", TUNERS[i].program);
        int platform = 0, device = 0;
        if (st == MOECL_OK) st = platform_indices(moecl_ctx_device(ctx), &platform, &device);
        for (int i = 0; i < MOECL_TUNED_KERNELS && st == MOECL_OK && rc == 0; i++)
            if (!o.only || strcmp(o.only, TUNERS[i].kernel) == 0)
                st = tune_one(ctx, &TUNERS[i], &o, g->quiet, platform, device, &rc);
    }
    moecl_ctx_destroy(ctx);
    if (rc) return rc;
    return st == MOECL_OK ? 0 : cli_report(st);
}
