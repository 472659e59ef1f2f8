/* tappa inspect: list the tensors of a .npy or .safetensors file, validating it. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: tappa inspect FILE [--json]\n"
    "List the tensors of a .npy or .safetensors file (name, dtype, shape, bytes).\n"
    "A malformed file is reported in one line naming the problem, exit code 1.\n"
    "  --json   machine-readable output\n";

static void shape_text(const tappa_array *a, char *buf, size_t bytes)
{
    size_t used = (size_t)snprintf(buf, bytes, "[");
    for (int i = 0; i < a->ndim && used < bytes; i++)
        used += (size_t)snprintf(buf + used, bytes - used, "%s%lld", i ? ", " : "", (long long)a->shape[i]);
    if (used < bytes) snprintf(buf + used, bytes - used, "]");
}

static void add(cJSON *arr, const char *name, const tappa_array *a, bool json)
{
    if (!json) {
        char shape[160];
        shape_text(a, shape, sizeof shape);
        printf("%-32s %-4s %-24s %zu bytes\n", name, tappa_dtype_name(a->dtype), shape, a->bytes);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "dtype", tappa_dtype_name(a->dtype));
    cJSON *sh = cJSON_AddArrayToObject(o, "shape");
    for (int i = 0; i < a->ndim; i++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)a->shape[i]));
    cJSON_AddNumberToObject(o, "bytes", (double)a->bytes);
    cJSON_AddItemToArray(arr, o);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    bool json = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("inspect", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return cli_usage("inspect", "needs exactly one FILE");
    const char *path = argv[optind];
    bool npy = ends_with(path, ".npy");
    if (!npy && !ends_with(path, ".safetensors"))
        return cli_usage("inspect", "'%s' is neither .npy nor .safetensors", path);

    tappa_error err = { 0 };
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "file", path);
    cJSON *arr = cJSON_AddArrayToObject(root, "tensors");
    if (npy) {
        tappa_array a;
        if (tappa_npy_read(path, &a, &err)) {
            cJSON_Delete(root);
            return cli_error("inspect", &err);
        }
        add(arr, path, &a, json);
        tappa_array_free(&a);
    } else {
        tappa_safetensors *st;
        if (tappa_safetensors_read(path, &st, &err)) {
            cJSON_Delete(root);
            return cli_error("inspect", &err);
        }
        for (size_t i = 0; i < tappa_safetensors_count(st); i++)
            add(arr, tappa_safetensors_name(st, i), tappa_safetensors_at(st, i), json);
        tappa_safetensors_free(&st);
    }
    if (json) {
        char *s = cJSON_Print(root);
        puts(s);
        free(s);
    }
    cJSON_Delete(root);
    return EXIT_OK;
}
