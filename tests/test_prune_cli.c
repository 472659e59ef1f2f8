/* `tappa prune-scores` and `tappa prune-order` end to end on a device
 * (argv[2]): two calibration traces (f32 and f16, different lengths) scored
 * against the float64 reference (block influence and pre-RoPE q-similarity,
 * mean over chunks), the score files in the reference's schema, the order
 * from them with the model's default beta; hand-computed orders; and bad
 * input (one line, exit 1 or 2, no output file).
 * usage: test_prune_cli TAPPA DEVICE */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli_run.h"
#include "rng.h"
#include "tappa/tappa.h"

enum { L = 3, HQ = 4, D = 16, DM = 64, TRACES = 2 };
static const int64_t tokens[TRACES] = { 40, 25 };
static char dir[] = "/tmp/tappa-prune-XXXXXX";
static const char *tappa, *device;

static char *path_of(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static bool exists(const char *name)
{
    FILE *f = fopen(path_of(name), "r");
    if (f) fclose(f);
    return f != NULL;
}

static int run(const char *args, int *lines)
{
    char cmd[1536];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s", dir, tappa, args);
    return cli_run(dir, cmd, lines);
}

/* Store v (n values) as dt, rounding v to what was stored. */
static void fill(tappa_array *a, tappa_dtype dt, int ndim, const int64_t *shape, double *v)
{
    tappa_error err;
    CHECK_INT_EQ(tappa_array_alloc(a, dt, ndim, shape, &err), TAPPA_OK);
    size_t n = tappa_array_numel(a);
    for (size_t i = 0; i < n; i++) {
        if (dt == TAPPA_F16) {
            uint16_t h = tappa_f32_to_f16((float)v[i]);
            ((uint16_t *)a->data)[i] = h;
            v[i] = tappa_f16_to_f32(h);
        } else {
            ((float *)a->data)[i] = (float)v[i];
            v[i] = (float)v[i];
        }
    }
}

/* A trace of one chunk: hidden states of a residual stream whose layers
 * change it by different amounts (token 0 of hidden.0 is zero: a NaN cosine),
 * pre-RoPE queries as steady as the layer index makes them; optionally
 * without hidden states or with one layer fewer. Adds its reference scores
 * to bi_sum and q_sum. */
static void write_trace(rng *r, const char *name, tappa_dtype dt, int64_t n, bool hidden, int layers,
                        double *bi_sum, double *q_sum)
{
    tappa_error err;
    tappa_array arrays[2 * L + 1];
    const tappa_array *ptrs[2 * L + 1];
    char names[2 * L + 1][32];
    const char *name_ptrs[2 * L + 1];
    int count = 0;
    double *h = malloc(sizeof(double) * (size_t)(n * DM) * (L + 1)); /* (L + 1, n, DM) */
    double *qv = malloc(sizeof(double) * (size_t)(HQ * n * D));
    for (int64_t i = 0; i < n * DM; i++) h[i] = (i < DM) ? 0.0 : rng_normal(r);
    for (int l = 0; l < L; l++)
        for (int64_t i = 0; i < n * DM; i++)
            h[(l + 1) * n * DM + i] = h[l * n * DM + i] + (0.1 + 0.3 * l) * rng_normal(r);
    if (hidden)
        for (int l = 0; l <= layers; l++) {
            int64_t shape[2] = { n, DM };
            fill(&arrays[count], dt, 2, shape, h + l * n * DM);
            snprintf(names[count], sizeof names[0], "hidden.%d", l);
            count++;
        }
    for (int l = 0; l < layers; l++) {
        int64_t shape[3] = { HQ, n, D };
        for (int hh = 0; hh < HQ; hh++) {
            double steady[D];
            for (int c = 0; c < D; c++) steady[c] = rng_normal(r);
            for (int64_t t = 0; t < n; t++)
                for (int c = 0; c < D; c++)
                    qv[(hh * n + t) * D + c] = steady[c] + (0.2 + 0.5 * l) * rng_normal(r);
        }
        fill(&arrays[count], dt, 3, shape, qv);
        snprintf(names[count], sizeof names[0], "layer.%d.q_pre", l);
        count++;
        if (q_sum) {
            double per_head[HQ], mean = 0;
            tappa_ref_qsim(qv, per_head, HQ, (size_t)n, D, TAPPA_QSIM_COSINE, 1.0);
            for (int hh = 0; hh < HQ; hh++) mean += per_head[hh] / HQ;
            q_sum[l] += mean;
        }
    }
    if (bi_sum)
        for (int l = 0; l < L; l++) {
            double *per_token = malloc(sizeof(double) * (size_t)n), mean = 0;
            tappa_ref_block_influence(h + l * n * DM, h + (l + 1) * n * DM, (size_t)n, DM, per_token);
            for (int64_t t = 0; t < n; t++) mean += per_token[t] / (double)n;
            bi_sum[l] += mean;
            free(per_token);
        }
    for (int i = 0; i < count; i++) {
        ptrs[i] = &arrays[i];
        name_ptrs[i] = names[i];
    }
    CHECK_INT_EQ(tappa_safetensors_write(path_of(name), (size_t)count, name_ptrs, ptrs, &err), TAPPA_OK);
    for (int i = 0; i < count; i++) tappa_array_free(&arrays[i]);
    free(h);
    free(qv);
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static double item(const cJSON *a, int i)
{
    const cJSON *x = cJSON_GetArrayItem(a, i);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* The layers sorted by v ascending, ties by index (an independent check of
 * the tool's order). */
static void argsort(const double *v, int n, int *order)
{
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (v[order[j]] < v[order[i]] || (v[order[j]] == v[order[i]] && order[j] < order[i])) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
}

static void check_int_array(const cJSON *a, const int *want, int n)
{
    CHECK_INT_EQ(cJSON_GetArraySize(a), n);
    for (int i = 0; i < n; i++) CHECK_INT_EQ((int)item(a, i), want[i]);
}

static void test_prune_scores(rng *r)
{
    double bi[L] = { 0 }, q[L] = { 0 };
    write_trace(r, "a.safetensors", TAPPA_F32, tokens[0], true, L, bi, q);
    write_trace(r, "b.safetensors", TAPPA_F16, tokens[1], true, L, bi, q);
    for (int l = 0; l < L; l++) {
        bi[l] /= TRACES;
        q[l] /= TRACES;
    }
    char args[512];
    int lines;
    snprintf(args, sizeof args,
             "prune-scores a.safetensors b.safetensors --bi-out BI.json --q-out Q.json --model llama-3.1-8b "
             "--device '%s' --json", device);
    CHECK_INT_EQ(run(args, &lines), 0);
    cJSON *out = cli_read_json(dir);
    CHECK(out != NULL);
    const cJSON *obi = cJSON_GetObjectItem(out, "bi"), *oq = cJSON_GetObjectItem(out, "q_similarity");
    CHECK_INT_EQ(cJSON_GetArraySize(obi), L);
    CHECK_INT_EQ(cJSON_GetArraySize(oq), L);
    CHECK_NEAR(num(out, "tokens"), (double)(tokens[0] + tokens[1]), 0);
    CHECK_NEAR(num(out, "chunks"), TRACES, 0);
    for (int l = 0; l < L; l++) {
        /* Same rounded inputs on both sides: only f32 arithmetic differs. */
        CHECK_NEAR(item(obi, l), bi[l], 1e-5 * fabs(bi[l]) + 1e-7);
        CHECK_NEAR(item(oq, l), q[l], 1e-5 * fabs(q[l]) + 1e-7);
    }
    CHECK(bi[0] < bi[1] && bi[1] < bi[2]); /* the trace's layers really differ */
    for (int f = 0; f < 2; f++) {
        cJSON *file = json_read_file(path_of(f ? "Q.json" : "BI.json"));
        CHECK(file != NULL);
        const cJSON *type = cJSON_GetObjectItem(file, "score_type"), *model = cJSON_GetObjectItem(file, "model");
        CHECK(cJSON_IsString(type) && !strcmp(type->valuestring, f ? "q_similarity" : "BI"));
        CHECK(cJSON_IsString(model) && !strcmp(model->valuestring, "llama-3.1-8b"));
        CHECK_INT_EQ((int)num(file, "num_chunks"), TRACES);
        const cJSON *tok = cJSON_GetObjectItem(file, "tokens");
        CHECK_INT_EQ((int)item(tok, 0), (int)tokens[0]);
        CHECK_INT_EQ((int)item(tok, 1), (int)tokens[1]);
        const cJSON *scores = cJSON_GetObjectItem(file, "scores");
        double v[L];
        int order[L];
        for (int l = 0; l < L; l++) {
            v[l] = item(scores, l);
            CHECK(v[l] == item(f ? oq : obi, l)); /* the file holds the same doubles */
        }
        argsort(v, L, order);
        check_int_array(cJSON_GetObjectItem(file, "prune_order"), order, L);
        cJSON_Delete(file);
    }
    /* The order from these files: beta 0.3 from the model name. */
    CHECK_INT_EQ(run("prune-order --bi BI.json --q Q.json --json", &lines), 0);
    cJSON *ord = cli_read_json(dir);
    CHECK(ord != NULL);
    CHECK_NEAR(num(ord, "beta"), 0.3, 0);
    double bn[L], qn[L], s[L];
    int order[L];
    double fb[L], fq[L];
    for (int l = 0; l < L; l++) {
        fb[l] = item(obi, l);
        fq[l] = item(oq, l);
    }
    double blo = fmin(fb[0], fmin(fb[1], fb[2])), bhi = fmax(fb[0], fmax(fb[1], fb[2]));
    double qlo = fmin(fq[0], fmin(fq[1], fq[2])), qhi = fmax(fq[0], fmax(fq[1], fq[2]));
    for (int l = 0; l < L; l++) {
        bn[l] = (fb[l] - blo) / (bhi - blo);
        qn[l] = (fq[l] - qlo) / (qhi - qlo);
        s[l] = bn[l] + 0.3 * (1 - qn[l]);
        CHECK_NEAR(item(cJSON_GetObjectItem(ord, "tappa_score"), l), s[l], 1e-15);
    }
    argsort(s, L, order);
    check_int_array(cJSON_GetObjectItem(ord, "prune_order"), order, L);
    cJSON_Delete(ord);
    cJSON_Delete(out);

    /* The table names every layer and the files it wrote. */
    snprintf(args, sizeof args, "prune-scores a.safetensors --q-out Q1.json --device '%s'", device);
    CHECK_INT_EQ(run(args, &lines), 0);
    CHECK(exists("Q1.json"));

    /* Bad traces: one line, exit 1, no score file. */
    write_trace(r, "noh.safetensors", TAPPA_F32, 10, false, L, NULL, NULL);
    write_trace(r, "short.safetensors", TAPPA_F32, 10, true, L - 1, NULL, NULL);
    {
        /* Traces that disagree with themselves: q_pre of another length than the
         * hidden states; a NaN in the queries. */
        tappa_error err;
        tappa_safetensors *a = NULL;
        CHECK_INT_EQ(tappa_safetensors_read(path_of("a.safetensors"), &a, &err), TAPPA_OK);
        const char *names[2 * L + 1];
        const tappa_array *arrays[2 * L + 1];
        tappa_array shorter[L];
        for (int l = 0; l <= L; l++) {
            names[l] = tappa_safetensors_name(a, (size_t)l);
            arrays[l] = tappa_safetensors_at(a, (size_t)l);
        }
        for (int l = 0; l < L; l++) {
            const tappa_array *qa = tappa_safetensors_at(a, (size_t)(L + 1 + l));
            int64_t shape[3] = { HQ, tokens[0] - 1, D };
            CHECK_INT_EQ(tappa_array_alloc(&shorter[l], TAPPA_F32, 3, shape, &err), TAPPA_OK);
            for (int hh = 0; hh < HQ; hh++)
                memcpy((float *)shorter[l].data + (size_t)hh * (size_t)(tokens[0] - 1) * D,
                       (const float *)qa->data + (size_t)hh * (size_t)tokens[0] * D,
                       sizeof(float) * (size_t)(tokens[0] - 1) * D);
            names[L + 1 + l] = tappa_safetensors_name(a, (size_t)(L + 1 + l));
            arrays[L + 1 + l] = &shorter[l];
        }
        CHECK_INT_EQ(tappa_safetensors_write(path_of("mixed.safetensors"), 2 * L + 1, names, arrays, &err), TAPPA_OK);
        ((float *)shorter[1].data)[5] = NAN;
        CHECK_INT_EQ(tappa_safetensors_write(path_of("nan.safetensors"), L, names + L + 1, arrays + L + 1, &err),
                     TAPPA_OK);
        for (int l = 0; l < L; l++) tappa_array_free(&shorter[l]);
        tappa_safetensors_free(&a);
    }
    const char *bad[] = {
        "prune-scores noh.safetensors --bi-out X.json",               /* no hidden states */
        "prune-scores a.safetensors short.safetensors --bi-out X.json", /* fewer layers */
        "prune-scores a.safetensors missing.safetensors --q-out X.json",
        "prune-scores BI.json --q-out X.json",                        /* not a trace */
        "prune-scores mixed.safetensors --bi-out X.json --q-out Y.json", /* hidden N != q_pre N */
        "prune-scores nan.safetensors --q-out X.json",                /* NaN queries */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "%s --device '%s'", bad[i], device);
        CHECK_INT_EQ(run(args, &lines), 1);
        CHECK_INT_EQ(lines, 1);
        CHECK(!exists("X.json"));
        CHECK(!exists("Y.json"));
    }
    CHECK_INT_EQ(run("prune-scores a.safetensors --bi-out X.json --q-out X.json", &lines), 2);
    CHECK_INT_EQ(run("prune-scores --bi-out X.json", &lines), 2);
    CHECK(!exists("X.json"));
}

/* prune-order on hand-made score files. */
static void test_prune_order(void)
{
    int lines;
    write_text("bi4.json", "{\"model\": \"mine\", \"scores\": [0.4, 0.1, 0.3, 0.2]}");
    write_text("q4.json", "{\"scores\": [0.5, 0.9, 0.7, 0.5], \"prune_order\": [0, 3, 2, 1]}");
    CHECK_INT_EQ(run("prune-order --bi bi4.json --q q4.json --beta 0.5 -o order.json", &lines), 0);
    cJSON *o = json_read_file(path_of("order.json"));
    CHECK(o != NULL);
    const char *keys[] = { "beta", "bi", "q_similarity", "bi_norm", "q_similarity_norm", "tappa_score", "prune_order" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) CHECK(cJSON_GetObjectItem(o, keys[i]) != NULL);
    const double want_s[4] = { 1.5, 0, 11.0 / 12, 5.0 / 6 }, want_bn[4] = { 1, 0, 2.0 / 3, 1.0 / 3 };
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(item(cJSON_GetObjectItem(o, "tappa_score"), i), want_s[i], 1e-15);
        CHECK_NEAR(item(cJSON_GetObjectItem(o, "bi_norm"), i), want_bn[i], 1e-15);
    }
    check_int_array(cJSON_GetObjectItem(o, "prune_order"), (const int[]){ 1, 3, 2, 0 }, 4);
    const cJSON *model = cJSON_GetObjectItem(o, "model");
    CHECK(cJSON_IsString(model) && !strcmp(model->valuestring, "mine"));
    cJSON_Delete(o);

    /* Ties by index; all equal; a single layer; ShortGPT. */
    write_text("bi6.json", "{\"scores\": [0.2, 0.1, 0.2, 0.1, 0.3, 0.1]}");
    write_text("q6.json", "{\"scores\": [0.4, 0.4, 0.4, 0.4, 0.4, 0.4]}");
    CHECK_INT_EQ(run("prune-order --bi bi6.json --q q6.json --beta 0.2 --json", &lines), 0);
    o = cli_read_json(dir);
    check_int_array(cJSON_GetObjectItem(o, "prune_order"), (const int[]){ 1, 3, 5, 0, 2, 4 }, 6);
    cJSON_Delete(o);
    write_text("eq.json", "{\"scores\": [0.7, 0.7, 0.7]}");
    CHECK_INT_EQ(run("prune-order --bi eq.json --q eq.json --beta 0.1 --json", &lines), 0);
    o = cli_read_json(dir);
    check_int_array(cJSON_GetObjectItem(o, "prune_order"), (const int[]){ 0, 1, 2 }, 3);
    CHECK_NEAR(item(cJSON_GetObjectItem(o, "bi_norm"), 2), 0, 0);
    cJSON_Delete(o);
    write_text("one.json", "{\"scores\": [0.25]}");
    CHECK_INT_EQ(run("prune-order --bi one.json --q one.json --beta 0.3 --json", &lines), 0);
    o = cli_read_json(dir);
    check_int_array(cJSON_GetObjectItem(o, "prune_order"), (const int[]){ 0 }, 1);
    CHECK_NEAR(item(cJSON_GetObjectItem(o, "tappa_score"), 0), 0.3, 0);
    cJSON_Delete(o);
    CHECK_INT_EQ(run("prune-order --bi bi6.json --method shortgpt --json", &lines), 0);
    o = cli_read_json(dir);
    check_int_array(cJSON_GetObjectItem(o, "prune_order"), (const int[]){ 1, 3, 5, 0, 2, 4 }, 6);
    CHECK(!cJSON_GetObjectItem(o, "beta"));
    cJSON_Delete(o);
    CHECK_INT_EQ(run("prune-order --bi bi4.json --q q4.json --beta 0.5", &lines), 0); /* the table */
    CHECK_INT_EQ(lines, 0);

    /* Written numbers read back as the same doubles (cJSON's own printing keeps
     * 15 digits and moves 0.1 + 0.2, 1/3 or 2/3 by an ulp). */
    write_text("exact.json", "{\"scores\": [0.30000000000000004, 0.3333333333333333, 0.6666666666666666, "
                             "1e+16, 5e-324, 0.1]}");
    CHECK_INT_EQ(run("prune-order --bi exact.json --method shortgpt -o exact-order.json", &lines), 0);
    cJSON *in = json_read_file(path_of("exact.json")), *back = json_read_file(path_of("exact-order.json"));
    for (int i = 0; i < 6; i++)
        CHECK(item(cJSON_GetObjectItem(in, "scores"), i) == item(cJSON_GetObjectItem(back, "bi"), i));
    check_int_array(cJSON_GetObjectItem(back, "prune_order"), (const int[]){ 4, 5, 0, 1, 2, 3 }, 6);
    cJSON_Delete(in);
    cJSON_Delete(back);

    /* --model wins over the files' model for the default beta. */
    CHECK_INT_EQ(run("prune-order --bi bi4.json --q q4.json --model qwen-2.5-7b --json", &lines), 0);
    o = cli_read_json(dir);
    CHECK_NEAR(num(o, "beta"), 0.1, 0);
    cJSON_Delete(o);

    /* Bad score files and arguments: one line, exit 1 (files) or 2 (usage), no order file. */
    write_text("bi3.json", "{\"scores\": [0.4, 0.1, 0.3]}");
    write_text("empty.json", "{\"scores\": []}");
    write_text("str.json", "{\"scores\": [0.1, \"0.2\", 0.3, 0.4]}");
    write_text("null.json", "{\"scores\": [0.1, null, 0.3, 0.4]}");
    write_text("nokey.json", "{\"score\": [0.1, 0.2, 0.3, 0.4]}");
    write_text("notarr.json", "{\"scores\": 0.5}");
    write_text("list.json", "[0.1, 0.2, 0.3, 0.4]");
    write_text("nan.json", "{\"scores\": [0.1, NaN, 0.3, 0.4]}");
    write_text("trunc.json", "{\"scores\": [0.1, 0.2");
    const char *bad[] = {
        "--bi bi3.json --q q4.json --beta 0.2",      /* different lengths */
        "--bi empty.json --q q4.json --beta 0.2",
        "--bi str.json --q q4.json --beta 0.2",
        "--bi bi4.json --q null.json --beta 0.2",
        "--bi nokey.json --q q4.json --beta 0.2",
        "--bi notarr.json --q q4.json --beta 0.2",
        "--bi list.json --q q4.json --beta 0.2",
        "--bi nan.json --q q4.json --beta 0.2",
        "--bi trunc.json --q q4.json --beta 0.2",
        "--bi missing.json --q q4.json --beta 0.2",
        "--bi bi4.json --q q4.json",                  /* model 'mine' has no default beta */
    };
    char args[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "prune-order %s -o bad.json", bad[i]);
        CHECK_INT_EQ(run(args, &lines), 1);
        CHECK_INT_EQ(lines, 1);
        CHECK(!exists("bad.json"));
    }
    const char *usage[] = {
        "--bi bi4.json --q q4.json --beta x",
        "--bi bi4.json --beta 0.2",                   /* tappa needs --q */
        "--q q4.json --beta 0.2",                     /* no --bi */
        "--bi bi4.json --q q4.json --method shortgpt",
        "--bi bi4.json --method magic",
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        snprintf(args, sizeof args, "prune-order %s -o bad.json", usage[i]);
        CHECK_INT_EQ(run(args, &lines), 2);
        CHECK_INT_EQ(lines, 1);
        CHECK(!exists("bad.json"));
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_prune_cli TAPPA DEVICE\n");
        return 2;
    }
    /* Commands run from the test folder: a relative binary path gets the current folder. */
    static char tappa_path[320], cwd[256];
    if (argv[1][0] != '/' && !getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "test_prune_cli: cannot find the current folder\n");
        return 1;
    }
    snprintf(tappa_path, sizeof tappa_path, "%s%s%s", argv[1][0] == '/' ? "" : cwd, argv[1][0] == '/' ? "" : "/",
             argv[1]);
    tappa = tappa_path;
    device = argv[2];
    rng r;
    cli_test_start("test_prune_cli", tappa, device, dir, &r);
    test_prune_scores(&r);
    test_prune_order();
    const char *files[] = { "a.safetensors", "b.safetensors", "noh.safetensors", "short.safetensors", "BI.json",
                            "mixed.safetensors", "nan.safetensors", "exact.json", "exact-order.json",
                            "Q.json", "Q1.json", "bi4.json", "q4.json", "order.json", "bi6.json", "q6.json",
                            "eq.json", "one.json", "bi3.json", "empty.json", "str.json", "null.json",
                            "nokey.json", "notarr.json", "list.json", "nan.json", "trunc.json" };
    cli_test_cleanup(dir, files, sizeof files / sizeof files[0]);
    return check_exit("test_prune_cli");
}
