/* tappa-bench: times every op with GPU timestamps after warm-up (median of
 * many runs, inputs rotated past the cache) and reports GB/s, TFLOP/s and the
 * fraction of the copy bandwidth measured in the same run. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "conform.h"

static const char help[] =
    "usage: tappa-bench [--device D] [--op NAME] [--ctx N,...] [--json FILE] [--quick] [--reps N]\n"
    "                   [--batch B] [--pipeline-stats]\n"
    "Time every op on a Vulkan device with GPU timestamps: warm-up, then the median\n"
    "of N runs (default 30; --quick: 5 runs on small shapes), inputs rotated over\n"
    "several sets larger than the GPU cache. Reports each op's GB/s and TFLOP/s and\n"
    "its fraction of the device copy bandwidth measured in the same run, and the\n"
    "path it took: coopmat (tensor cores, where the device has them) or portable.\n"
    "  --device D    index or name substring (default: the best GPU)\n"
    "  --op NAME     only this op (and the copy yardstick; 'copy' adds copies of 1 to\n"
    "                256 MiB); also 'decode' (decode attention at every context from\n"
    "                1K to 128K, and a copy of the bytes of each f16 decode), 'prefill'\n"
    "                (causal prefill from 1K to 16K), 'compress'\n"
    "  --ctx N,...   with --op decode or prefill: these context or prompt lengths\n"
    "                instead of the sweep's (up to 16 of them, each 1..1048576)\n"
    "  --dtype T     with --op decode or prefill: only the T caches or inputs (f32 or\n"
    "                f16) instead of both\n"
    "  --json FILE   also write the results as JSON to FILE\n"
    "  --quick       small shapes, few runs (a smoke run on CPU drivers)\n"
    "  --reps N      timed runs per op\n"
    "  --batch B     B back-to-back runs (a barrier between) per timestamp pair, each\n"
    "                run's time the pair's interval / B (default 1); B = 10 times ops\n"
    "                the way bench/peer.py times PyTorch's, launch latency overlapped\n"
    "                (slow and host-timed cases keep 1; the JSON gives each case's)\n"
    "  --pipeline-stats  also print the driver compiler's statistics (registers,\n"
    "                shared memory, ...) of the pipelines each case built first, where\n"
    "                the device has VK_KHR_pipeline_executable_properties\n";

#define WARMUP 3       /* runs per warm-up submission, and at least this many */
#define WARMUP_MS 300.0

typedef struct timing {
    double median_ms, min_ms;
    bool coopmat; /* the case's dispatches took a cooperative-matrix path */
    int batch;    /* runs per timestamp pair (1: slow cases and host-timed ones) */
    size_t first_pipeline, n_pipelines; /* dev->pipelines this case built */
} timing;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A whole library call on the host clock: one run to warm up, then reps. */
static tappa_status time_run(bench_case *c, int reps, timing *out, tappa_error *err)
{
    double *ms = calloc((size_t)reps, sizeof *ms);
    if (!ms) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    tappa_status st = c->run(c->state, err);
    for (int i = 0; i < reps && !st; i++) {
        double t0 = clock_ms();
        st = c->run(c->state, err);
        ms[i] = clock_ms() - t0;
    }
    if (!st) {
        qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
        out->median_ms = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
        out->min_ms = ms[0];
    }
    free(ms);
    return st;
}

/* Warm up until the GPU has been busy for WARMUP_MS (an idle GPU sits at low
 * clocks and takes a while to ramp), then time reps batches of batch runs in
 * one submission, one timestamp pair per batch. */
static tappa_status time_case(tvk_device *dev, bench_case *c, int reps, int batch, timing *out,
                              tappa_error *err)
{
    if (c->run) return time_run(c, reps, out, err);
    tappa_status st = TAPPA_OK;
    int runs = 0;
    for (double t0 = clock_ms(); !st && (runs < WARMUP || clock_ms() - t0 < WARMUP_MS);) {
        st = tvk_begin(dev, err);
        for (int i = 0; i < WARMUP && !st; i++, runs++) {
            st = c->record(c->state, runs % c->sets, err);
            tvk_barrier(dev);
        }
        if (!st) st = tvk_submit_wait(dev, err);
        else tvk_abort(dev);
    }
    if (st) return st;

    tvk_timer timer;
    st = tvk_timer_create(dev, 2 * (uint32_t)reps, &timer, err);
    if (st) return st;
    double *ns = calloc(2 * (size_t)reps, sizeof *ns), *ms = calloc((size_t)reps, sizeof *ms);
    if (!ns || !ms) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (!st) st = tvk_begin(dev, err);
    if (!st) {
        tvk_timer_reset(dev, &timer, 0, timer.count);
        for (int i = 0; i < reps && !st; i++) {
            tvk_timestamp(dev, &timer, 2 * (uint32_t)i);
            for (int j = 0; j < batch && !st; j++) {
                if (j) tvk_barrier(dev);
                st = c->record(c->state, (i * batch + j) % c->sets, err);
            }
            tvk_timestamp(dev, &timer, 2 * (uint32_t)i + 1);
            tvk_barrier(dev);
        }
        if (!st) st = tvk_submit_wait(dev, err);
        else tvk_abort(dev);
    }
    if (!st) st = tvk_timer_read_ns(dev, &timer, ns, err);
    if (!st) {
        for (int i = 0; i < reps; i++) ms[i] = (ns[2 * i + 1] - ns[2 * i]) / 1e6 / batch;
        qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
        out->median_ms = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
        out->min_ms = ms[0];
    }
    free(ns);
    free(ms);
    tvk_timer_destroy(dev, &timer);
    return st;
}

/* Print each case's pipelines' statistics and add them to its JSON object
 * (ops[i].pipelines: spec constants, subgroup size, statistics by name). */
static tappa_status add_statistics(tvk_device *dev, const bench_case *cases, const timing *t, size_t n,
                                   cJSON *ops, tappa_error *err)
{
    printf("\npipeline statistics (the driver's compiler, for the pipelines each case built first):\n");
    for (size_t i = 0; i < n; i++) {
        cJSON *list = cJSON_AddArrayToObject(cJSON_GetArrayItem(ops, (int)i), "pipelines");
        if (!t[i].n_pipelines) continue;
        printf("  %s %s %s\n", cases[i].op, cases[i].dtype, cases[i].shape);
        for (size_t j = 0; j < t[i].n_pipelines; j++) {
            const tvk_pipeline *p = dev->pipelines[t[i].first_pipeline + j];
            tvk_statistic s[64];
            size_t ns;
            tappa_status st = tvk_pipeline_statistics(dev, p, s, 64, &ns, err);
            if (st) return st;
            cJSON *o = cJSON_CreateObject(), *spec = cJSON_AddArrayToObject(o, "spec"),
                  *values = cJSON_AddObjectToObject(o, "statistics");
            printf("    spec");
            for (uint32_t k = 0; k < p->n_spec; k++) {
                printf(" %u", p->spec[k]);
                cJSON_AddItemToArray(spec, cJSON_CreateNumber(p->spec[k]));
            }
            cJSON_AddNumberToObject(o, "subgroup_size", p->subgroup_size);
            printf(p->subgroup_size ? ", subgroup %u:" : ":", p->subgroup_size);
            for (size_t k = 0; k < ns; k++) {
                printf("%s %s %.15g", k ? "," : "", s[k].name, s[k].value);
                cJSON_AddNumberToObject(values, s[k].name, s[k].value);
            }
            printf("\n");
            cJSON_AddItemToArray(list, o);
        }
    }
    return TAPPA_OK;
}

static int fail(const char *msg)
{
    fprintf(stderr, "tappa-bench: %s\n", msg);
    return 1;
}

#define MAX_CONTEXTS 16
#define MAX_CONTEXT (1 << 20)

/* "N,N,..." into out (at most MAX_CONTEXTS lengths of 1..MAX_CONTEXT): how many, or -1. */
static int parse_contexts(const char *text, int64_t *out)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 1 || v > MAX_CONTEXT || n == MAX_CONTEXTS || (*end && *end != ',')) return -1;
        out[n++] = v;
        if (!*end) return n;
        p = end + 1;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "device", required_argument, NULL, 'd' }, { "json", required_argument, NULL, 'j' },
        { "quick", no_argument, NULL, 'q' },        { "reps", required_argument, NULL, 'r' },
        { "op", required_argument, NULL, 'o' },     { "batch", required_argument, NULL, 'b' },
        { "pipeline-stats", no_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
        { "ctx", required_argument, NULL, 'c' },    { "dtype", required_argument, NULL, 't' }, { 0 },
    };
    int64_t contexts[MAX_CONTEXTS];
    int n_contexts = 0;
    const char *device = NULL, *json_path = NULL, *op = NULL, *dtype = NULL;
    bool quick = false, stats = false;
    int reps = 0, batch = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'j': json_path = optarg; break;
        case 'q': quick = true; break;
        case 's': stats = true; break;
        case 'o': op = optarg; break;
        case 'r':
            reps = atoi(optarg);
            if (reps < 1 || reps > 10000) {
                fprintf(stderr, "tappa-bench: --reps needs 1..10000, got '%s' (see tappa-bench --help)\n", optarg);
                return 2;
            }
            break;
        case 'b': {
            char *end;
            long v = strtol(optarg, &end, 10);
            batch = *optarg && !*end && v >= 1 && v <= 100 ? (int)v : 0;
            if (!batch) {
                fprintf(stderr, "tappa-bench: --batch needs 1..100, got '%s' (see tappa-bench --help)\n", optarg);
                return 2;
            }
            break;
        }
        case 'c':
            n_contexts = parse_contexts(optarg, contexts);
            if (n_contexts < 0) {
                fprintf(stderr, "tappa-bench: --ctx needs 1 to %d lengths of 1..%d, comma-separated, got '%s' "
                        "(see tappa-bench --help)\n", MAX_CONTEXTS, MAX_CONTEXT, optarg);
                return 2;
            }
            break;
        case 't':
            if (strcmp(optarg, "f32") && strcmp(optarg, "f16")) {
                fprintf(stderr, "tappa-bench: --dtype needs f32 or f16, got '%s' (see tappa-bench --help)\n", optarg);
                return 2;
            }
            dtype = optarg;
            break;
        case 'h': fputs(help, stdout); return 0;
        default:
            fprintf(stderr, "tappa-bench: unknown or incomplete option '%s' (see tappa-bench --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tappa-bench: unexpected argument '%s' (see tappa-bench --help)\n", argv[optind]);
        return 2;
    }
    if (!reps) reps = quick ? 5 : 30;
    if (op) {
        bool known = false;
        for (size_t i = 0; conform_ops[i]; i++) known |= !strcmp(conform_ops[i], op);
        known |= !strcmp(op, "compress") || !strcmp(op, "decode") || !strcmp(op, "prefill");
        if (!known) {
            fprintf(stderr, "tappa-bench: unknown op '%s' (see tappa-bench --help)\n", op);
            return 2;
        }
    }

    /* --ctx and --dtype shape a sweep, and only decode and prefill have one. */
    bool sweep = op && (!strcmp(op, "decode") || !strcmp(op, "prefill"));
    if (n_contexts && !sweep) {
        fprintf(stderr, "tappa-bench: --ctx needs --op decode or --op prefill (see tappa-bench --help)\n");
        return 2;
    }
    if (dtype && !sweep) {
        fprintf(stderr, "tappa-bench: --dtype needs --op decode or --op prefill (see tappa-bench --help)\n");
        return 2;
    }

    tappa_error err = { 0 };
    tappa_context *ctx;
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = device;
    if (tappa_context_create(&p, &ctx, &err)) return fail(err.message);
    if (tappa_context_backend(ctx) != TAPPA_BACKEND_VULKAN) {
        tappa_context_destroy(&ctx);
        return fail("needs a Vulkan device (GPU timestamps); none found");
    }
    tvk_device *dev = ctx->vk;
    if (stats && !dev->info.pipeline_statistics) {
        tappa_context_destroy(&ctx);
        return fail("--pipeline-stats: this device's driver keeps no pipeline statistics "
                    "(no VK_KHR_pipeline_executable_properties)");
    }
    dev->capture_statistics = stats;
    bool tty = isatty(STDERR_FILENO);
    fprintf(stderr, "tappa-bench: preparing inputs on %s...\n", tappa_context_name(ctx));
    bench_case *cases;
    size_t n;
    if (bench_cases_create(ctx, quick, op, n_contexts ? contexts : NULL, n_contexts, dtype, &cases, &n, &err)) {
        tappa_context_destroy(&ctx);
        return fail(err.message);
    }
    timing *t = calloc(n, sizeof *t);
    if (!t) return fail("out of host memory");
    for (size_t i = 0; i < n; i++) {
        if (tty) fprintf(stderr, "\r[%zu/%zu] %s %s %s        ", i + 1, n, cases[i].op, cases[i].dtype, cases[i].shape);
        else fprintf(stderr, "[%zu/%zu] %s %s %s\n", i + 1, n, cases[i].op, cases[i].dtype, cases[i].shape);
        int case_reps = cases[i].max_reps && cases[i].max_reps < reps ? cases[i].max_reps : reps;
        /* Slow cases: launch latency is noise; host-timed ones time whole calls. */
        int case_batch = cases[i].max_reps || cases[i].run ? 1 : batch;
        t[i].batch = case_batch;
        uint64_t before = dev->coopmat_dispatches;
        t[i].first_pipeline = dev->n_pipelines;
        tappa_status st = time_case(dev, &cases[i], case_reps, case_batch, &t[i], &err);
        t[i].coopmat = dev->coopmat_dispatches != before;
        t[i].n_pipelines = dev->n_pipelines - t[i].first_pipeline;
        if (st) {
            bench_cases_destroy(cases, n);
            free(t);
            tappa_context_destroy(&ctx);
            return fail(err.message);
        }
    }
    if (tty) fprintf(stderr, "\r%80s\r", "");

    /* The yardstick: the fastest of this run's longest copies. */
    double copy_gbps = 0;
    for (size_t i = 0; i < n; i++)
        if (cases[i].yardstick) copy_gbps = fmax(copy_gbps, cases[i].bytes / (t[i].median_ms * 1e-3) / 1e9);
    const tappa_device_info *info = tappa_context_device(ctx);
    printf("tappa-bench on %s (%s, Vulkan %s), median of %d %s%s\n", info->name, info->driver,
           info->api_version, reps, batch > 1 ? "batches" : "runs", quick ? ", quick shapes" : "");
    if (batch > 1) printf("each batch: %d runs back to back between one timestamp pair\n", batch);
    printf("copy bandwidth (read + write, best copy kernel): %.1f GB/s\n\n", copy_gbps);
    printf("%-15s %-4s %-36s %10s %10s %9s %8s  %s\n", "op", "type", "case", "median us", "GB/s",
           "TFLOP/s", "of copy", "path");
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "device", info->name);
    cJSON_AddStringToObject(root, "driver", info->driver);
    cJSON_AddStringToObject(root, "api_version", info->api_version);
    cJSON_AddNumberToObject(root, "reps", reps);
    cJSON_AddNumberToObject(root, "batch", batch);
    cJSON_AddBoolToObject(root, "quick", quick);
    cJSON_AddNumberToObject(root, "copy_gbps", copy_gbps);
    cJSON *arr = cJSON_AddArrayToObject(root, "ops");
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        double s = t[i].median_ms * 1e-3;
        double gbps = cases[i].bytes / s / 1e9, tflops = cases[i].flops / s / 1e12;
        const char *path = t[i].coopmat ? "coopmat" : "portable";
        printf("%-15s %-4s %-36s %10.1f %10.1f %9.3f %7.1f%%  %s\n", cases[i].op, cases[i].dtype,
               cases[i].shape, t[i].median_ms * 1e3, gbps, tflops, 100 * gbps / copy_gbps, path);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "op", cases[i].op);
        cJSON_AddStringToObject(o, "dtype", cases[i].dtype);
        cJSON_AddStringToObject(o, "case", cases[i].shape);
        cJSON_AddNumberToObject(o, "median_us", t[i].median_ms * 1e3);
        cJSON_AddNumberToObject(o, "min_us", t[i].min_ms * 1e3);
        cJSON_AddNumberToObject(o, "batch", t[i].batch);
        cJSON_AddNumberToObject(o, "bytes", cases[i].bytes);
        cJSON_AddNumberToObject(o, "flops", cases[i].flops);
        cJSON_AddNumberToObject(o, "gbps", gbps);
        cJSON_AddNumberToObject(o, "tflops", tflops);
        cJSON_AddNumberToObject(o, "fraction_of_copy", gbps / copy_gbps);
        cJSON_AddNumberToObject(o, "input_sets", cases[i].sets);
        cJSON_AddStringToObject(o, "clock", cases[i].run ? "host" : "gpu");
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddItemToArray(arr, o);
    }
    if (stats && add_statistics(dev, cases, t, n, arr, &err)) rc = fail(err.message);
    /* The compression issue's yardstick: the whole step against the prefill
     * attention of the same prompt (every layer). */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cases[i].op, "compress") || !cases[i].run) continue;
        for (size_t j = 0; j < n; j++) {
            if (strcmp(cases[j].op, "compress") || cases[j].run) continue;
            double prefill_ms = t[j].median_ms * cases[i].layers;
            printf("\ncompression step: %.1f ms = %.2f%% of the prefill attention of the same prompt "
                   "(%d layers x %.1f ms)\n", t[i].median_ms, 100 * t[i].median_ms / prefill_ms,
                   cases[i].layers, t[j].median_ms);
            cJSON_AddNumberToObject(root, "compress_fraction_of_prefill", t[i].median_ms / prefill_ms);
        }
    }
    if (json_path && !rc) {
        /* Written atomically: a failed write leaves no partial file. */
        char *text = cJSON_Print(root);
        tappa_error werr = { 0 };
        if (!text || cli_write_json(json_path, text, &werr)) {
            fprintf(stderr, "tappa-bench: %s\n", text ? werr.message : "out of host memory");
            rc = 1;
        }
        free(text);
    }
    cJSON_Delete(root);
    bench_cases_destroy(cases, n);
    free(t);
    tappa_context_destroy(&ctx);
    return rc;
}
