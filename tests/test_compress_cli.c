/* `tappa compress` end to end: a three-layer trace (f16 K/V) compressed with
 * every method on a device (argv[2]); the JSON's budgets, q-similarity and
 * preferences checked against the float64 reference pipeline, the written
 * K/V rows checked against the trace at the kept positions, the kept set
 * checked to be a top-k of the reference scores, fidelity 0 for full; bad
 * input exits 1 or 2 with one line and leaves no file.
 * usage: test_compress_cli TAPPA DEVICE */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli_run.h"
#include "rng.h"
#include "tappa/tappa.h"

enum { L = 3, HQ = 4, HKV = 2, N = 300, D = 64, C = 64, W = 16, M = N - W };
static char dir[] = "/tmp/tappa-compress-XXXXXX";
static double q[L][HQ * N * D], k[L][HKV * N * D], v[L][HKV * N * D];

static double num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* A trace whose layers differ in how steady their queries are (layer l's
 * noise grows with l), so q-similarity and budgets differ across layers. */
static void write_trace(rng *r, const char *path, tappa_array arrays[L][3])
{
    tappa_error err;
    const char *names[3 * L];
    const tappa_array *ptrs[3 * L];
    static char name_buf[3 * L][32];
    for (int l = 0; l < L; l++) {
        int64_t qs[3] = { HQ, N, D }, ks[3] = { HKV, N, D };
        CHECK_INT_EQ(tappa_array_alloc(&arrays[l][0], TAPPA_F32, 3, qs, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_array_alloc(&arrays[l][1], TAPPA_F16, 3, ks, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_array_alloc(&arrays[l][2], TAPPA_F16, 3, ks, &err), TAPPA_OK);
        for (int h = 0; h < HQ; h++) {
            double steady[D];
            for (int c = 0; c < D; c++) steady[c] = 0.3 * rng_normal(r);
            for (int t = 0; t < N; t++)
                for (int c = 0; c < D; c++) {
                    float x = (float)(steady[c] + (0.05 + 0.1 * l) * rng_normal(r));
                    ((float *)arrays[l][0].data)[(h * N + t) * D + c] = x;
                    q[l][(h * N + t) * D + c] = x;
                }
        }
        for (int i = 0; i < HKV * N * D; i++) {
            uint16_t kh = tappa_f32_to_f16((float)rng_normal(r));
            ((uint16_t *)arrays[l][1].data)[i] = kh;
            k[l][i] = tappa_f16_to_f32(kh);
            uint16_t vh = tappa_f32_to_f16((float)rng_normal(r));
            ((uint16_t *)arrays[l][2].data)[i] = vh;
            v[l][i] = tappa_f16_to_f32(vh);
        }
        for (int i = 0; i < 3; i++) {
            snprintf(name_buf[3 * l + i], sizeof name_buf[0], "layer.%d.%s", l, i == 0 ? "q" : i == 1 ? "k" : "v");
            names[3 * l + i] = name_buf[3 * l + i];
            ptrs[3 * l + i] = &arrays[l][i];
        }
    }
    CHECK_INT_EQ(tappa_safetensors_write(path, 3 * L, names, ptrs, &err), TAPPA_OK);
}

/* Reference scores of a layer for a method: window stats, pooled, averaged
 * per KV head; entropy and variance totals for cake. scores: (HKV, M). */
static void ref_scores(int l, const char *method, double *scores, double *e_total, double *v_total)
{
    static double mean[HQ * N], var[HQ * N], colsum[HQ * N], ent[HQ * N];
    bool h2o = !strcmp(method, "h2o");
    tappa_ref_window_stats(q[l], k[l], mean, var, h2o ? colsum : NULL, ent, HQ, HKV, N, D, W);
    *e_total = *v_total = 0;
    for (int h = 0; h < HQ; h++)
        for (int j = 0; j < M; j++) {
            *e_total += ent[h * N + j];
            *v_total += var[h * N + j];
        }
    if (h2o) tappa_ref_token_scores(colsum, colsum, 1, 0, HQ, HKV, N, W, 5, scores);
    else if (!strcmp(method, "snapkv") || !strcmp(method, "pyramidkv"))
        tappa_ref_token_scores(mean, mean, W, 0, HQ, HKV, N, W, 5, scores);
    else tappa_ref_token_scores(mean, var, 1, 200, HQ, HKV, N, W, 5, scores);
}

static double ref_qsim(int l)
{
    static double win[HQ * W * D];
    double per[HQ], mean = 0;
    for (int h = 0; h < HQ; h++) memcpy(win + h * W * D, q[l] + (h * N + N - W) * D, sizeof(double) * W * D);
    tappa_ref_qsim(win, per, HQ, W, D, TAPPA_QSIM_COSINE, 1);
    for (int h = 0; h < HQ; h++) mean += per[h] / HQ;
    return mean;
}

/* Reference fidelity: relative error of the window queries' attention on the
 * kept rows (keep: (HKV, b), then the window) versus all rows. */
static double ref_fidelity(int l, const int32_t *keep, int64_t b)
{
    static double qw[HQ * W * D], of[HQ * W * D], oc[HQ * W * D], kc[HKV * N * D], vc[HKV * N * D];
    int64_t len = b + W;
    for (int h = 0; h < HQ; h++) memcpy(qw + h * W * D, q[l] + (h * N + N - W) * D, sizeof(double) * W * D);
    for (int h = 0; h < HKV; h++)
        for (int64_t i = 0; i < len; i++) {
            int64_t row = i < b ? keep[h * b + i] : N - W + (i - b);
            memcpy(kc + (h * len + i) * D, k[l] + (h * N + row) * D, sizeof(double) * D);
            memcpy(vc + (h * len + i) * D, v[l] + (h * N + row) * D, sizeof(double) * D);
        }
    tappa_ref_attention(qw, k[l], v[l], of, NULL, HQ, HKV, W, N, D, true);
    tappa_ref_attention(qw, kc, vc, oc, NULL, HQ, HKV, W, (size_t)len, D, true);
    double diff = 0, norm = 0;
    for (int i = 0; i < HQ * W * D; i++) {
        diff += (oc[i] - of[i]) * (oc[i] - of[i]);
        norm += of[i] * of[i];
    }
    return sqrt(diff / norm);
}

/* Check the written file against the trace: shapes, keep ascending and in
 * range, K rows equal to the trace's at the kept positions then the window;
 * for scored methods, the kept set a top-k of the reference scores (kept >=
 * dropped, up to the f32 error of the device statistics). */
static void check_output(const char *path, const char *method, const int64_t *budgets,
                         const double *fidelity, tappa_array arrays[L][3])
{
    tappa_safetensors *st = NULL;
    tappa_error err;
    CHECK_INT_EQ(tappa_safetensors_read(path, &st, &err), TAPPA_OK);
    if (!st) return;
    for (int l = 0; l < L; l++) {
        char name[32];
        int64_t b = budgets[l];
        snprintf(name, sizeof name, "layer.%d.keep", l);
        const tappa_array *keep = tappa_safetensors_find(st, name);
        snprintf(name, sizeof name, "layer.%d.k", l);
        const tappa_array *kc = tappa_safetensors_find(st, name);
        CHECK(keep && kc);
        if (!keep || !kc) continue;
        CHECK(keep->dtype == TAPPA_I32 && keep->shape[0] == HKV && keep->shape[1] == b);
        CHECK(kc->dtype == TAPPA_F16 && kc->shape[0] == HKV && kc->shape[1] == b + W && kc->shape[2] == D);
        if (keep->shape[1] != b || kc->shape[1] != b + W) continue;
        const int32_t *kp = keep->data;
        double fid = ref_fidelity(l, kp, b);
        CHECK_NEAR(fidelity[l], fid, 1e-3 * fid + 1e-6);
        static double scores[HKV * M];
        double e, v;
        bool scored = strcmp(method, "full") && strcmp(method, "streamingllm");
        if (scored) ref_scores(l, method, scores, &e, &v);
        for (int h = 0; h < HKV; h++) {
            bool kept[M] = { false };
            for (int64_t i = 0; i < b; i++) {
                int32_t pos = kp[h * b + i];
                CHECK(pos >= 0 && pos < M && (i == 0 || pos > kp[h * b + i - 1]));
                if (pos < 0 || pos >= M) continue;
                kept[pos] = true;
                if (!strcmp(method, "streamingllm") || !strcmp(method, "full")) CHECK_INT_EQ(pos, i);
            }
            for (int64_t i = 0; i < b + W; i++) {
                int64_t row = i < b ? kp[h * b + i] : N - W + (i - b);
                if (row < 0 || row >= N) continue;
                CHECK(!memcmp((const uint16_t *)kc->data + (h * (b + W) + i) * D,
                              (const uint16_t *)arrays[l][1].data + (h * N + row) * D, D * sizeof(uint16_t)));
            }
            if (!scored) continue;
            double lo = INFINITY, hi = -INFINITY, top = 0;
            for (int j = 0; j < M; j++) {
                double s = scores[h * M + j];
                top = s > top ? s : top;
                if (kept[j]) lo = s < lo ? s : lo;
                else hi = s > hi ? s : hi;
            }
            if (b > 0 && b < M) CHECK(lo >= hi - 1e-4 * top);
        }
    }
    tappa_safetensors_free(&st);
}

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    const char *tappa = argv[1], *device = argv[2];
    char cmd[1024], trace[256], out[256];
    rng r;
    cli_test_start("test_compress_cli", tappa, device, dir, &r);
    snprintf(trace, sizeof trace, "%s/trace.safetensors", dir);
    snprintf(out, sizeof out, "%s/kv.safetensors", dir);
    static tappa_array arrays[L][3];
    write_trace(&r, trace, arrays);
    tappa_error err;
    int lines;
    const char *methods[] = { "tappa", "cake", "snapkv", "pyramidkv", "h2o", "streamingllm", "full" };
    for (size_t mi = 0; mi < sizeof methods / sizeof methods[0]; mi++) {
        const char *method = methods[mi];
        snprintf(cmd, sizeof cmd, "%s compress %s --method %s --cache-size %d --window %d --device '%s' "
                 "--fidelity --json -o %s", tappa, trace, method, C, W, device, out);
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
        cJSON *j = cli_read_json(dir);
        const cJSON *layers = j ? cJSON_GetObjectItem(j, "layers") : NULL;
        CHECK_INT_EQ(cJSON_GetArraySize(layers), L);
        if (cJSON_GetArraySize(layers) != L) {
            fprintf(stderr, "%s: no usable JSON\n", method);
            cJSON_Delete(j);
            continue;
        }
        CHECK(!strcmp(cJSON_GetObjectItem(j, "method")->valuestring, method));
        int64_t budgets[L], sum = 0;
        double prefs[L], fidelity[L], before = 0, after = 0;
        for (int l = 0; l < L; l++) {
            const cJSON *o = cJSON_GetArrayItem(layers, l);
            budgets[l] = (int64_t)num(o, "budget");
            sum += budgets[l];
            before += num(o, "bytes_before");
            after += num(o, "bytes_after");
            CHECK_NEAR(num(o, "bytes_before"), 2.0 * HKV * N * D * 2, 0);
            CHECK_NEAR(num(o, "bytes_after"), 2.0 * HKV * (budgets[l] + W) * D * 2, 0);
            double qs = ref_qsim(l);
            CHECK_NEAR(num(o, "qsim"), qs, 1e-5 * fabs(qs) + 1e-7);
            double e, v;
            static double scores[HKV * M];
            ref_scores(l, method, scores, &e, &v);
            prefs[l] = !strcmp(method, "tappa") ? 1 - qs : !strcmp(method, "cake") ? e * v : NAN;
            if (!isnan(prefs[l])) CHECK_NEAR(num(o, "pref"), prefs[l], 1e-4 * prefs[l]);
            else CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "pref")));
            /* Checked against the reference in check_output. */
            fidelity[l] = num(o, "fidelity_rel_error");
            if (!strcmp(method, "full")) CHECK(fidelity[l] <= 1e-6);
            else CHECK(fidelity[l] > 0 && isfinite(fidelity[l]));
        }
        CHECK_NEAR(num(j, "total_bytes_before"), before, 0);
        CHECK_NEAR(num(j, "total_bytes_after"), after, 0);
        int64_t expect[L];
        if (!strcmp(method, "tappa") || !strcmp(method, "cake")) {
            CHECK_INT_EQ(tappa_budgets_from_prefs(prefs, L, C, W, N, expect, &err), TAPPA_OK);
            CHECK_INT_EQ(sum, (C - W) * L);
        } else if (!strcmp(method, "pyramidkv")) {
            CHECK_INT_EQ(tappa_budgets_pyramid(L, C, W, N, 20, expect, &err), TAPPA_OK);
        } else {
            for (int l = 0; l < L; l++) expect[l] = !strcmp(method, "full") ? M : C - W;
        }
        for (int l = 0; l < L; l++) CHECK_INT_EQ(budgets[l], expect[l]);
        check_output(out, method, budgets, fidelity, arrays);
        cJSON_Delete(j);
    }

    /* N <= C + W: nothing is compressed, whatever the method. */
    snprintf(cmd, sizeof cmd, "%s compress %s --method snapkv --cache-size %d --window %d --device '%s' --json",
             tappa, trace, N - W, W, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    cJSON *j = cli_read_json(dir);
    CHECK(j && num(j, "total_bytes_after") == num(j, "total_bytes_before"));
    cJSON_Delete(j);
    /* The human table names the method and every layer. */
    snprintf(cmd, sizeof cmd, "%s compress %s --cache-size %d --window %d --device '%s'", tappa, trace, C, W, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);

    /* Bad input: one line, exit 2 (usage) or 1 (data), no output file. */
    remove(out);
    snprintf(cmd, sizeof cmd, "%s compress %s --method quest", tappa, trace);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 2);
    CHECK_INT_EQ(lines, 1);
    snprintf(cmd, sizeof cmd, "%s compress %s --window 0", tappa, trace);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 2);
    CHECK_INT_EQ(lines, 1);
    snprintf(cmd, sizeof cmd, "%s compress %s --kernel 4 --device '%s' -o %s", tappa, trace, device, out);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);
    snprintf(cmd, sizeof cmd, "%s compress %s/missing.safetensors --device '%s' -o %s", tappa, dir, device, out);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);
    FILE *f = fopen(out, "rb");
    CHECK(f == NULL);
    if (f) fclose(f);
    /* A trace whose layer 1 lacks its values. */
    const char *names[4] = { "layer.0.q", "layer.0.k", "layer.0.v", "layer.1.q" };
    const tappa_array *partial[4] = { &arrays[0][0], &arrays[0][1], &arrays[0][2], &arrays[1][0] };
    CHECK_INT_EQ(tappa_safetensors_write(trace, 4, names, partial, &err), TAPPA_OK);
    snprintf(cmd, sizeof cmd, "%s compress %s --device '%s'", tappa, trace, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);

    for (int l = 0; l < L; l++)
        for (int i = 0; i < 3; i++) tappa_array_free(&arrays[l][i]);
    const char *const files[] = { "trace.safetensors", "kv.safetensors" };
    cli_test_cleanup(dir, files, sizeof files / sizeof files[0]);
    return check_exit("test_compress_cli");
}
