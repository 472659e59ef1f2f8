/* tappa qsim: TAPPA q-similarity per head of a .npy [H, T, D] or of every
 * layer of a trace (layer.{i}.q), on one device. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: tappa qsim FILE [--mode M] [--sigma S] [--window T] [--device D] [--json]\n"
    "q-similarity of each query head (SPEC.md): the mean similarity of a head's queries\n"
    "over time. FILE is a .npy [H, T, D] of queries or a .safetensors trace (each\n"
    "layer.{i}.q, post-RoPE [Hq, N, D]). A layer's q-similarity is its heads' mean.\n"
    "  --mode M     cosine (default), dot, pearson (similarities, O(T D)); euclidean, l1,\n"
    "               angular, kl (distances: higher = less similar), rbf (O(T^2 D))\n"
    "  --sigma S    rbf width (default 1)\n"
    "  --window T   only the last T queries (KV compression uses the window, W = 32)\n"
    "  --device D   index, name substring, or 'cpu'\n"
    "  --json       {\"mode\", \"per_head\", \"qsim\"} for a .npy, {\"mode\", \"layers\": [...]} for a trace\n";

static const struct { const char *name; tappa_qsim_mode mode; } modes[] = {
    { "cosine", TAPPA_QSIM_COSINE }, { "dot", TAPPA_QSIM_DOT }, { "pearson", TAPPA_QSIM_PEARSON },
    { "euclidean", TAPPA_QSIM_EUCLIDEAN }, { "l1", TAPPA_QSIM_L1 }, { "rbf", TAPPA_QSIM_RBF },
    { "angular", TAPPA_QSIM_ANGULAR }, { "kl", TAPPA_QSIM_KL },
};
#define N_MODES (sizeof modes / sizeof modes[0])

/* q-similarity of each head of a [H, T, D] array over its last `window` rows
 * (all when 0); per_head gets H values. */
static tappa_status qsim_of(tappa_context *ctx, const char *what, const tappa_array *a,
                            int64_t window, tappa_qsim_mode mode, double sigma, double *per_head,
                            tappa_error *err)
{
    if (a->ndim != 3 || a->dtype == TAPPA_I32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: expected f32 or f16 queries [H, T, D]", what);
    int64_t h = a->shape[0], t = a->shape[1], d = a->shape[2];
    if (window > t)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: window %lld is longer than its %lld queries",
                          what, (long long)window, (long long)t);
    int64_t keep = window ? window : t;
    int64_t shape[3] = { h, keep, d };
    tappa_array slice;
    tappa_status st = tappa_array_alloc(&slice, a->dtype, 3, shape, err);
    if (st) return st;
    size_t row = (size_t)d * tappa_dtype_bytes(a->dtype);
    for (int64_t i = 0; i < h; i++)
        memcpy((char *)slice.data + (size_t)(i * keep) * row,
               (const char *)a->data + (size_t)(i * t + t - keep) * row, (size_t)keep * row);
    tappa_tensor *tq = NULL, *tout = NULL;
    st = tappa_tensor_from_array(ctx, &slice, &tq, err);
    tappa_array_free(&slice);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 1, &h, &tout, err);
    if (!st) st = mode == TAPPA_QSIM_RBF ? tappa_qsim_rbf(tq, tout, sigma, err) : tappa_qsim(tq, tout, mode, err);
    float *v = malloc((size_t)h * sizeof *v);
    if (!st && !v) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (!st) st = tappa_tensor_download(tout, v, (size_t)h * sizeof *v, err);
    if (!st)
        for (int64_t i = 0; i < h; i++) per_head[i] = v[i];
    free(v);
    tappa_tensor_destroy(&tq);
    tappa_tensor_destroy(&tout);
    return st;
}

/* Add {"per_head": [...], "qsim": mean} to obj; print a line unless json. */
static void report(cJSON *obj, const char *label, const double *per_head, int64_t h, bool json)
{
    double mean = 0, lo = per_head[0], hi = per_head[0];
    for (int64_t i = 0; i < h; i++) {
        mean += per_head[i] / (double)h;
        lo = per_head[i] < lo ? per_head[i] : lo;
        hi = per_head[i] > hi ? per_head[i] : hi;
    }
    cJSON_AddItemToObject(obj, "per_head", cJSON_CreateDoubleArray(per_head, (int)h));
    cJSON_AddNumberToObject(obj, "qsim", mean);
    if (!json) printf("%-10s %8.4f   heads %lld, min %.4f, max %.4f\n", label, mean, (long long)h, lo, hi);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int cmd_qsim(int argc, char **argv)
{
    static const struct option opts[] = {
        { "mode", required_argument, NULL, 'm' },   { "window", required_argument, NULL, 'w' },
        { "sigma", required_argument, NULL, 's' },
        { "device", required_argument, NULL, 'd' }, { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },         { 0 },
    };
    const char *mode_name = "cosine", *device = NULL;
    unsigned long long window = 0;
    double sigma = 1.0;
    bool json = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': mode_name = optarg; break;
        case 'w':
            if (!cli_parse_u64(optarg, &window) || window < 1 || window > (1ull << 31))
                return cli_usage("qsim", "--window needs a positive count, got '%s'", optarg);
            break;
        case 's': {
            char *end;
            sigma = strtod(optarg, &end);
            if (*end || !(sigma > 0)) return cli_usage("qsim", "--sigma needs a number > 0, got '%s'", optarg);
            break;
        }
        case 'd': device = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("qsim", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return cli_usage("qsim", "needs exactly one FILE");
    const char *path = argv[optind];
    int m = -1;
    for (size_t i = 0; i < N_MODES; i++)
        if (!strcmp(mode_name, modes[i].name)) m = (int)i;
    if (m < 0)
        return cli_usage("qsim", "unknown mode '%s' (cosine, dot, pearson, euclidean, l1, rbf, angular, kl)",
                         mode_name);
    bool npy = ends_with(path, ".npy");
    if (!npy && !ends_with(path, ".safetensors"))
        return cli_usage("qsim", "'%s' is neither .npy nor .safetensors", path);

    tappa_error err = { 0 };
    tappa_context *ctx;
    if (cli_context(device, &ctx, &err)) return cli_error("qsim", &err);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "mode", mode_name);
    tappa_status st;
    if (npy) {
        tappa_array a = { 0 };
        st = tappa_npy_read(path, &a, &err);
        double *per_head = !st ? malloc(sizeof(double) * (size_t)(a.ndim ? a.shape[0] : 1)) : NULL;
        if (!st && !per_head) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        if (!st) st = qsim_of(ctx, path, &a, (int64_t)window, modes[m].mode, sigma, per_head, &err);
        if (!st) report(root, "qsim", per_head, a.shape[0], json);
        free(per_head);
        tappa_array_free(&a);
    } else {
        tappa_safetensors *trace = NULL;
        st = tappa_safetensors_read(path, &trace, &err);
        cJSON *layers = cJSON_AddArrayToObject(root, "layers");
        if (!json && !st) printf("layer      q-sim (%s%s)\n", mode_name, window ? ", window" : "");
        int n = 0;
        for (; !st; n++) {
            char name[64], label[32];
            snprintf(name, sizeof name, "layer.%d.q", n);
            const tappa_array *q = tappa_safetensors_find(trace, name);
            if (!q) break;
            double *per_head = malloc(sizeof(double) * (size_t)(q->ndim ? q->shape[0] : 1));
            if (!per_head) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
            char what[512];
            snprintf(what, sizeof what, "%s: %s", path, name);
            if (!st) st = qsim_of(ctx, what, q, (int64_t)window, modes[m].mode, sigma, per_head, &err);
            if (!st) {
                cJSON *o = cJSON_CreateObject();
                snprintf(label, sizeof label, "%d", n);
                report(o, label, per_head, q->shape[0], json);
                cJSON_AddItemToArray(layers, o);
            }
            free(per_head);
        }
        if (!st && n == 0)
            st = tappa_fail(&err, TAPPA_ERR_FORMAT, "%s: no layer.0.q tensor: not a trace", path);
        tappa_safetensors_free(&trace);
    }
    if (!st && json) {
        char *text = cJSON_Print(root);
        puts(text);
        free(text);
    }
    cJSON_Delete(root);
    size_t validation = cli_report_validation("qsim", ctx);
    tappa_context_destroy(&ctx);
    if (st) return cli_error("qsim", &err);
    return validation ? EXIT_FAIL : EXIT_OK;
}
