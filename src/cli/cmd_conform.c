/* tappa conform: every op x shape x dtype on the CPU reference backend and on
 * each Vulkan device, compared with the float64 reference. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conform.h"
#include "rng.h"

static const char help[] =
    "usage: tappa conform [--device D] [--op NAME] [--seed S] [--no-large] [--json]\n"
    "Run every op on fresh random inputs on the CPU reference backend and on every\n"
    "Vulkan device (or only --device), outputs poisoned with NaN first, and compare\n"
    "with the float64 reference: ||out - ref|| / ||ref|| against SPEC.md's tolerances\n"
    "(f32 1e-5, attention 1e-4, f16 storage 2e-3). Exit 1 if any case fails or the\n"
    "validation layer (TAPPA_VALIDATE=1) reports anything.\n"
    "  --device D   index, name substring, or 'cpu' (default: cpu and every device)\n"
    "  --op NAME    only this op: copy, softmax, rope, qsim, window_stats, attention,\n"
    "               token_scores, topk, kv_compact, row_sums, block_influence, matvec,\n"
    "               rmsnorm, swiglu, attention_rows, pattern_profiles, rope_energy\n"
    "  --seed S     reproduce a run (default: fresh, printed)\n"
    "  --no-large   skip the case with a tensor above 128 MiB\n"
    "  --json       machine-readable results\n";

typedef struct run_state {
    const char *device;
    bool json;
    bool tty;
    cJSON *rows;
    size_t passed, failed, unsupported;
} run_state;

static const char *verdict(const conform_result *r)
{
    return r->pass ? "pass" : r->unsupported ? "unsupported" : "FAIL";
}

static void on_case(const conform_result *r, size_t index, size_t total, void *user)
{
    run_state *s = user;
    if (r->pass) s->passed++;
    else if (r->unsupported) s->unsupported++;
    else s->failed++;
    if (s->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "op", r->op);
        cJSON_AddStringToObject(o, "case", r->shape);
        cJSON_AddStringToObject(o, "dtype", r->dtype);
        cJSON_AddStringToObject(o, "device", s->device);
        if (isnan(r->error)) cJSON_AddNullToObject(o, "error");
        else cJSON_AddNumberToObject(o, "error", r->error);
        cJSON_AddNumberToObject(o, "tolerance", r->tolerance);
        cJSON_AddStringToObject(o, "result", verdict(r));
        cJSON_AddNumberToObject(o, "ms", r->ms);
        cJSON_AddNumberToObject(o, "segments", (double)r->segments);
        if (r->note[0]) cJSON_AddStringToObject(o, "note", r->note);
        cJSON_AddItemToArray(s->rows, o);
        if (s->tty) fprintf(stderr, "\r[%zu/%zu] %s %s      ", index + 1, total, s->device, r->op);
        return;
    }
    char err[32];
    if (isnan(r->error)) snprintf(err, sizeof err, "nan");
    else snprintf(err, sizeof err, "%.2e", r->error);
    printf("%-13s %-44s %-4s %-26.26s %9s %8.0e %3zu %s%s%s\n", r->op, r->shape, r->dtype, s->device,
           err, r->tolerance, r->segments, verdict(r), r->note[0] ? ": " : "", r->note);
    fflush(stdout);
}

/* Run all selected cases on one context; returns validation message count. */
static tappa_status run_on(const char *device, const conform_options *opt, run_state *s,
                           size_t *validation, tappa_error *err)
{
    tappa_context *ctx;
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = device;
    tappa_status st = tappa_context_create(&p, &ctx, err);
    if (st) return st;
    s->device = tappa_context_name(ctx);
    conform_result *res = NULL;
    size_t n = 0;
    st = conform_run(ctx, opt, on_case, s, &res, &n, err);
    free(res);
    *validation += cli_report_validation("conform", ctx);
    tappa_context_destroy(&ctx);
    return st;
}

int cmd_conform(int argc, char **argv)
{
    static const struct option opts[] = {
        { "device", required_argument, NULL, 'd' }, { "op", required_argument, NULL, 'o' },
        { "seed", required_argument, NULL, 's' },   { "no-large", no_argument, NULL, 'l' },
        { "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *device = NULL;
    conform_options opt = { .seed = rng_fresh_seed(), .op = NULL, .large = true };
    run_state s = { 0 };
    unsigned long long seed;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'o': opt.op = optarg; break;
        case 's':
            if (!cli_parse_u64(optarg, &seed)) return cli_usage("conform", "--seed needs a non-negative integer, got '%s'", optarg);
            opt.seed = seed;
            break;
        case 'l': opt.large = false; break;
        case 'j': s.json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("conform", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("conform", "unexpected argument '%s'", argv[optind]);
    if (opt.op) {
        bool known = false;
        for (size_t i = 0; conform_ops[i]; i++) known |= !strcmp(conform_ops[i], opt.op);
        if (!known) return cli_usage("conform", "unknown op '%s'", opt.op);
    }

    /* Devices: the one asked for, else the CPU backend and every Vulkan device. */
    tappa_error err = { 0 };
    tappa_device_info *devs = NULL;
    size_t n_devs = 0;
    char reason[512] = "";
    if (!device && tappa_list_devices(&devs, &n_devs, reason, sizeof reason, &err))
        return cli_error("conform", &err);
    if (!device && !n_devs)
        fprintf(stderr, "tappa conform: no Vulkan device (%s); checking the CPU backend only\n", reason);

    s.tty = cli_stderr_tty();
    s.rows = cJSON_CreateArray();
    if (!s.json) {
        printf("tappa conform: seed %llu\n", (unsigned long long)opt.seed);
        printf("%-13s %-44s %-4s %-26s %9s %8s %3s %s\n", "op", "case", "type", "device", "error",
               "tol", "seg", "result");
    }
    size_t validation = 0;
    tappa_status st = TAPPA_OK;
    char index[16];
    for (size_t i = 0; i <= n_devs && !st; i++) {
        const char *d = device;
        if (!device && i == 0) d = "cpu";
        if (!device && i > 0) {
            snprintf(index, sizeof index, "%d", devs[i - 1].index);
            d = index;
        }
        st = run_on(d, &opt, &s, &validation, &err);
        if (device) break;
    }
    free(devs);
    if (s.json && s.tty) fprintf(stderr, "\r%60s\r", "");
    if (st) {
        cJSON_Delete(s.rows);
        return cli_error("conform", &err);
    }
    if (s.json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "seed", (double)opt.seed);
        cJSON_AddItemToObject(root, "results", s.rows);
        cJSON_AddNumberToObject(root, "passed", (double)s.passed);
        cJSON_AddNumberToObject(root, "failed", (double)s.failed);
        cJSON_AddNumberToObject(root, "unsupported", (double)s.unsupported);
        cJSON_AddNumberToObject(root, "validation_messages", (double)validation);
        char *text = cJSON_Print(root);
        puts(text);
        free(text);
        cJSON_Delete(root);
    } else {
        cJSON_Delete(s.rows);
        printf("conform: %zu cases passed, %zu failed, %zu unsupported, %zu validation messages (seed %llu)\n",
               s.passed, s.failed, s.unsupported, validation, (unsigned long long)opt.seed);
    }
    return s.failed || validation || (s.passed == 0) ? EXIT_FAIL : EXIT_OK;
}
