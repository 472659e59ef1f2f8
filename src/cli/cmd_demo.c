/* tappa demo: the main job until the model runtime lands. A generated prompt
 * whose layers differ in how steady their queries are; on the best device it
 * applies RoPE, measures TAPPA q-similarity of the window queries, and scores
 * every key by window attention (mean + gamma * variance), then shows the
 * budget share TAPPA would give each layer. Every device result is checked
 * against the CPU reference before it is shown. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rng.h"

static const char help[] =
    "usage: tappa demo [--device D] [--seed S] [--json]\n"
    "Generate a small prompt (4 layers, Hq 8, Hkv 2, N 512, D 64, window 32) whose\n"
    "layers range from steady to erratic queries, and on the best device: apply RoPE,\n"
    "compute TAPPA q-similarity of the window queries, and score keys by window\n"
    "attention (mean + 200 * variance). Prints per layer q-similarity, the TAPPA\n"
    "preference 1 - qsim and the share of the KV budget it earns, and the keys the\n"
    "first head would keep; device results are checked against the CPU reference.\n"
    "  --device D   index, name substring, or 'cpu'\n"
    "  --seed S     reproduce the generated prompt\n"
    "  --json       machine-readable output\n";

enum { LAYERS = 4, HQ = 8, HKV = 2, N = 512, D = 64, W = 32, TOP = 8 };
#define GAMMA 200.0

typedef struct layer_result {
    double qsim;            /* mean over heads of cosine q-similarity, window queries */
    double qsim_ref;
    double score_err;       /* max relative error of scores vs the CPU reference */
    int top[TOP];           /* head 0's highest-scoring non-window keys */
} layer_result;

/* Queries of layer l: a steady direction per head plus noise that grows with
 * depth, so q-similarity falls from layer 0 to the last. */
static void generate(rng *r, int layer, double *q, double *k)
{
    double noise = 0.15 + 0.9 * layer;
    for (int h = 0; h < HQ; h++) {
        double dir[D];
        for (int c = 0; c < D; c++) dir[c] = rng_normal(r);
        for (int t = 0; t < N; t++)
            for (int c = 0; c < D; c++) q[((size_t)h * N + t) * D + c] = dir[c] + noise * rng_normal(r);
    }
    for (size_t i = 0; i < (size_t)HKV * N * D; i++) k[i] = rng_normal(r);
}

static tappa_status upload(tappa_context *ctx, const double *v, int ndim, const int64_t *shape,
                           tappa_tensor **t, tappa_error *err)
{
    tappa_array a;
    tappa_status st = tappa_array_alloc(&a, TAPPA_F32, ndim, shape, err);
    if (st) return st;
    for (size_t i = 0; i < tappa_array_numel(&a); i++) ((float *)a.data)[i] = (float)v[i];
    st = tappa_tensor_from_array(ctx, &a, t, err);
    tappa_array_free(&a);
    return st;
}

static tappa_status download(const tappa_tensor *t, double *v, tappa_error *err)
{
    tappa_array a;
    tappa_status st = tappa_tensor_to_array(t, &a, err);
    if (st) return st;
    for (size_t i = 0; i < tappa_array_numel(&a); i++) v[i] = ((float *)a.data)[i];
    tappa_array_free(&a);
    return TAPPA_OK;
}

/* One layer on the device, and the same on the CPU reference for the check. */
static tappa_status run_layer(tappa_context *ctx, rng *r, int layer, layer_result *out,
                              tappa_error *err)
{
    size_t nq = (size_t)HQ * N * D, nk = (size_t)HKV * N * D;
    double *q = malloc(nq * sizeof *q), *k = malloc(nk * sizeof *k);
    double *qr = malloc(nq * sizeof *qr), *kr = malloc(nk * sizeof *kr);
    double *qw = malloc((size_t)HQ * W * D * sizeof *qw);
    double *mean = malloc((size_t)HQ * N * sizeof *mean), *var = malloc((size_t)HQ * N * sizeof *var);
    double *rmean = malloc((size_t)HQ * N * sizeof *rmean), *rvar = malloc((size_t)HQ * N * sizeof *rvar);
    double qsim[HQ], rqsim[HQ];
    tappa_tensor *tq = NULL, *tk = NULL, *tqw = NULL, *tsim = NULL, *tm = NULL, *tv = NULL;
    tappa_status st = TAPPA_OK;
    if (!q || !k || !qr || !kr || !qw || !mean || !var || !rmean || !rvar)
        st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "demo: out of host memory");
    const tappa_rope_params rope = { TAPPA_ROPE_HALF, 10000.0, 0, NULL, 1 };
    int64_t qs[3] = { HQ, N, D }, ks[3] = { HKV, N, D }, ws[3] = { HQ, W, D }, hs = HQ, os[2] = { HQ, N };
    if (!st) {
        generate(r, layer, q, k);
        st = upload(ctx, q, 3, qs, &tq, err);
    }
    if (!st) st = upload(ctx, k, 3, ks, &tk, err);
    if (!st) st = tappa_rope(tq, tq, &rope, err);
    if (!st) st = tappa_rope(tk, tk, &rope, err);
    /* The window queries, post-RoPE, for q-similarity (SPEC.md: KV compression). */
    if (!st) st = download(tq, qr, err);
    if (!st) {
        for (int h = 0; h < HQ; h++)
            memcpy(qw + (size_t)h * W * D, qr + ((size_t)h * N + N - W) * D, (size_t)W * D * sizeof *qw);
        st = upload(ctx, qw, 3, ws, &tqw, err);
    }
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 1, &hs, &tsim, err);
    if (!st) st = tappa_qsim(tqw, tsim, TAPPA_QSIM_COSINE, err);
    if (!st) st = download(tsim, qsim, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, os, &tm, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, os, &tv, err);
    if (!st) st = tappa_window_stats(tq, tk, W, NULL, tm, tv, NULL, NULL, err);
    if (!st) st = download(tm, mean, err);
    if (!st) st = download(tv, var, err);
    if (!st) {
        /* The reference, from the same float32-rounded inputs. */
        for (size_t i = 0; i < nq; i++) q[i] = (float)q[i];
        for (size_t i = 0; i < nk; i++) k[i] = (float)k[i];
        tappa_ref_rope(q, qr, HQ, N, D, &rope);
        tappa_ref_rope(k, kr, HKV, N, D, &rope);
        for (int h = 0; h < HQ; h++)
            memcpy(qw + (size_t)h * W * D, qr + ((size_t)h * N + N - W) * D, (size_t)W * D * sizeof *qw);
        tappa_ref_qsim(qw, rqsim, HQ, W, D, TAPPA_QSIM_COSINE, 1.0);
        tappa_ref_window_stats(qr, kr, rmean, rvar, NULL, NULL, HQ, HKV, N, D, W);
        out->qsim = out->qsim_ref = 0;
        for (int h = 0; h < HQ; h++) {
            out->qsim += qsim[h] / HQ;
            out->qsim_ref += rqsim[h] / HQ;
        }
        double max_score = 0, max_diff = 0;
        for (size_t i = 0; i < (size_t)HQ * N; i++) {
            double s = mean[i] + GAMMA * var[i], rs = rmean[i] + GAMMA * rvar[i];
            max_score = fmax(max_score, fabs(rs));
            max_diff = fmax(max_diff, fabs(s - rs));
            if (isnan(s)) max_diff = NAN;
        }
        out->score_err = max_diff / max_score;
        /* Head 0's top non-window keys by score (ties: lower position). */
        bool taken[N] = { false };
        for (int t = 0; t < TOP; t++) {
            int best = -1;
            for (int j = 0; j < N - W; j++)
                if (!taken[j] && (best < 0 || mean[j] + GAMMA * var[j] > mean[best] + GAMMA * var[best]))
                    best = j;
            taken[best] = true;
            out->top[t] = best;
        }
    }
    tappa_tensor_destroy(&tq);
    tappa_tensor_destroy(&tk);
    tappa_tensor_destroy(&tqw);
    tappa_tensor_destroy(&tsim);
    tappa_tensor_destroy(&tm);
    tappa_tensor_destroy(&tv);
    free(q); free(k); free(qr); free(kr); free(qw);
    free(mean); free(var); free(rmean); free(rvar);
    return st;
}

int cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        { "device", required_argument, NULL, 'd' },
        { "seed", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *device = NULL;
    bool json = false;
    unsigned long long seed = rng_fresh_seed();
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 's':
            if (!cli_parse_u64(optarg, &seed)) return cli_usage("demo", "--seed needs a non-negative integer, got '%s'", optarg);
            break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("demo", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("demo", "unexpected argument '%s'", argv[optind]);

    tappa_error err = { 0 };
    tappa_context *ctx;
    if (cli_context(device, &ctx, &err)) return cli_error("demo", &err);
    rng r;
    rng_seed(&r, seed);
    layer_result layers[LAYERS];
    double pref_sum = 0, worst_qsim = 0, worst_score = 0;
    for (int l = 0; l < LAYERS; l++) {
        if (run_layer(ctx, &r, l, &layers[l], &err)) {
            tappa_context_destroy(&ctx);
            return cli_error("demo", &err);
        }
        pref_sum += 1 - layers[l].qsim;
        worst_qsim = fmax(worst_qsim, fabs(layers[l].qsim - layers[l].qsim_ref));
        worst_score = isnan(layers[l].score_err) ? NAN : fmax(worst_score, layers[l].score_err);
    }
    bool ok = worst_qsim <= 1e-5 && worst_score <= 1e-4; /* SPEC.md tolerances; NaN fails */
    size_t validation = cli_report_validation("demo", ctx);

    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "device", tappa_context_name(ctx));
        cJSON_AddNumberToObject(root, "seed", (double)seed);
        cJSON *arr = cJSON_AddArrayToObject(root, "layers");
        for (int l = 0; l < LAYERS; l++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "qsim", layers[l].qsim);
            cJSON_AddNumberToObject(o, "pref", 1 - layers[l].qsim);
            cJSON_AddNumberToObject(o, "budget_share", (1 - layers[l].qsim) / pref_sum);
            cJSON_AddItemToObject(o, "top_keys_head0", cJSON_CreateIntArray(layers[l].top, TOP));
            cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddNumberToObject(root, "qsim_error_vs_reference", worst_qsim);
        if (isnan(worst_score)) cJSON_AddNullToObject(root, "score_error_vs_reference");
        else cJSON_AddNumberToObject(root, "score_error_vs_reference", worst_score);
        cJSON_AddBoolToObject(root, "matches_reference", ok);
        char *s = cJSON_Print(root);
        puts(s);
        free(s);
        cJSON_Delete(root);
    } else {
        printf("tappa demo on %s (seed %llu)\n", tappa_context_name(ctx), seed);
        printf("generated prompt: %d layers, Hq %d, Hkv %d, N %d, D %d, window %d; queries steadier in early layers\n\n",
               LAYERS, HQ, HKV, N, D, W);
        printf("layer  q-sim   pref   KV budget share              head 0 keeps first (mean + %g var)\n", GAMMA);
        for (int l = 0; l < LAYERS; l++) {
            double pref = 1 - layers[l].qsim;
            int bar = (int)lround(20 * pref / pref_sum); /* 20 marks = the whole budget */
            printf("%5d  %5.3f  %5.3f  %5.1f%% ", l, layers[l].qsim, pref, 100 * pref / pref_sum);
            for (int b = 0; b < 20; b++) fputc(b < bar ? '#' : ' ', stdout);
            for (int t = 0; t < TOP; t++) printf(" %d", layers[l].top[t]);
            printf("\n");
        }
        printf("\nLower q-similarity -> less predictable attention -> more KV budget (TAPPA).\n");
        printf("checked against the CPU reference: q-sim error %.1e, score error %.1e: %s\n", worst_qsim,
               worst_score, ok ? "ok" : "MISMATCH");
    }
    tappa_context_destroy(&ctx);
    return ok && !validation ? EXIT_OK : EXIT_FAIL;
}
