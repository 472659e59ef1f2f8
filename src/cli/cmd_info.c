/* tappa info: every Vulkan device, its probed capabilities and limits, and
 * which one tappa would use. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: tappa info [--device D] [--json]\n"
    "List every Vulkan device with the capabilities tappa probes and mark the one it\n"
    "selects (--device, else $TAPPA_DEVICE, else discrete > integrated > other).\n"
    "  --device D   index, name substring, or 'cpu'\n"
    "  --json       machine-readable output\n";

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

static const char *yes(bool b) { return b ? "yes" : "no"; }

static void print_device(const tappa_device_info *d, bool selected)
{
    printf("%s [%d] %s (%s, Vulkan %s)\n", selected ? "*" : " ", d->index, d->name, d->type,
           d->api_version);
    printf("    driver                 %s\n", d->driver);
    printf("    vendor:device          0x%04x:0x%04x\n", d->vendor_id, d->device_id);
    printf("    max storage binding    %.0f MiB\n", mib(d->max_storage_buffer_range_bytes));
    printf("    max allocation         %.0f MiB\n", mib(d->max_memory_allocation_bytes));
    printf("    shared memory          %u KiB per workgroup\n", d->max_shared_memory_bytes / 1024);
    printf("    workgroup invocations  %u\n", d->max_workgroup_invocations);
    printf("    storage buffers        %u per shader stage\n", d->max_storage_buffers_per_stage);
    printf("    subgroup size          %u (min %u, max %u%s)\n", d->subgroup_size, d->subgroup_min_size,
           d->subgroup_max_size,
           d->compute_subgroup_size_pinning ? ", size control, pinned in compute"
           : d->subgroup_size_control       ? ", size control"
                                            : "");
    printf("    subgroup ops           %s%s%s%s%s%s\n", d->subgroup_basic ? "basic " : "",
           d->subgroup_vote ? "vote " : "", d->subgroup_arithmetic ? "arithmetic " : "",
           d->subgroup_ballot ? "ballot " : "", d->subgroup_shuffle ? "shuffle " : "",
           d->subgroup_in_compute ? "(compute)" : "(not in compute)");
    printf("    fp16 arithmetic        %s\n", yes(d->shader_float16));
    printf("    int8 arithmetic        %s\n", yes(d->shader_int8));
    printf("    16-bit / 8-bit storage %s / %s\n", yes(d->storage_16bit), yes(d->storage_8bit));
    printf("    cooperative matrix     %s%s%s%s\n",
           d->cooperative_matrix_khr && d->cooperative_matrix_nv ? "KHR, NV"
           : d->cooperative_matrix_khr                          ? "KHR"
           : d->cooperative_matrix_nv                           ? "NV"
                                                                : "no",
           d->coopmat_f16_16x8x16 || d->coopmat_f16_16x16x16 ? "; f16 tiles used by tappa:" : "",
           d->coopmat_f16_16x8x16 ? " 16x8x16" : "", d->coopmat_f16_16x16x16 ? " 16x16x16" : "");
    printf("    buffer device address  %s\n", yes(d->buffer_device_address));
    printf("    pipeline statistics    %s\n", yes(d->pipeline_statistics));
    printf("    memory                 %.0f MiB device-local, budget %.0f MiB%s, %s\n",
           mib(d->device_local_bytes), mib(d->budget_bytes),
           d->memory_budget_ext ? " (VK_EXT_memory_budget)" : " (heap size)",
           d->unified_memory ? "unified (no staging)" : "staged uploads");
    if (d->loop_iteration_limit)
        printf("    loop iterations        at most %u per invocation (driver limit)\n", d->loop_iteration_limit);
    if (d->timestamps)
        printf("    timestamps             yes, %.3g ns per tick\n", d->timestamp_period_ns);
    else
        printf("    timestamps             no\n");
}

static cJSON *device_json(const tappa_device_info *d, bool selected)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", d->index);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "type", d->type);
    cJSON_AddBoolToObject(o, "selected", selected);
    cJSON_AddStringToObject(o, "api_version", d->api_version);
    cJSON_AddStringToObject(o, "driver", d->driver);
    cJSON_AddNumberToObject(o, "vendor_id", d->vendor_id);
    cJSON_AddNumberToObject(o, "device_id", d->device_id);
    cJSON_AddNumberToObject(o, "max_storage_buffer_range_bytes", (double)d->max_storage_buffer_range_bytes);
    cJSON_AddNumberToObject(o, "max_memory_allocation_bytes", (double)d->max_memory_allocation_bytes);
    cJSON_AddNumberToObject(o, "max_shared_memory_bytes", d->max_shared_memory_bytes);
    cJSON_AddNumberToObject(o, "max_workgroup_invocations", d->max_workgroup_invocations);
    cJSON_AddNumberToObject(o, "max_storage_buffers_per_stage", d->max_storage_buffers_per_stage);
    cJSON_AddNumberToObject(o, "subgroup_size", d->subgroup_size);
    cJSON_AddNumberToObject(o, "subgroup_min_size", d->subgroup_min_size);
    cJSON_AddNumberToObject(o, "subgroup_max_size", d->subgroup_max_size);
    cJSON_AddBoolToObject(o, "subgroup_size_control", d->subgroup_size_control);
    cJSON_AddBoolToObject(o, "compute_subgroup_size_pinning", d->compute_subgroup_size_pinning);
    cJSON_AddBoolToObject(o, "subgroup_arithmetic", d->subgroup_arithmetic);
    cJSON_AddBoolToObject(o, "subgroup_shuffle", d->subgroup_shuffle);
    cJSON_AddBoolToObject(o, "shader_float16", d->shader_float16);
    cJSON_AddBoolToObject(o, "shader_int8", d->shader_int8);
    cJSON_AddBoolToObject(o, "storage_16bit", d->storage_16bit);
    cJSON_AddBoolToObject(o, "storage_8bit", d->storage_8bit);
    cJSON_AddBoolToObject(o, "cooperative_matrix_khr", d->cooperative_matrix_khr);
    cJSON_AddBoolToObject(o, "cooperative_matrix_nv", d->cooperative_matrix_nv);
    cJSON_AddBoolToObject(o, "coopmat_f16_16x8x16", d->coopmat_f16_16x8x16);
    cJSON_AddBoolToObject(o, "coopmat_f16_16x16x16", d->coopmat_f16_16x16x16);
    cJSON_AddBoolToObject(o, "buffer_device_address", d->buffer_device_address);
    cJSON_AddBoolToObject(o, "pipeline_statistics", d->pipeline_statistics);
    cJSON_AddBoolToObject(o, "unified_memory", d->unified_memory);
    cJSON_AddBoolToObject(o, "memory_budget_ext", d->memory_budget_ext);
    cJSON_AddNumberToObject(o, "device_local_bytes", (double)d->device_local_bytes);
    cJSON_AddNumberToObject(o, "budget_bytes", (double)d->budget_bytes);
    cJSON_AddNumberToObject(o, "loop_iteration_limit", d->loop_iteration_limit);
    cJSON_AddBoolToObject(o, "timestamps", d->timestamps);
    cJSON_AddNumberToObject(o, "timestamp_period_ns", d->timestamp_period_ns);
    return o;
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        { "device", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *device = NULL;
    bool json = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("info", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("info", "unexpected argument '%s'", argv[optind]);

    tappa_error err = { 0 };
    tappa_device_info *devs = NULL;
    size_t n = 0;
    char reason[512] = "";
    if (tappa_list_devices(&devs, &n, reason, sizeof reason, &err)) return cli_error("info", &err);
    tappa_context *ctx = NULL;
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = device;
    tappa_status st = tappa_context_create(&p, &ctx, &err);
    if (st) {
        free(devs);
        return cli_error("info", &err);
    }
    const tappa_device_info *sel = tappa_context_device(ctx);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "devices");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, device_json(&devs[i], sel && sel->index == devs[i].index));
        cJSON_AddStringToObject(root, "backend", sel ? "vulkan" : "cpu");
        cJSON_AddStringToObject(root, "selected", tappa_context_name(ctx));
        if (!n) cJSON_AddStringToObject(root, "no_device_reason", reason);
        char *s = cJSON_Print(root);
        puts(s);
        free(s);
        cJSON_Delete(root);
    } else {
        if (!n) printf("no Vulkan device: %s\n", reason);
        for (size_t i = 0; i < n; i++) print_device(&devs[i], sel && sel->index == devs[i].index);
        printf("%s selected: %s\n", sel ? "*" : " ",
               sel ? tappa_context_name(ctx) : "cpu (float64 reference backend)");
    }
    tappa_context_destroy(&ctx);
    free(devs);
    return EXIT_OK;
}
