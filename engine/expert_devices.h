/* Expert parallelism's devices (`--experts-on 0,1`): an OpenCL context for
 * each device of a list, the model's own where an item names its device,
 * to place a mixture's experts on (model_place_experts). */
#ifndef MOECL_EXPERT_DEVICES_H
#define MOECL_EXPERT_DEVICES_H

#include "moecl.h"

#include <stdbool.h>
#include <stdio.h>

#define EXPERT_DEVICES_MAX 16

typedef struct expert_devices {
    moecl_ctx *ctx[EXPERT_DEVICES_MAX];
    bool owned[EXPERT_DEVICES_MAX]; /* opened here (else the model's own, or an earlier item's) */
    int n;
} expert_devices;

/* The devices of spec ("0,1", indices or name substrings as --device takes
 * them), each named on log (NULL: quiet). */
moecl_status expert_devices_open(moecl_ctx *model_ctx, const char *spec, FILE *log,
                                 expert_devices *out);
/* After every tensor on them is freed. */
void expert_devices_close(expert_devices *d);

#endif
