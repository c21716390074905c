/* moecl devices [--json]: every OpenCL device, one flat numbered list. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void print_json(const moecl_device_info *devices, int count, int selected)
{
    printf("[\n");
    for (int i = 0; i < count; i++) {
        const moecl_device_info *d = &devices[i];
        printf("  {\"index\": %d, \"selected\": %s, \"platform\": ", d->index,
               i == selected ? "true" : "false");
        cli_json_string(stdout, d->platform_name);
        printf(", \"platform_version\": ");
        cli_json_string(stdout, d->platform_version);
        printf(", \"name\": ");
        cli_json_string(stdout, d->name);
        printf(", \"type\": ");
        cli_json_string(stdout, d->type);
        printf(", \"vendor\": ");
        cli_json_string(stdout, d->vendor);
        printf(", \"driver_version\": ");
        cli_json_string(stdout, d->driver_version);
        printf(", \"opencl_c_version\": ");
        cli_json_string(stdout, d->opencl_c_version);
        printf(", \"compute_units\": %u, \"clock_mhz\": %u, \"global_mem_bytes\": %llu, "
               "\"local_mem_bytes\": %llu, \"max_alloc_bytes\": %llu, "
               "\"max_work_group_size\": %zu, \"fp16\": %s, \"fp64\": %s}%s\n",
               d->compute_units, d->clock_mhz, (unsigned long long)d->global_mem_bytes,
               (unsigned long long)d->local_mem_bytes, (unsigned long long)d->max_alloc_bytes,
               d->max_work_group_size, d->fp16 ? "true" : "false", d->fp64 ? "true" : "false",
               i + 1 < count ? "," : "");
    }
    printf("]\n");
}

int cmd_devices(const cli_globals *g, int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            return cli_usage_error("devices: unknown option '%s'", argv[i]);
    }
    moecl_device_info *devices = NULL;
    int count = 0;
    moecl_status st = moecl_devices_list(&devices, &count);
    if (st != MOECL_OK) return cli_report(st);
    /* Mark the device a command would use; a bad selection is still an error. */
    int selected = -1;
    st = moecl_device_select(devices, count, g->device_spec, &selected);
    if (st != MOECL_OK) {
        int code = cli_report(st);
        cli_print_device_table(stderr, devices, count, -1);
        free(devices);
        return code;
    }
    if (json)
        print_json(devices, count, selected);
    else {
        cli_print_device_table(stdout, devices, count, selected);
        printf("(* marks the device commands use; choose another with --device N or "
               "--device NAME)\n");
    }
    free(devices);
    return 0;
}
