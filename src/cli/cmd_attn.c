/* tappa attn: one attention call from .npy files, for users' own checks. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char help[] =
    "usage: tappa attn --q Q.npy --k K.npy --v V.npy [--causal] [--device D] -o O.npy\n"
    "                  [--lse LSE.npy] [--json]\n"
    "Scaled dot-product attention with grouped-query heads on one device.\n"
    "  Q [Hq, Nq, D] f32 (f16 is widened), K and V [Hkv, Nk, D] f32 or f16, Nq <= Nk,\n"
    "  Hq a multiple of Hkv, D a multiple of 16 up to 256. With --causal the last query\n"
    "  is aligned with the last key (query i sees keys 0..Nk-Nq+i), so Nq = 1 is a decode\n"
    "  step and Nq = Nk a prefill. Writes O [Hq, Nq, D] f32 and, with --lse, each row's\n"
    "  log-sum-exp [Hq, Nq] f32.\n"
    "  --device D   index, name substring, or 'cpu' (the float64 reference)\n"
    "  --json       print what ran as JSON\n";

/* Read a .npy into a tensor; f16 queries are widened to f32. */
static tappa_status load(tappa_context *ctx, const char *path, bool widen, tappa_tensor **out,
                         tappa_error *err)
{
    tappa_array a;
    tappa_status st = tappa_npy_read(path, &a, err);
    if (st) return st;
    if (a.dtype == TAPPA_I32 || a.ndim != 3) {
        tappa_array_free(&a);
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: expected a 3-D f32 or f16 array [H, N, D]", path);
    }
    if (widen && a.dtype == TAPPA_F16) {
        tappa_array w;
        st = tappa_array_alloc(&w, TAPPA_F32, a.ndim, a.shape, err);
        if (!st)
            for (size_t i = 0; i < tappa_array_numel(&a); i++)
                ((float *)w.data)[i] = tappa_f16_to_f32(((uint16_t *)a.data)[i]);
        tappa_array_free(&a);
        if (st) return st;
        a = w;
    }
    st = tappa_tensor_from_array(ctx, &a, out, err);
    tappa_array_free(&a);
    return st;
}

static tappa_status save(const tappa_tensor *t, const char *path, tappa_error *err)
{
    tappa_array a;
    tappa_status st = tappa_tensor_to_array(t, &a, err);
    if (st) return st;
    st = tappa_npy_write(path, &a, err);
    tappa_array_free(&a);
    return st;
}

int cmd_attn(int argc, char **argv)
{
    static const struct option opts[] = {
        { "q", required_argument, NULL, 'q' },      { "k", required_argument, NULL, 'k' },
        { "v", required_argument, NULL, 'v' },      { "causal", no_argument, NULL, 'c' },
        { "device", required_argument, NULL, 'd' }, { "lse", required_argument, NULL, 'l' },
        { "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *qp = NULL, *kp = NULL, *vp = NULL, *op = NULL, *lp = NULL, *device = NULL;
    bool causal = false, json = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'q': qp = optarg; break;
        case 'k': kp = optarg; break;
        case 'v': vp = optarg; break;
        case 'o': op = optarg; break;
        case 'l': lp = optarg; break;
        case 'c': causal = true; break;
        case 'd': device = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("attn", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("attn", "unexpected argument '%s'", argv[optind]);
    if (!qp || !kp || !vp || !op) return cli_usage("attn", "needs --q, --k, --v and -o");

    tappa_error err = { 0 };
    tappa_context *ctx;
    if (cli_context(device, &ctx, &err)) return cli_error("attn", &err);
    tappa_tensor *q = NULL, *k = NULL, *v = NULL, *o = NULL, *lse = NULL;
    tappa_status st = load(ctx, qp, true, &q, &err);
    if (!st) st = load(ctx, kp, false, &k, &err);
    if (!st) st = load(ctx, vp, false, &v, &err);
    int64_t os[3], ls[2];
    if (!st) {
        for (int i = 0; i < 3; i++) os[i] = tappa_tensor_dim(q, i);
        ls[0] = os[0];
        ls[1] = os[1];
        st = tappa_tensor_create(ctx, TAPPA_F32, 3, os, &o, &err);
    }
    if (!st && lp) st = tappa_tensor_create(ctx, TAPPA_F32, 2, ls, &lse, &err);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!st) st = tappa_attention(q, k, v, causal, o, lse, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!st) st = save(o, op, &err);
    if (!st && lp) {
        st = save(lse, lp, &err);
        if (st) remove(op); /* all outputs or none */
    }
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (!st && json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "device", tappa_context_name(ctx));
        cJSON_AddItemToObject(root, "out_shape", cJSON_CreateIntArray((const int[]){ (int)os[0], (int)os[1], (int)os[2] }, 3));
        cJSON_AddStringToObject(root, "out", op);
        if (lp) cJSON_AddStringToObject(root, "lse", lp);
        cJSON_AddBoolToObject(root, "causal", causal);
        cJSON_AddNumberToObject(root, "ms", ms);
        char *text = cJSON_Print(root);
        puts(text);
        free(text);
        cJSON_Delete(root);
    } else if (!st) {
        printf("tappa attn: O [%lld, %lld, %lld] f32 -> %s on %s (%.2f ms)\n", (long long)os[0],
               (long long)os[1], (long long)os[2], op, tappa_context_name(ctx), ms);
    }
    size_t validation = cli_report_validation("attn", ctx);
    tappa_tensor *all[] = { q, k, v, o, lse };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tappa_tensor_destroy(&all[i]);
    tappa_context_destroy(&ctx);
    if (st) return cli_error("attn", &err);
    return validation ? EXIT_FAIL : EXIT_OK;
}
