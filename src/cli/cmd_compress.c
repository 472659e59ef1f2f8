/* tappa compress: KV-cache compression of a prompt trace with one of the
 * methods of SPEC.md, on one device: per-layer q-similarity, preference,
 * budget and KV bytes, the compressed K/V and kept positions to a file, and
 * optionally the fidelity of the window queries' attention. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: tappa compress TRACE.safetensors [--method M] [--cache-size C] [--window W]\n"
    "         [--gamma G] [--alpha A] [--tau1 X] [--tau2 Y] [--beta B] [--kernel K]\n"
    "         [--device D] [-o OUT.safetensors] [--fidelity] [--json]\n"
    "Compress the KV cache of a prompt (SPEC.md, KV compression): TRACE holds per layer\n"
    "layer.{i}.q [Hq, N, D] (post-RoPE), layer.{i}.k and layer.{i}.v [Hkv, N, D].\n"
    "  --method M      tappa (default), cake, snapkv, pyramidkv, h2o, streamingllm, full\n"
    "  --cache-size C  average kept positions per layer, window included (default 1024)\n"
    "  --window W      observation window, always kept (default 32)\n"
    "  --gamma G       weight of the window variance in tappa/cake scores (default 200)\n"
    "  --alpha A       tappa: inf (default) for 1 - q-similarity alone, else cake + A (1 - qsim)\n"
    "  --tau1, --tau2  cake's exponents (default 1, 1)\n"
    "  --beta B        pyramidkv's min budget divisor (default 20)\n"
    "  --kernel K      pooling kernel along the keys, odd (default 5)\n"
    "  --device D      index, name substring, or 'cpu'\n"
    "  -o OUT          write layer.{i}.k, layer.{i}.v [Hkv, b_i + W, D] and layer.{i}.keep\n"
    "                  (int32 [Hkv, b_i], kept prompt positions, ascending)\n"
    "  --fidelity      per layer, the relative error of the W window queries' attention\n"
    "                  output on the compressed cache versus the full one\n"
    "  --json          {\"method\", \"layers\": [{\"qsim\", \"pref\", \"budget\", \"bytes_before\",\n"
    "                  \"bytes_after\"}], \"total_bytes_before\", \"total_bytes_after\"}\n";

/* A trace's layers on the device. */
typedef struct trace_layers {
    int count;
    tappa_tensor **q, **k, **v;
    const tappa_array **q_host; /* owned by the trace file */
} trace_layers;

static void free_layers(trace_layers *t)
{
    for (int l = 0; l < t->count; l++) {
        if (t->q) tappa_tensor_destroy(&t->q[l]);
        if (t->k) tappa_tensor_destroy(&t->k[l]);
        if (t->v) tappa_tensor_destroy(&t->v[l]);
    }
    free(t->q);
    free(t->k);
    free(t->v);
    free(t->q_host);
}

/* Rows [first, first + rows) of each head of a [H, N, D] f32 or f16 array as
 * an f32 tensor [H, rows, D]. */
static tappa_status upload_rows_f32(tappa_context *ctx, const tappa_array *a, int64_t first,
                                    int64_t rows, tappa_tensor **out, tappa_error *err)
{
    int64_t h = a->shape[0], n = a->shape[1], d = a->shape[2], shape[3] = { h, rows, d };
    tappa_array f;
    tappa_status st = tappa_array_alloc(&f, TAPPA_F32, 3, shape, err);
    if (st) return st;
    float *dst = f.data;
    for (int64_t i = 0; i < h; i++)
        for (int64_t r = 0; r < rows * d; r++) {
            size_t at = (size_t)((i * n + first) * d + r);
            dst[(size_t)(i * rows * d + r)] = a->dtype == TAPPA_F16
                                                   ? tappa_f16_to_f32(((const uint16_t *)a->data)[at])
                                                   : ((const float *)a->data)[at];
        }
    st = tappa_tensor_from_array(ctx, &f, out, err);
    tappa_array_free(&f);
    return st;
}

static tappa_status load_layers(tappa_context *ctx, const char *path, const tappa_safetensors *trace,
                                trace_layers *t, tappa_error *err)
{
    char name[64];
    int n = 0;
    for (;; n++) {
        snprintf(name, sizeof name, "layer.%d.q", n);
        if (!tappa_safetensors_find(trace, name)) break;
    }
    if (n == 0) return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: no layer.0.q tensor: not a trace", path);
    t->q = calloc((size_t)n, sizeof *t->q);
    t->k = calloc((size_t)n, sizeof *t->k);
    t->v = calloc((size_t)n, sizeof *t->v);
    t->q_host = calloc((size_t)n, sizeof *t->q_host);
    if (!t->q || !t->k || !t->v || !t->q_host)
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    t->count = n;
    const tappa_array *k0 = NULL;
    for (int l = 0; l < n; l++) {
        const tappa_array *a[3];
        static const char *const part[3] = { "q", "k", "v" };
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "layer.%d.%s", l, part[i]);
            a[i] = tappa_safetensors_find(trace, name);
            if (!a[i]) return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: layer %d has no %s tensor", path, l, name);
            if (a[i]->ndim != 3 || a[i]->dtype == TAPPA_I32)
                return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: %s must be a float [H, N, D] tensor", path, name);
        }
        if (!k0) k0 = a[1];
        if (memcmp(a[1]->shape, k0->shape, 3 * sizeof *k0->shape) || memcmp(a[2]->shape, k0->shape, 3 * sizeof *k0->shape) ||
            a[1]->dtype != k0->dtype || a[2]->dtype != k0->dtype)
            return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: layer %d's k and v differ in shape or dtype from layer 0's k", path, l);
        if (a[0]->shape[1] != k0->shape[1] || a[0]->shape[2] != k0->shape[2] || a[0]->shape[0] % k0->shape[0])
            return tappa_fail(err, TAPPA_ERR_FORMAT,
                              "%s: layer %d's q [%lld, %lld, %lld] does not match k [%lld, %lld, %lld] (Hq a multiple of Hkv)",
                              path, l, (long long)a[0]->shape[0], (long long)a[0]->shape[1], (long long)a[0]->shape[2],
                              (long long)k0->shape[0], (long long)k0->shape[1], (long long)k0->shape[2]);
        t->q_host[l] = a[0];
        tappa_status st = upload_rows_f32(ctx, a[0], 0, a[0]->shape[1], &t->q[l], err);
        if (!st) st = tappa_tensor_from_array(ctx, a[1], &t->k[l], err);
        if (!st) st = tappa_tensor_from_array(ctx, a[2], &t->v[l], err);
        if (st) return st;
    }
    return TAPPA_OK;
}

/* Relative error of the window queries' attention on the compressed layer
 * (kc, vc) versus the full one (k, v); both causal, last query on last key. */
static tappa_status fidelity_of(tappa_context *ctx, const tappa_array *q_host, int64_t w,
                                const tappa_tensor *k, const tappa_tensor *v, const tappa_tensor *kc,
                                const tappa_tensor *vc, double *rel, tappa_error *err)
{
    tappa_tensor *qw = NULL, *of = NULL, *oc = NULL;
    int64_t hq = q_host->shape[0], d = q_host->shape[2], os[3] = { hq, w, d };
    size_t count = (size_t)(hq * w * d);
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    tappa_status st = !a || !b ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) st = upload_rows_f32(ctx, q_host, q_host->shape[1] - w, w, &qw, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 3, os, &of, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 3, os, &oc, err);
    if (!st) st = tappa_attention(qw, k, v, true, of, NULL, err);
    if (!st) st = tappa_attention(qw, kc, vc, true, oc, NULL, err);
    if (!st) st = tappa_tensor_download(of, a, count * sizeof *a, err);
    if (!st) st = tappa_tensor_download(oc, b, count * sizeof *b, err);
    if (!st) {
        double diff = 0, norm = 0;
        for (size_t i = 0; i < count; i++) {
            diff += ((double)b[i] - a[i]) * ((double)b[i] - a[i]);
            norm += (double)a[i] * a[i];
        }
        *rel = norm > 0 ? sqrt(diff / norm) : sqrt(diff);
    }
    free(a);
    free(b);
    tappa_tensor_destroy(&qw);
    tappa_tensor_destroy(&of);
    tappa_tensor_destroy(&oc);
    return st;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s && !*end && !isnan(*out);
}

/* A JSON number, or null for NaN (methods without a preference). */
static void add_number(cJSON *o, const char *key, double x)
{
    if (isnan(x)) cJSON_AddNullToObject(o, key);
    else cJSON_AddNumberToObject(o, key, x);
}

int cmd_compress(int argc, char **argv)
{
    static const struct option opts[] = {
        { "method", required_argument, NULL, 'm' }, { "cache-size", required_argument, NULL, 'c' },
        { "window", required_argument, NULL, 'w' }, { "gamma", required_argument, NULL, 'g' },
        { "alpha", required_argument, NULL, 'a' },  { "tau1", required_argument, NULL, '1' },
        { "tau2", required_argument, NULL, '2' },   { "beta", required_argument, NULL, 'b' },
        { "kernel", required_argument, NULL, 'k' }, { "device", required_argument, NULL, 'd' },
        { "output", required_argument, NULL, 'o' }, { "fidelity", no_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    tappa_compress_params p;
    tappa_compress_defaults(&p);
    const char *device = NULL, *out_path = NULL;
    bool json = false, fidelity = false;
    tappa_error err = { 0 };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        unsigned long long u;
        double x;
        switch (c) {
        case 'm':
            if (tappa_method_parse(optarg, &p.method, &err)) return cli_usage("compress", "%s", err.message);
            break;
        case 'c':
        case 'w':
        case 'b':
        case 'k':
            if (!cli_parse_u64(optarg, &u) || u < 1 || u > (1ull << 31))
                return cli_usage("compress", "--%s needs a positive count, got '%s'",
                                 c == 'c' ? "cache-size" : c == 'w' ? "window" : c == 'b' ? "beta" : "kernel", optarg);
            if (c == 'c') p.cache_size = (int64_t)u;
            else if (c == 'w') p.window = (int64_t)u;
            else if (c == 'b') p.pyramid_beta = (int64_t)u;
            else p.kernel = (int64_t)u;
            break;
        case 'g':
        case 'a':
        case '1':
        case '2':
            if (!parse_double(optarg, &x))
                return cli_usage("compress", "--%s needs a number, got '%s'",
                                 c == 'g' ? "gamma" : c == 'a' ? "alpha" : c == '1' ? "tau1" : "tau2", optarg);
            if (c == 'g') p.gamma = x;
            else if (c == 'a') p.alpha = x;
            else if (c == '1') p.tau1 = x;
            else p.tau2 = x;
            break;
        case 'd': device = optarg; break;
        case 'o': out_path = optarg; break;
        case 'f': fidelity = true; break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("compress", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return cli_usage("compress", "needs exactly one TRACE.safetensors");
    const char *path = argv[optind];

    tappa_context *ctx = NULL;
    tappa_safetensors *trace = NULL;
    trace_layers t = { 0 };
    tappa_kv_cache *cache = NULL;
    tappa_compress_layer *report = NULL;
    double *fid = NULL;
    tappa_array *outs = NULL;
    cJSON *root = cJSON_CreateObject();
    tappa_status st = tappa_safetensors_read(path, &trace, &err);
    if (!st) st = cli_context(device, &ctx, &err);
    if (!st) st = load_layers(ctx, path, trace, &t, &err);
    int layers = t.count;
    if (!st) {
        report = calloc((size_t)layers, sizeof *report);
        fid = calloc((size_t)layers, sizeof *fid);
        outs = calloc(3 * (size_t)layers, sizeof *outs);
        if (!report || !fid || !outs) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    }
    if (!st && !json && cli_stderr_tty())
        fprintf(stderr, "tappa compress: %d layers on %s...\n", layers, tappa_context_name(ctx));
    double ms = 0;
    if (!st) {
        double t0 = cli_now_ms();
        st = tappa_compress(&p, layers, (const tappa_tensor *const *)t.q, (const tappa_tensor *const *)t.k,
                            (const tappa_tensor *const *)t.v, NULL, &cache, report, &err);
        ms = cli_now_ms() - t0;
    }
    /* Each layer's compressed K/V and kept positions, for the file and the fidelity check. */
    for (int l = 0; l < layers && !st && (out_path || fidelity); l++) {
        int64_t hkv = tappa_tensor_dim(t.k[l], 0), d = tappa_tensor_dim(t.k[l], 2);
        int64_t len = tappa_kv_cache_length(cache, l), b = report[l].budget;
        int64_t ks[3] = { hkv, len, d }, ps[2] = { hkv, b };
        tappa_tensor *kc = NULL, *vc = NULL;
        st = tappa_tensor_create(ctx, tappa_tensor_dtype(t.k[l]), 3, ks, &kc, &err);
        if (!st) st = tappa_tensor_create(ctx, tappa_tensor_dtype(t.k[l]), 3, ks, &vc, &err);
        if (!st) st = tappa_kv_cache_read_layer(cache, l, kc, vc, &err);
        if (!st && fidelity)
            st = fidelity_of(ctx, t.q_host[l], report[l].window, t.k[l], t.v[l], kc, vc, &fid[l], &err);
        if (!st && out_path) st = tappa_tensor_to_array(kc, &outs[3 * l], &err);
        if (!st && out_path) st = tappa_tensor_to_array(vc, &outs[3 * l + 1], &err);
        if (!st && out_path) st = tappa_array_alloc(&outs[3 * l + 2], TAPPA_I32, 2, ps, &err);
        if (!st && out_path && b) memcpy(outs[3 * l + 2].data, report[l].keep, (size_t)(hkv * b) * sizeof(int32_t));
        tappa_tensor_destroy(&kc);
        tappa_tensor_destroy(&vc);
    }
    if (!st && out_path) {
        char (*names)[64] = calloc(3 * (size_t)layers, sizeof *names);
        const char **name_ptrs = calloc(3 * (size_t)layers, sizeof *name_ptrs);
        const tappa_array **arrays = calloc(3 * (size_t)layers, sizeof *arrays);
        if (!names || !name_ptrs || !arrays) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        for (int i = 0; !st && i < 3 * layers; i++) {
            static const char *const part[3] = { "k", "v", "keep" };
            snprintf(names[i], sizeof names[i], "layer.%d.%s", i / 3, part[i % 3]);
            name_ptrs[i] = names[i];
            arrays[i] = &outs[i];
        }
        if (!st) st = tappa_safetensors_write(out_path, 3 * (size_t)layers, name_ptrs, arrays, &err);
        free(names);
        free(name_ptrs);
        free(arrays);
    }
    if (!st) {
        int64_t hkv = tappa_tensor_dim(t.k[0], 0), n = tappa_tensor_dim(t.k[0], 1), d = tappa_tensor_dim(t.k[0], 2);
        double row = 2.0 * (double)hkv * (double)d * (double)tappa_dtype_bytes(tappa_tensor_dtype(t.k[0]));
        double before = 0, after = 0;
        cJSON_AddStringToObject(root, "method", tappa_method_name(p.method));
        cJSON_AddNumberToObject(root, "seq_len", (double)n);
        cJSON_AddNumberToObject(root, "cache_size", (double)p.cache_size);
        cJSON_AddNumberToObject(root, "window", (double)p.window);
        cJSON_AddStringToObject(root, "device", tappa_context_name(ctx));
        cJSON *arr = cJSON_AddArrayToObject(root, "layers");
        if (!json) {
            printf("tappa compress: %s, %d layers, N %lld, C %lld, W %lld, on %s\n", tappa_method_name(p.method),
                   layers, (long long)n, (long long)p.cache_size, (long long)p.window, tappa_context_name(ctx));
            printf("layer    q-sim     pref   budget   KV before    KV after%s\n", fidelity ? "   rel err" : "");
        }
        for (int l = 0; l < layers; l++) {
            tappa_compress_layer *r = &report[l];
            double b0 = row * (double)n, b1 = row * (double)(r->budget + r->window);
            before += b0;
            after += b1;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "qsim", r->qsim);
            add_number(o, "pref", r->pref);
            cJSON_AddNumberToObject(o, "budget", (double)r->budget);
            cJSON_AddNumberToObject(o, "bytes_before", b0);
            cJSON_AddNumberToObject(o, "bytes_after", b1);
            if (fidelity) cJSON_AddNumberToObject(o, "fidelity_rel_error", fid[l]);
            cJSON_AddItemToArray(arr, o);
            if (!json) {
                char pref[16] = "       -";
                if (!isnan(r->pref)) snprintf(pref, sizeof pref, "%8.4f", r->pref);
                printf("%5d  %7.4f %s %8lld  %9.2f MB %9.2f MB", l, r->qsim, pref, (long long)r->budget,
                       b0 / 1e6, b1 / 1e6);
                if (fidelity) printf("  %.2e", fid[l]);
                printf("\n");
            }
        }
        cJSON_AddNumberToObject(root, "total_bytes_before", before);
        cJSON_AddNumberToObject(root, "total_bytes_after", after);
        cJSON_AddNumberToObject(root, "ms", ms);
        if (json) {
            char *text = cJSON_Print(root);
            puts(text);
            free(text);
        } else {
            printf("total: %.2f MB -> %.2f MB (%.1f%% kept) in %.1f ms%s%s\n", before / 1e6, after / 1e6,
                   before > 0 ? 100.0 * after / before : 100.0, ms, out_path ? "; wrote " : "",
                   out_path ? out_path : "");
        }
    }
    cJSON_Delete(root);
    for (int i = 0; outs && i < 3 * layers; i++) tappa_array_free(&outs[i]);
    free(outs);
    free(fid);
    tappa_compress_report_free(report, layers);
    free(report);
    tappa_kv_cache_destroy(&cache);
    free_layers(&t);
    tappa_safetensors_free(&trace);
    size_t validation = ctx ? cli_report_validation("compress", ctx) : 0;
    tappa_context_destroy(&ctx);
    if (st) return cli_error("compress", &err);
    return validation ? EXIT_FAIL : EXIT_OK;
}
