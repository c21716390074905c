/* moecl info: a model's layers, shapes, parameters and FLOPs. */
#include "cli.h"
#include "model.h"

#include <string.h>

int cmd_info(const cli_globals *g, int argc, char **argv)
{
    const char *spec = MOECL_DEFAULT_MODEL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) spec = argv[++i];
        else return cli_usage_error("info: unknown option or missing value '%s'", argv[i]);
    }
    model *net = NULL;
    moecl_ctx *ctx = NULL;
    int rc = cli_open_model(g, spec, 1, &ctx, &net);
    if (rc) return rc;
    printf("model %s: %s\ninput %dx%dx%d, %d classes\n", net->name, net->description,
           net->input.c, net->input.h, net->input.w, net->classes);
    if (net->recipe) printf("recipe (train's defaults for it): %s\n", net->recipe);
    model_print(net, stdout);
    model_free(net);
    moecl_ctx_destroy(ctx);
    return 0;
}
