/* tappa patterns on a synthetic trace whose answers are known, on a device
 * (argv[2]): layer 0 holds one constant pre-RoPE query and key (a relative-
 * position pattern: diagonal), layer 1 one dominant key every query aligns
 * with (vertical), layer 2 all energy in one rotary pair of period 8
 * (periodic, period 8, that pair on top of the RoPE picture), layer 3 random
 * queries and keys (irregular), layer 4 layer 2's pattern with interleaved
 * pairs (2j, 2j + 1) where the others are rotate-half: the command must find
 * each layer's pairing from q_pre and q, or the RoPE picture lands on the
 * wrong pair. Then the gallery (files, PNG signatures), the score helpers on
 * hand-computed cases, and the errors.
 * usage: test_patterns TAPPA DEVICE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli_run.h"
#include "rng.h"
#include "tappa/tappa.h"

#define N 256
#define D 64
#define HQ 2
#define LAYERS 5
#define PERIOD_PAIR 1

static char dir[] = "/tmp/tappa-patterns-XXXXXX";
static const char *tappa;

/* RoPE base that gives pair PERIOD_PAIR a period of exactly 8 positions:
 * theta_j = base^(-2j / D), theta_1 = 2 pi / 8. */
static double rope_base(void) { return pow(4.0 / 3.14159265358979323846, D / 2.0); }

/* RoPE of one [D] row at position t: rotate-half pairs (j, j + D/2), or
 * interleaved pairs (2j, 2j + 1). */
static void rope(const float *x, float *y, int t, bool interleaved)
{
    double base = rope_base();
    for (int j = 0; j < D / 2; j++) {
        int ia = interleaved ? 2 * j : j, ib = interleaved ? 2 * j + 1 : j + D / 2;
        double a = t * pow(base, -2.0 * j / D), c = cos(a), s = sin(a);
        y[ia] = (float)(x[ia] * c - x[ib] * s);
        y[ib] = (float)(x[ia] * s + x[ib] * c);
    }
}

static void fill_gauss(rng *r, float *x, int n, double sd)
{
    for (int i = 0; i < n; i++) x[i] = (float)(sd * rng_normal(r));
}

/* Layer l's pre-RoPE queries [HQ][N][D] and keys [1][N][D]. */
static void make_layer(rng *r, int l, float *qp, float *kp)
{
    float c[D];
    memset(qp, 0, sizeof(float) * HQ * N * D);
    memset(kp, 0, sizeof(float) * N * D);
    switch (l) {
    case 0: /* one constant query and key over all pairs, |c|^2 / sqrt(D) = 40 */
        fill_gauss(r, c, D, 1);
        {
            double norm = 0;
            for (int i = 0; i < D; i++) norm += c[i] * c[i];
            for (int i = 0; i < D; i++) c[i] = (float)(c[i] * sqrt(40 * sqrt(D) / norm));
        }
        for (int t = 0; t < N; t++) {
            for (int h = 0; h < HQ; h++) memcpy(qp + (h * N + t) * D, c, sizeof c);
            memcpy(kp + t * D, c, sizeof c);
        }
        break;
    case 1: /* key 0 large along the slowest pairs; queries share that direction plus noise */
        for (int t = 0; t < N; t++) {
            for (int h = 0; h < HQ; h++) {
                float *q = qp + (h * N + t) * D;
                fill_gauss(r, q, D, 0.3);
                q[D / 2 - 1] += 4;
                q[D - 1] += 4;
            }
            fill_gauss(r, kp + t * D, D, 0.3);
        }
        kp[D / 2 - 1] = 6;
        kp[D - 1] = 6;
        break;
    case 2: /* one pair only, rotating with period 8: scores 8 cos(2 pi (t - j) / 8) */
    case 4: /* the same in the interleaved layout: the pair's first dim is 2 j */
        for (int t = 0; t < N; t++) {
            int dim = l == 4 ? 2 * PERIOD_PAIR : PERIOD_PAIR;
            for (int h = 0; h < HQ; h++) qp[(h * N + t) * D + dim] = 8;
            kp[t * D + dim] = (float)sqrt(D);
        }
        break;
    default: /* random */
        fill_gauss(r, qp, HQ * N * D, 1);
        fill_gauss(r, kp, N * D, 1);
    }
}

static void write_trace(rng *r, const char *path)
{
    static float qp[LAYERS][HQ * N * D], q[LAYERS][HQ * N * D], kp[N * D], k[LAYERS][N * D];
    tappa_array arrays[3 * LAYERS];
    const tappa_array *list[3 * LAYERS];
    char names[3 * LAYERS][32];
    const char *name_list[3 * LAYERS];
    int64_t qs[3] = { HQ, N, D }, ks[3] = { 1, N, D };
    for (int l = 0; l < LAYERS; l++) {
        make_layer(r, l, qp[l], kp);
        for (int h = 0; h < HQ; h++)
            for (int t = 0; t < N; t++) rope(qp[l] + (h * N + t) * D, q[l] + (h * N + t) * D, t, l == 4);
        for (int t = 0; t < N; t++) rope(kp + t * D, k[l] + t * D, t, l == 4);
        float *data[3] = { q[l], qp[l], k[l] };
        const char *what[3] = { "q", "q_pre", "k" };
        for (int i = 0; i < 3; i++) {
            tappa_array *a = &arrays[3 * l + i];
            *a = (tappa_array){ .dtype = TAPPA_F32, .ndim = 3 };
            memcpy(a->shape, i == 2 ? ks : qs, sizeof qs);
            a->data = data[i];
            a->bytes = (size_t)(i == 2 ? N * D : HQ * N * D) * sizeof(float);
            snprintf(names[3 * l + i], sizeof names[0], "layer.%d.%s", l, what[i]);
            name_list[3 * l + i] = names[3 * l + i];
            list[3 * l + i] = a;
        }
    }
    tappa_error err;
    CHECK_INT_EQ(tappa_safetensors_write(path, 3 * LAYERS, name_list, list, &err), TAPPA_OK);
}

static const char *class_of(cJSON *layers, int l, int h)
{
    cJSON *head = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(layers, l), "heads"), h);
    cJSON *c = cJSON_GetObjectItem(head, "class");
    return cJSON_IsString(c) ? c->valuestring : "";
}

static double num(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_classes(const char *device)
{
    char cmd[1024];
    int lines;
    snprintf(cmd, sizeof cmd, "%s patterns %s/trace.safetensors --device '%s' --json", tappa, dir, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    cJSON *root = cli_read_json(dir);
    CHECK(root != NULL);
    if (!root) return;
    cJSON *layers = cJSON_GetObjectItem(root, "layers");
    CHECK_INT_EQ(cJSON_GetArraySize(layers), LAYERS);
    CHECK_INT_EQ((int)num(root, "n_heads"), LAYERS * HQ);
    const char *want[LAYERS] = { "diagonal", "vertical", "periodic", "irregular", "periodic" };
    for (int l = 0; l < LAYERS; l++)
        for (int h = 0; h < HQ; h++) {
            const char *got = class_of(layers, l, h);
            if (strcmp(got, want[l])) fprintf(stderr, "layer %d head %d: %s, want %s\n", l, h, got, want[l]);
            CHECK(!strcmp(got, want[l]));
        }
    cJSON *h0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 0), "heads"), 0);
    cJSON *h2 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 2), "heads"), 0);
    cJSON *h3 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 3), "heads"), 0);
    /* A constant pre-RoPE query: q-similarity 1; random ones: near 0. */
    CHECK_NEAR(num(h0, "qsim"), 1, 1e-4);
    CHECK_NEAR(num(h0, "qsim_window"), 1, 1e-4);
    CHECK(fabs(num(h3, "qsim")) < 0.05);
    /* The steady patterns are predictable, the random one far less. */
    CHECK(num(h0, "predictability") > 0.9);
    CHECK(num(h3, "predictability") < num(h0, "predictability") - 0.3);
    CHECK(num(cJSON_GetObjectItem(h0, "scores"), "diagonal") > 0.9);
    CHECK_INT_EQ((int)num(h2, "period"), 8);
    /* The periodic heads' RoPE picture: all of it in the one pair, in
     * either layout. */
    cJSON *h4 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 4), "heads"), 1);
    CHECK_INT_EQ((int)num(h4, "period"), 8);
    for (int i = 0; i < 2; i++) {
        cJSON *e = cJSON_GetObjectItem(i ? h4 : h2, "rope_energy");
        CHECK_INT_EQ(cJSON_GetArraySize(e), D / 2);
        cJSON *top = cJSON_GetArrayItem(e, PERIOD_PAIR);
        CHECK(top != NULL);
        if (top) CHECK_NEAR(top->valuedouble, 1, 1e-5);
    }
    double s = num(root, "spearman");
    CHECK(s >= -1 && s <= 1);
    cJSON_Delete(root);

    /* --layers and --heads narrow what is shown. */
    snprintf(cmd, sizeof cmd, "%s patterns %s/trace.safetensors --device '%s' --json --layers 2 --heads 1", tappa,
             dir, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    root = cli_read_json(dir);
    layers = cJSON_GetObjectItem(root, "layers");
    CHECK_INT_EQ(cJSON_GetArraySize(layers), 1);
    CHECK_INT_EQ((int)num(cJSON_GetArrayItem(layers, 0), "layer"), 2);
    CHECK_INT_EQ((int)num(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(layers, 0), "heads"), 0), "head"), 1);
    CHECK(!strcmp(class_of(layers, 0, 0), "periodic"));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(root, "spearman"))); /* one head: no correlation */
    cJSON_Delete(root);
}

static bool is_png(const char *name)
{
    char path[512];
    unsigned char sig[8] = { 0 };
    snprintf(path, sizeof path, "%s/gallery/%s", dir, name);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(sig, 1, 8, f) : 0;
    if (f) fclose(f);
    return n == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8);
}

static void test_gallery(const char *device)
{
    char cmd[1024];
    int lines;
    snprintf(cmd, sizeof cmd, "%s patterns %s/trace.safetensors --device '%s' --out %s/gallery", tappa, dir, device,
             dir);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    CHECK(is_png("scatter.png"));
    CHECK(is_png("layer-0.png"));
    CHECK(is_png("layer-3.png"));
    CHECK(is_png("layer-2-head-1.png"));
    char path[512];
    snprintf(path, sizeof path, "%s/gallery/index.html", dir);
    FILE *f = fopen(path, "r");
    static char html[1 << 16];
    size_t n = f ? fread(html, 1, sizeof html - 1, f) : 0;
    if (f) fclose(f);
    html[n] = 0;
    CHECK(strstr(html, "<img src=\"layer-2.png\"") != NULL);
    CHECK(strstr(html, "layer-3-head-1.png") != NULL);
    CHECK(strstr(html, "<td class=\"c periodic\">periodic</td>") != NULL);
    CHECK(strstr(html, "<td class=\"c vertical\">vertical</td>") != NULL);
    /* A selection keeps the heads' own numbers. */
    snprintf(cmd, sizeof cmd, "%s patterns %s/trace.safetensors --device '%s' --layers 2 --heads 1 --out %s/gallery2",
             tappa, dir, device, dir);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    const char *picked[4] = { "index.html", "scatter.png", "layer-2.png", "layer-2-head-1.png" };
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/gallery2/%s", dir, picked[i]);
        f = fopen(path, "r");
        CHECK(f != NULL);
        if (f) fclose(f);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/gallery2/layer-2-head-0.png", dir);
    f = fopen(path, "r");
    CHECK(f == NULL);
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/gallery2", dir);
    CHECK_INT_EQ(rmdir(path), 0);
}

/* A head's scores from its rows [s][n], through the profiles' reference. */
static void score_rows(const float *rows, int s, int n, const tappa_pattern_params *p, tappa_head_pattern *h)
{
    double rv[256], cv[16], ov[16], pv[16];
    float col[16], off[16], pred[16];
    for (int i = 0; i < s * n; i++) rv[i] = rows[i];
    tappa_ref_pattern_profiles(rv, 1, (size_t)s, (size_t)n, cv, ov, pv);
    for (int j = 0; j < n; j++) col[j] = (float)cv[j], off[j] = (float)ov[j];
    for (int r = 0; r < s; r++) pred[r] = (float)pv[r];
    tappa_error err;
    CHECK_INT_EQ(tappa_pattern_scores(col, off, pred, s, n, p, h, &err), TAPPA_OK);
}

/* The score helpers on rows whose scores follow by hand. */
static void test_scores(void)
{
    tappa_pattern_params p;
    tappa_pattern_params_default(&p);
    enum { S = 8, NK = 12 };
    float rows[S * NK] = { 0 };
    tappa_head_pattern h;
    /* Every row on key 0: vertical 1, the same keys again: predictability 1;
     * its offset moves on with each row, so diagonal holds 4 of the S rows. */
    for (int r = 0; r < S; r++) rows[r * NK] = 1;
    score_rows(rows, S, NK, &p, &h);
    CHECK_NEAR(h.vertical, 1, 1e-12);
    CHECK_NEAR(h.diagonal, 4.0 / S, 1e-12);
    CHECK_NEAR(h.predictability, 1, 1e-12);
    CHECK_INT_EQ(h.cls, TAPPA_PATTERN_VERTICAL);
    /* Every row on itself: diagonal 1 (offset 0), vertical 4 keys of 1 / S. */
    memset(rows, 0, sizeof rows);
    for (int r = 0; r < S; r++) rows[r * NK + NK - S + r] = 1;
    score_rows(rows, S, NK, &p, &h);
    CHECK_NEAR(h.diagonal, 1, 1e-12);
    CHECK_NEAR(h.vertical, 4.0 / S, 1e-12);
    CHECK_NEAR(h.predictability, 1, 1e-12);
    p.top = 1;
    score_rows(rows, S, NK, &p, &h);
    CHECK_NEAR(h.vertical, 1.0 / S, 1e-12);
    CHECK_INT_EQ(h.cls, TAPPA_PATTERN_DIAGONAL);
    /* Spearman: monotone 1, reversed -1, ties averaged, no spread NaN. */
    double x[5] = { 1, 2, 3, 4, 5 }, y[5] = { 2, 4, 8, 16, 32 }, z[5] = { 5, 4, 3, 2, 1 };
    double t[4] = { 1, 2, 2, 3 }, u[4] = { 1, 2, 3, 4 }, c[5] = { 7, 7, 7, 7, 7 };
    CHECK_NEAR(tappa_spearman(x, y, 5), 1, 1e-12);
    CHECK_NEAR(tappa_spearman(x, z, 5), -1, 1e-12);
    CHECK_NEAR(tappa_spearman(t, u, 4), 0.9486832980505138, 1e-12); /* ranks 1, 2.5, 2.5, 4 */
    CHECK(isnan(tappa_spearman(x, c, 5)));
    CHECK(isnan(tappa_spearman(x, y, 1)));
}

static void test_errors(void)
{
    struct {
        const char *args, *needle;
        int rc;
    } cases[] = {
        { "%s/none.safetensors", "none.safetensors", 1 },
        { "%s/trace.safetensors --layers 9", "--layers '9'", 2 },
        { "%s/trace.safetensors --heads 0,x", "--heads '0,x'", 2 },
        { "%s/trace.safetensors --rows 1", "--rows", 2 },
        { "%s/trace.safetensors --rope sideways", "--rope", 2 },
        { "%s/trace.safetensors --threshold 2", "--threshold", 2 },
        { "%s/trace.safetensors %s/trace.safetensors", "exactly one", 2 },
        { "%s/not-a-trace.safetensors", "not a trace", 1 },
    };
    /* A safetensors file without layer.0.q. */
    float v[2] = { 1, 2 };
    tappa_array a = { .dtype = TAPPA_F32, .ndim = 1, .shape = { 2 }, .data = v, .bytes = sizeof v };
    const tappa_array *list[1] = { &a };
    const char *names[1] = { "hidden.0" };
    char path[512];
    tappa_error err;
    snprintf(path, sizeof path, "%s/not-a-trace.safetensors", dir);
    CHECK_INT_EQ(tappa_safetensors_write(path, 1, names, list, &err), TAPPA_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[1024], cmd[1536], msg[1024] = { 0 };
        snprintf(args, sizeof args, cases[i].args, dir, dir);
        snprintf(cmd, sizeof cmd, "%s patterns %s --device cpu", tappa, args);
        int lines;
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), cases[i].rc);
        CHECK_INT_EQ(lines, 1);
        snprintf(path, sizeof path, "%s/err", dir);
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(msg, sizeof msg, f)) msg[0] = 0;
            fclose(f);
        }
        CHECK_CONTAINS(msg, cases[i].needle);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_patterns TAPPA DEVICE\n");
        return 2;
    }
    tappa = argv[1];
    rng r;
    cli_test_start("test_patterns", tappa, argv[2], dir, &r);
    char path[512];
    snprintf(path, sizeof path, "%s/trace.safetensors", dir);
    write_trace(&r, path);
    test_classes(argv[2]);
    test_gallery(argv[2]);
    test_scores();
    test_errors();
    /* Remove what the test wrote: the traces, then the gallery and its folder. */
    static char names[4 + LAYERS + LAYERS * HQ][48];
    size_t n = 0;
    snprintf(names[n++], sizeof names[0], "trace.safetensors");
    snprintf(names[n++], sizeof names[0], "not-a-trace.safetensors");
    snprintf(names[n++], sizeof names[0], "gallery/index.html");
    snprintf(names[n++], sizeof names[0], "gallery/scatter.png");
    for (int l = 0; l < LAYERS; l++) {
        snprintf(names[n++], sizeof names[0], "gallery/layer-%d.png", l);
        for (int h = 0; h < HQ; h++) snprintf(names[n++], sizeof names[0], "gallery/layer-%d-head-%d.png", l, h);
    }
    for (size_t i = 0; i < n; i++) {
        char file[1024];
        snprintf(file, sizeof file, "%s/%s", dir, names[i]);
        remove(file);
    }
    snprintf(path, sizeof path, "%s/gallery", dir);
    rmdir(path);
    cli_test_cleanup(dir, NULL, 0); /* the runner's out and err, and the folder */
    return check_exit("test_patterns");
}
