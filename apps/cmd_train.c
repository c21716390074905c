/* moecl train: trains a model file on CIFAR-10 (or synthetic data). */
#include "cli.h"
#include "dist.h"
#include "train.h"

#include <signal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Ctrl-C (or a polite kill) finishes the current step and saves the state;
 * a second one ends the process at once. */
static void on_stop_signal(int sig)
{
    moecl_interrupted = 1;
    signal(sig, SIG_DFL);
}

/* Under mpirun, Open MPI stops a job (Ctrl-C on mpirun) by sending each rank
 * SIGCONT, SIGTERM odls_base_sigkill_timeout seconds later (1 by default),
 * then SIGKILL as long again after: taking the SIGCONT as the request gives
 * the step and the save both waits, not one. (A rank paused with SIGSTOP
 * and continued stops likewise, with its state saved.) */
static void on_mpi_continue(int sig)
{
    (void)sig;
    moecl_interrupted = 1;
}

/* Option parsing shared by the training-style commands. Returns 0 when the
 * argument was consumed (advancing *i), 1 when unknown, 2 on a bad value. */
static int parse_train_option(train_options *o, int argc, char **argv, int *i, bool *epochs_set)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    long n = 0;
    double x = 0;
#define NEED_VALUE()                                                            \
    do {                                                                        \
        if (!v) return cli_usage_error("train: %s needs a value", a), 2;        \
        (*i)++;                                                                 \
    } while (0)
#define INT_OPTION(flag, field, min)                                            \
    if (strcmp(a, flag) == 0) {                                                 \
        NEED_VALUE();                                                           \
        if (!cli_parse_long(v, &n) || n < (min))                                \
            return cli_usage_error("train: %s takes a whole number >= %d, not '%s'", flag, (min), v), 2; \
        o->field = (int)n;                                                      \
        return 0;                                                               \
    }
#define FLOAT_OPTION(flag, field)                                               \
    if (strcmp(a, flag) == 0) {                                                 \
        NEED_VALUE();                                                           \
        if (!cli_parse_double(v, &x))                                           \
            return cli_usage_error("train: %s takes a number > 0, not '%s'", flag, v), 2; \
        o->field = (float)x;                                                    \
        return 0;                                                               \
    }
/* a number in [0, 1) */
#define FRACTION_OPTION(flag, field, what)                                      \
    if (strcmp(a, flag) == 0) {                                                 \
        NEED_VALUE();                                                           \
        char *end;                                                              \
        double f = strtod(v, &end);                                             \
        if (*end || !(f >= 0 && f < 1))                                         \
            return cli_usage_error("train: %s takes %s", flag, what), 2;        \
        o->field = (float)f;                                                    \
        return 0;                                                               \
    }
    if (strcmp(a, "--epochs") == 0) *epochs_set = true;
    INT_OPTION("--epochs", epochs, 1)
    INT_OPTION("--batch", batch, 1)
    INT_OPTION("--train-examples", train_examples, 1)
    INT_OPTION("--test-examples", test_examples, 1)
    INT_OPTION("--val", val, 0)
    INT_OPTION("--micro-batch", micro_batch, 1)
    INT_OPTION("--patience", patience, 0)
    INT_OPTION("--step-epochs", optim.step_epochs, 1)
    FLOAT_OPTION("--lr", optim.lr)
    FLOAT_OPTION("--momentum", optim.momentum)
    FLOAT_OPTION("--step-gamma", optim.step_gamma)
    FRACTION_OPTION("--ema", ema, "a decay in [0, 1) (0: off)")
    FRACTION_OPTION("--label-smoothing", label_smoothing, "a number in [0, 1)")
    if (strcmp(a, "--weight-decay") == 0) {
        NEED_VALUE();
        char *end;
        double wd = strtod(v, &end);
        if (*end || wd < 0) return cli_usage_error("train: --weight-decay takes a number >= 0"), 2;
        o->optim.weight_decay = (float)wd;
        return 0;
    }
    if (strcmp(a, "--seed") == 0) {
        NEED_VALUE();
        if (!cli_parse_long(v, &n)) return cli_usage_error("train: --seed takes a whole number"), 2;
        o->seed = (uint64_t)n;
        return 0;
    }
    if (strcmp(a, "--model") == 0 || strcmp(a, "--data") == 0 || strcmp(a, "--out") == 0) {
        NEED_VALUE();
        char *dst = a[2] == 'm' ? o->model_path : a[2] == 'd' ? o->data_dir : o->out_dir;
        snprintf(dst, 1024, "%s", v);
        return 0;
    }
    if (strcmp(a, "--weights") == 0) {
        NEED_VALUE();
        snprintf(o->weights, sizeof o->weights, "%s", v);
        return 0;
    }
    if (strcmp(a, "--start-stage") == 0) {
        NEED_VALUE();
        snprintf(o->start_stage, sizeof o->start_stage, "%s", v);
        return 0;
    }
    if (strcmp(a, "--split") == 0) {
        NEED_VALUE();
        snprintf(o->split, sizeof o->split, "%s", v);
        return 0;
    }
    if (strcmp(a, "--experts-on") == 0) {
        NEED_VALUE();
        snprintf(o->experts_on, sizeof o->experts_on, "%s", v);
        return 0;
    }
    if (strcmp(a, "--optimizer") == 0) {
        NEED_VALUE();
        optim_kind k;
        if (!optim_kind_parse(v, &k)) return cli_usage_error("train: --optimizer is adam or sgd"), 2;
        float lr = o->optim.lr;
        bool default_lr = lr == optim_defaults(o->optim.kind).lr;
        o->optim.kind = k;
        o->optim.momentum = optim_defaults(k).momentum;
        o->optim.lr = default_lr ? optim_defaults(k).lr : lr;
        return 0;
    }
    if (strcmp(a, "--schedule") == 0) {
        NEED_VALUE();
        if (!lr_schedule_parse(v, &o->optim.schedule))
            return cli_usage_error("train: --schedule is constant, step, cosine, onecycle or triangle"), 2;
        return 0;
    }
    if (strcmp(a, "--nesterov") == 0) return o->optim.nesterov = true, 0;
    if (strcmp(a, "--no-frozen-cache") == 0) return o->no_frozen_cache = true, 0;
    if (strcmp(a, "--lazy-experts") == 0) return o->lazy_experts = true, 0;
    if (strcmp(a, "--sync-bn") == 0) return o->sync_bn = true, 0;
    if (strcmp(a, "--expert-parallel") == 0) return o->expert_parallel = true, 0;
    if (strcmp(a, "--tta") == 0) { /* alone: flips; or flip, translate or none, as the next word */
        o->tta = TTA_FLIP;
        if (v && tta_parse(v, &o->tta)) (*i)++;
        return 0;
    }
    if (strcmp(a, "--augment") == 0) {
        /* alone: crops and flips; or which of them (or none), as the next word */
        o->aug.crop = o->aug.flip = true;
        if (v && v[0] != '-') {
            if (!augment_parse(v, &o->aug))
                return cli_usage_error("train: --augment takes crop, flip, translate, alternate, "
                                       "jpeg, several joined by commas (crop or translate, flip "
                                       "or alternate) or none, not '%s'", v), 2;
            (*i)++;
        }
        return 0;
    }
    if (strcmp(a, "--synthetic") == 0) {
        o->synthetic = true;
        if (v && cli_parse_long(v, &n) && n > 0) o->synthetic_count = (int)n, (*i)++;
        return 0;
    }
#undef NEED_VALUE
#undef INT_OPTION
#undef FLOAT_OPTION
#undef FRACTION_OPTION
    return 1;
}

static bool model_given(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--model") == 0) return true;
    return false;
}

static int train_command(const cli_globals *g, int argc, char **argv);
/* Under mpirun or with a --device list, every rank runs the command
 * (cli_ranks.c): rank 0 reports and writes the run. */
int cmd_train(const cli_globals *g, int argc, char **argv)
{
    return cli_run_ranks(g, argc, argv, train_command);
}

/* Every option of the command line over *o; 0, or an exit code. */
static int parse_train_options(train_options *o, int argc, char **argv, const char **resume,
                               bool *epochs_set)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc) {
            *resume = argv[++i];
            continue;
        }
        int r = parse_train_option(o, argc, argv, &i, epochs_set);
        if (r == 1) return cli_usage_error("train: unknown option '%s'", argv[i]);
        if (r == 2) return 2;
    }
    return 0;
}

/* A model whose file has a "recipe": its options over the defaults, then
 * the command line's over them. A model that does not load is left to the
 * training run to report. 0, or an exit code. */
static int apply_recipe(train_options *o, int argc, char **argv)
{
    char *text = NULL;
    model *m = NULL;
    int rc = 0;
    if (model_source(o->model_path, &text) == MOECL_OK &&
        model_parse(text, o->model_path, &m) == MOECL_OK && m->recipe) {
        train_options r;
        train_options_defaults(&r);
        moecl_status st = train_recipe_apply(&r, m->recipe, o->model_path);
        const char *resume = NULL;
        bool epochs_set = false;
        if (st != MOECL_OK) rc = cli_report(st);
        else rc = parse_train_options(&r, argc, argv, &resume, &epochs_set);
        if (rc == 0) {
            snprintf(r.model_path, sizeof r.model_path, "%s", o->model_path);
            *o = r;
        }
    }
    model_free(m);
    free(text);
    return rc;
}

static int train_command(const cli_globals *g, int argc, char **argv)
{
    train_options o;
    train_options_defaults(&o);
    snprintf(o.model_path, sizeof o.model_path, "%s", MOECL_DEFAULT_MODEL);
    const char *resume = NULL;
    bool epochs_set = false;
    train_options cli = o;
    int prc = parse_train_options(&cli, argc, argv, &resume, &epochs_set);
    if (prc) return prc;
    if (resume) {
        char path[1200];
        snprintf(path, sizeof path, "%s/options.json", resume);
        moecl_status st = train_options_load(&o, path);
        if (st != MOECL_OK) return cli_report(st);
        snprintf(o.out_dir, sizeof o.out_dir, "%s", resume);
        if (epochs_set) o.epochs = cli.epochs; /* the run's length may change, */
        if (cli.experts_on[0]) /* and where the experts live (not what they compute) */
            snprintf(o.experts_on, sizeof o.experts_on, "%s", cli.experts_on);
        if (cli.expert_parallel) o.expert_parallel = true;
    } else {
        o = cli;
        /* --weights alone: the model the checkpoint was trained as */
        if (o.weights[0] && !model_given(argc, argv))
            snprintf(o.model_path, sizeof o.model_path, "%s", o.weights);
        prc = apply_recipe(&o, argc, argv);
        if (prc) return prc;
        if (!o.out_dir[0]) {
            char stamp[32];
            time_t now = time(NULL);
            strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
            const char *base = strrchr(o.model_path, '/');
            base = base ? base + 1 : o.model_path;
            snprintf(o.out_dir, sizeof o.out_dir, "runs/%.*s-%s", (int)strcspn(base, "."), base, stamp);
        }
    }
    moecl_ctx *ctx = NULL;
    int rc = cli_open_device_sharing(g, o.experts_on[0] ? o.experts_on : NULL, &ctx);
    if (rc) return rc;
    FILE *log = g->quiet || g->log_off ? NULL : stderr;
    if (log)
        fprintf(log, "training %s -> %s (%d epochs, batch %d, %s lr %g, seed %llu)\n", o.model_path,
                o.out_dir, o.epochs, o.batch, optim_kind_name(o.optim.kind), o.optim.lr,
                (unsigned long long)o.seed);
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    if (dist_used()) signal(SIGCONT, on_mpi_continue);
    train_summary s;
    moecl_status st = train_run(ctx, &o, resume != NULL, log, &s);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCONT, SIG_DFL);
    moecl_ctx_destroy(ctx);
    if (st != MOECL_OK) return cli_report(st);
    if (s.interrupted) return 130;
    if (dist_rank() > 0) return 0; /* rank 0 reports */
    for (int k = 0; k < s.n_stages; k++) {
        const stage_result *r = &s.stages[k];
        if (r->from_weights) {
            printf("stage %-20s from %s: test acc %6.2f%% on %d images (%d-way)\n", r->name,
                   o.weights, 100 * r->test.accuracy, r->test.count, r->targets);
            continue;
        }
        if (r->before_resume) {
            printf("stage %-20s finished before the resume: test acc %6.2f%% on %d images (%d-way)\n",
                   r->name, 100 * r->test.accuracy, r->test.count, r->targets);
            continue;
        }
        printf("stage %-20s %2d epochs, best %2d: val acc %6.2f%%, test acc %6.2f%% on %d images "
               "(%d-way)%s\n", r->name, r->epochs_run, r->best_epoch, 100 * r->best_val_accuracy,
               100 * r->test.accuracy, r->test.count, r->targets,
               r->stuck_at_chance ? "  AT CHANCE: did not learn" : "");
    }
    /* A resumed run's sitting is not the run: say both. */
    char sitting[48] = "";
    if (resume) snprintf(sitting, sizeof sitting, ", %.1f in this sitting", s.seconds / 60);
    char best[96] = "no validation images: the last epoch";
    if (isfinite(s.best_val_loss))
        snprintf(best, sizeof best, "best epoch %d (val loss %.4f, val acc %.2f%%)", s.best_epoch,
                 s.best_val_loss, 100 * s.best_val_accuracy);
    printf("%s: %d epochs in %.1f training min%s%s; %s; test acc %.2f%% on %d images\n", o.out_dir,
           s.epochs_run, s.train_minutes, sitting, s.early_stopped ? " (early stop)" : "", best,
           100 * s.test.accuracy, s.test.count);
    if (s.stuck_at_chance) {
        if (s.n_stages > 0)
            fprintf(stderr, "moecl: warning: a stage did not learn (its best validation accuracy is "
                            "at chance; see above). Not a finished result: try another --seed, a "
                            "lower --lr or more --patience.\n");
        else
            fprintf(stderr, "moecl: warning: the network did not learn: its best validation "
                            "accuracy (%.1f%%) is at chance. Not a finished result: try another "
                            "--seed, a lower --lr or more --patience.\n", 100 * s.best_val_accuracy);
        return 3;
    }
    return 0;
}
