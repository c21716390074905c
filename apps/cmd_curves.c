/* moecl curves RUN_DIR: redraws RUN_DIR/curves.png from its metrics.jsonl
 * (train draws it after every epoch; this is for a run still going, or
 * one made by an older moecl). */
#include "cli.h"
#include "draw/curves.h"

#include <stdio.h>
#include <string.h>

int cmd_curves(const cli_globals *g, int argc, char **argv)
{
    (void)g;
    const char *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] == '-' || dir) return cli_usage_error("curves: unknown option or extra argument '%s'", argv[i]);
        else dir = argv[i];
    }
    if (!dir) return cli_usage_error("curves: usage: moecl curves RUN_DIR [--out F.png]");
    char metrics[1200], png[1200], title[1300];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
    if (out) snprintf(png, sizeof png, "%s", out);
    else snprintf(png, sizeof png, "%s/curves.png", dir);
    const char *base = strrchr(dir, '/') && strrchr(dir, '/')[1] ? strrchr(dir, '/') + 1 : dir;
    snprintf(title, sizeof title, "%s: training curves", base);
    moecl_status st = curves_png(metrics, title, png);
    if (st != MOECL_OK) return cli_report(st);
    printf("%s\n", png);
    return 0;
}
