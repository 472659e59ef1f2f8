/* tappa-peer: tappa-bench against its CUDA peer (bench/peer.py) on the same
 * GPU: one table with tappa / peer speed ratios per op and shape, each side's
 * rate against its own copy bandwidth, a JSON of the same, and two PNGs:
 * decode bandwidth against context length and prefill TFLOP/s against prompt
 * length, for tappa (each path given) and the peer. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plot.h"

static const char usage[] =
    "usage: tappa-peer --tappa BENCH.json... [--portable BENCH.json...] --peer PEER.json\n"
    "                  [--json OUT.json] [--plots DIR]\n"
    "Compares tappa-bench results (e.g. --op decode, --op prefill, --op qsim;\n"
    "repeat --tappa, up to 4 files) with bench/peer.py's on the same GPU.\n"
    "--portable: runs with TAPPA_COOPMAT=0 (the portable paths), up to 4 files.\n"
    "--plots DIR writes DIR/decode-bandwidth.png and DIR/prefill-tflops.png (each\n"
    "where its op has rows).\n";

#define MAX_FILES 4
#define N_CTX 8
#define N_PROMPT 5
static const double contexts[N_CTX] = { 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072 };
static const double prompts[N_PROMPT] = { 1024, 2048, 4096, 8192, 16384 };

#define MAX_JSON_BYTES (64u << 20)

static cJSON *read_json(const char *path)
{
    tappa_error err = { 0 };
    size_t len;
    char *text = cli_read_text(path, MAX_JSON_BYTES, &len, &err);
    if (!text) {
        fprintf(stderr, "tappa-peer: %s\n", err.message);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j || !cJSON_IsArray(cJSON_GetObjectItem(j, "ops"))) {
        fprintf(stderr, "tappa-peer: %s is not a tappa-bench or peer.py JSON (no \"ops\" array)\n", path);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The tappa-bench entry of op/dtype/case among the files, or NULL. */
static const cJSON *find_tappa(cJSON *const *files, int n, const char *op, const char *dtype, const char *text)
{
    for (int f = 0; f < n; f++) {
        const cJSON *o;
        cJSON_ArrayForEach(o, cJSON_GetObjectItem(files[f], "ops"))
            if (!strcmp(str(o, "op"), op) && !strcmp(str(o, "dtype"), dtype) && !strcmp(str(o, "case"), text)) return o;
    }
    return NULL;
}

static const cJSON *find_peer(const cJSON *peer, const char *op, const char *text)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(peer, "ops"))
        if (!strcmp(str(o, "op"), op) && !strcmp(str(o, "case"), text)) return o;
    return NULL;
}

/* The best copy bandwidth among a side's files. */
static double copy_of(cJSON *const *files, int n)
{
    double best = NAN;
    for (int f = 0; f < n; f++) {
        double c = num(files[f], "copy_gbps");
        if (isfinite(c) && !(c <= best)) best = c;
    }
    return best;
}

typedef struct row {
    char kind[8];   /* decode, prefill, qsim */
    char text[96];
    double x;       /* context or prompt length */
    double tappa_us, portable_us, peer_us;
    const char *tappa_path;
    double tappa_rate, portable_rate, peer_rate; /* GB/s or TFLOP/s */
} row;

int main(int argc, char **argv)
{
    const char *tappa_paths[MAX_FILES], *portable_paths[MAX_FILES], *peer_path = NULL, *json_path = NULL, *plots = NULL;
    int n_tappa = 0, n_portable = 0;
    static const struct option opts[] = { { "tappa", required_argument, 0, 't' },
                                          { "portable", required_argument, 0, 'p' },
                                          { "peer", required_argument, 0, 'r' },
                                          { "json", required_argument, 0, 'j' },
                                          { "plots", required_argument, 0, 'o' },
                                          { "help", no_argument, 0, 'h' },
                                          { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 't' && n_tappa < MAX_FILES) tappa_paths[n_tappa++] = optarg;
        else if (c == 'p' && n_portable < MAX_FILES) portable_paths[n_portable++] = optarg;
        else if (c == 'r') peer_path = optarg;
        else if (c == 'j') json_path = optarg;
        else if (c == 'o') plots = optarg;
        else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(c == 't' || c == 'p' ? "tappa-peer: at most 4 files of each side\n" : usage, stderr);
            return 2;
        }
    }
    if (!n_tappa || !peer_path || optind < argc) {
        fputs(usage, stderr);
        return 2;
    }
    cJSON *tappa[MAX_FILES] = { 0 }, *portable[MAX_FILES] = { 0 }, *peer = NULL;
    int rc = 1;
    for (int i = 0; i < n_tappa; i++)
        if (!(tappa[i] = read_json(tappa_paths[i]))) goto done;
    for (int i = 0; i < n_portable; i++)
        if (!(portable[i] = read_json(portable_paths[i]))) goto done;
    if (!(peer = read_json(peer_path))) goto done;

    double copy_t = copy_of(tappa, n_tappa), copy_p = num(peer, "copy_gbps");
    row rows[N_CTX + N_PROMPT + 1];
    size_t n_rows = 0;
    for (int k = 0; k < N_CTX + N_PROMPT + 1; k++) {
        row *r = &rows[n_rows];
        memset(r, 0, sizeof *r);
        const char *op, *dtype, *peer_op;
        if (k < N_CTX) {
            snprintf(r->kind, sizeof r->kind, "decode");
            r->x = contexts[k];
            snprintf(r->text, sizeof r->text, "decode hq=32 hkv=8 ctx=%.0f d=128", r->x);
            op = "attention", dtype = "f16", peer_op = "decode";
        } else if (k < N_CTX + N_PROMPT) {
            snprintf(r->kind, sizeof r->kind, "prefill");
            r->x = prompts[k - N_CTX];
            snprintf(r->text, sizeof r->text, "prefill causal hq=32 hkv=8 n=%.0f d=128", r->x);
            op = "attention", dtype = "f16", peer_op = "prefill";
        } else {
            snprintf(r->kind, sizeof r->kind, "qsim");
            snprintf(r->text, sizeof r->text, "heads=1024 t=1024 d=128");
            op = "qsim", dtype = "f32", peer_op = "qsim";
        }
        const cJSON *t = find_tappa(tappa, n_tappa, op, dtype, r->text);
        const cJSON *u = find_tappa(portable, n_portable, op, dtype, r->text);
        const cJSON *p = find_peer(peer, peer_op, r->text);
        if (!t || !p) continue;
        bool flops = !strcmp(r->kind, "prefill");
        const char *rate = flops ? "tflops" : "gbps";
        r->tappa_us = num(t, "median_us");
        r->tappa_path = str(t, "path")[0] ? str(t, "path") : "?";
        r->tappa_rate = num(t, rate);
        r->portable_us = u ? num(u, "median_us") : NAN;
        r->portable_rate = u ? num(u, rate) : NAN;
        r->peer_us = num(p, "us");
        r->peer_rate = num(p, rate);
        n_rows++;
    }
    if (!n_rows) {
        fprintf(stderr, "tappa-peer: no shape is in both the tappa-bench and the peer results\n");
        goto done;
    }

    printf("tappa on %s against %s\n", str(tappa[0], "device"), str(peer, "peer"));
    printf("copy bandwidth: tappa (Vulkan) %.1f GB/s, peer (PyTorch) %.1f GB/s\n\n", copy_t, copy_p);
    printf("%-7s %-40s %10s %-8s %11s %10s %11s %10s %10s\n", "op", "case", "tappa us", "path", "portable us",
           "peer us", "tappa/peer", "tappa rate", "peer rate");
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "rows");
    cJSON_AddStringToObject(root, "device", str(tappa[0], "device"));
    cJSON_AddStringToObject(root, "peer", str(peer, "peer"));
    cJSON_AddNumberToObject(root, "tappa_copy_gbps", copy_t);
    cJSON_AddNumberToObject(root, "peer_copy_gbps", copy_p);
    for (size_t i = 0; i < n_rows; i++) {
        const row *r = &rows[i];
        bool flops = !strcmp(r->kind, "prefill");
        char tr[32], pr[32];
        if (flops) {
            snprintf(tr, sizeof tr, "%.1f TF/s", r->tappa_rate);
            snprintf(pr, sizeof pr, "%.1f TF/s", r->peer_rate);
        } else {
            snprintf(tr, sizeof tr, "%.0f%% copy", 100 * r->tappa_rate / copy_t);
            snprintf(pr, sizeof pr, "%.0f%% copy", 100 * r->peer_rate / copy_p);
        }
        /* > 1: tappa is faster. */
        double speed = r->peer_us / r->tappa_us;
        char portable_us[32] = "-";
        if (isfinite(r->portable_us)) snprintf(portable_us, sizeof portable_us, "%.1f", r->portable_us);
        printf("%-7s %-40s %10.1f %-8s %11s %10.1f %10.2fx %10s %10s\n", r->kind, r->text, r->tappa_us, r->tappa_path,
               portable_us, r->peer_us, speed, tr, pr);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "op", r->kind);
        cJSON_AddStringToObject(o, "case", r->text);
        cJSON_AddNumberToObject(o, "tappa_us", r->tappa_us);
        cJSON_AddStringToObject(o, "tappa_path", r->tappa_path);
        if (isfinite(r->portable_us)) cJSON_AddNumberToObject(o, "portable_us", r->portable_us);
        cJSON_AddNumberToObject(o, "peer_us", r->peer_us);
        cJSON_AddNumberToObject(o, "peer_over_tappa_time", speed);
        cJSON_AddNumberToObject(o, flops ? "tappa_tflops" : "tappa_gbps", r->tappa_rate);
        cJSON_AddNumberToObject(o, flops ? "peer_tflops" : "peer_gbps", r->peer_rate);
        if (!flops) {
            cJSON_AddNumberToObject(o, "tappa_of_copy", r->tappa_rate / copy_t);
            cJSON_AddNumberToObject(o, "peer_of_copy", r->peer_rate / copy_p);
        }
        cJSON_AddItemToArray(arr, o);
    }
    rc = 0;
    if (json_path) {
        char *text = cJSON_Print(root);
        tappa_error err = { 0 };
        if (!text || cli_write_json(json_path, text, &err)) {
            fprintf(stderr, "tappa-peer: %s\n", text ? err.message : "out of host memory");
            rc = 1;
        }
        free(text);
    }
    cJSON_Delete(root);
    if (plots && !rc) {
        /* Series over the fixed x grids; shapes a side lacks are NaN (gaps). */
        double dec[4][N_CTX], pre[3][N_PROMPT];
        for (int s = 0; s < 4; s++)
            for (int i = 0; i < N_CTX; i++) dec[s][i] = NAN;
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < N_PROMPT; i++) pre[s][i] = NAN;
        for (size_t i = 0; i < n_rows; i++) {
            const row *r = &rows[i];
            for (int k = 0; k < N_CTX && !strcmp(r->kind, "decode"); k++)
                if (contexts[k] == r->x) {
                    dec[0][k] = r->tappa_rate;
                    dec[1][k] = r->portable_rate;
                    dec[2][k] = r->peer_rate;
                }
            for (int k = 0; k < N_PROMPT && !strcmp(r->kind, "prefill"); k++)
                if (prompts[k] == r->x) {
                    pre[0][k] = r->tappa_rate;
                    pre[1][k] = r->portable_rate;
                    pre[2][k] = r->peer_rate;
                }
        }
        for (int i = 0; i < N_CTX; i++) dec[3][i] = copy_t;
        /* The portable series only where a portable run was given. */
        plot_series ds[4], ps[3];
        size_t nd = 0, np = 0;
        ds[nd++] = (plot_series){ "tappa", dec[0], false };
        ps[np++] = (plot_series){ "tappa", pre[0], false };
        if (n_portable) {
            ds[nd++] = (plot_series){ "tappa, portable path", dec[1], false };
            ps[np++] = (plot_series){ "tappa, portable path", pre[1], false };
        }
        ds[nd++] = (plot_series){ "PyTorch SDPA", dec[2], false };
        ps[np++] = (plot_series){ "PyTorch SDPA", pre[2], false };
        ds[nd++] = (plot_series){ "Vulkan copy", dec[3], true };
        /* A plot only where its op has rows (a decode-only run has no prefill
         * points); on failure nothing this run wrote is left behind. */
        bool has_dec = false, has_pre = false;
        for (size_t i = 0; i < n_rows; i++) {
            has_dec |= !strcmp(rows[i].kind, "decode");
            has_pre |= !strcmp(rows[i].kind, "prefill");
        }
        char dec_path[4096], pre_path[4096], title[256];
        tappa_error err = { 0 };
        tappa_status st = TAPPA_OK;
        snprintf(dec_path, sizeof dec_path, "%s/decode-bandwidth.png", plots);
        snprintf(pre_path, sizeof pre_path, "%s/prefill-tflops.png", plots);
        if (has_dec) {
            snprintf(title, sizeof title, "f16 decode, Hq 32 / Hkv 8 / D 128, %s", str(tappa[0], "device"));
            st = plot_lines_png(dec_path, title, "context (tokens)", "KV-cache read, GB/s", contexts, N_CTX, ds, nd,
                                &err);
        }
        if (!st && has_pre) {
            snprintf(title, sizeof title, "f16 causal prefill, Hq 32 / Hkv 8 / D 128, %s", str(tappa[0], "device"));
            st = plot_lines_png(pre_path, title, "prompt (tokens)", "TFLOP/s", prompts, N_PROMPT, ps, np, &err);
        }
        plot_release();
        if (st) {
            fprintf(stderr, "tappa-peer: %s\n", err.message);
            if (has_dec) remove(dec_path);
            if (json_path) remove(json_path);
            rc = 1;
        }
    }
done:
    for (int i = 0; i < n_tappa; i++) cJSON_Delete(tappa[i]);
    for (int i = 0; i < n_portable; i++) cJSON_Delete(portable[i]);
    cJSON_Delete(peer);
    return rc;
}
