/* Contexts for the devices experts are placed on (expert_devices.h). */
#include "expert_devices.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static moecl_status open_item(moecl_ctx *model_ctx, const moecl_device_info *device,
                              expert_devices *d)
{
    int at = d->n;
    if (device->id == model_ctx->device.id) { /* the model's own device: its context */
        d->ctx[at] = model_ctx;
    } else {
        for (int i = 0; i < at; i++)
            if (d->ctx[i]->device.id == device->id) d->ctx[at] = d->ctx[i];
        if (!d->ctx[at]) {
            MOECL_TRY(moecl_ctx_create_like(model_ctx, device, &d->ctx[at]));
            d->owned[at] = true;
        }
    }
    d->n++;
    return MOECL_OK;
}

moecl_status expert_devices_open(moecl_ctx *model_ctx, const char *spec, FILE *log,
                                 expert_devices *out)
{
    memset(out, 0, sizeof *out);
    moecl_device_info *devices = NULL;
    int count = 0;
    MOECL_TRY(moecl_devices_list(&devices, &count));
    moecl_status st = MOECL_OK;
    for (const char *p = spec; *p && st == MOECL_OK;) {
        char item[64];
        p = moecl_device_list_next(p, item);
        int index = 0;
        if (out->n == EXPERT_DEVICES_MAX)
            st = moecl_fail(MOECL_ERR_INVALID_ARG, "--experts-on '%s': more than %d devices", spec,
                            EXPERT_DEVICES_MAX);
        if (st == MOECL_OK) st = moecl_device_select(devices, count, item, &index);
        if (st == MOECL_OK) st = open_item(model_ctx, &devices[index], out);
        if (st == MOECL_OK && log) {
            const moecl_ctx *at = out->ctx[out->n - 1];
            fprintf(log, "experts on device %d: %s (%s)%s\n", index, devices[index].name,
                    devices[index].platform_name,
                    at == model_ctx ? "" : moecl_ctx_same_context(at, model_ctx)
                        ? ", in the model device's OpenCL context: rows copied by the driver"
                        : ", an OpenCL context of its own: rows cross through host memory");
        }
    }
    if (st == MOECL_OK && out->n == 0)
        st = moecl_fail(MOECL_ERR_INVALID_ARG, "--experts-on '%s' names no device", spec);
    free(devices);
    if (st != MOECL_OK) expert_devices_close(out);
    return st;
}

void expert_devices_close(expert_devices *d)
{
    for (int i = 0; i < d->n; i++)
        if (d->owned[i]) moecl_ctx_destroy(d->ctx[i]);
    memset(d, 0, sizeof *d);
}
