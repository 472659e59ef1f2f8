/* `tappa attn` end to end: random Q, K, V written as .npy, the command run on
 * a device (argv[2], e.g. lavapipe or cpu), O and LSE read back and compared
 * with the float64 reference; bad inputs exit 1 with one line and leave no
 * output file. usage: test_attn_cli TAPPA DEVICE */
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
#include "cli_run.h"
#include "rng.h"
#include "tappa/tappa.h"

static char dir[] = "/tmp/tappa-attn-XXXXXX";

static void write_npy(const char *name, tappa_dtype dt, int64_t h, int64_t n, int64_t d, rng *r,
                      double *values)
{
    int64_t shape[3] = { h, n, d };
    tappa_array a;
    tappa_error err;
    CHECK_INT_EQ(tappa_array_alloc(&a, dt, 3, shape, &err), TAPPA_OK);
    for (size_t i = 0; i < tappa_array_numel(&a); i++) {
        float v = (float)rng_normal(r);
        if (dt == TAPPA_F16) {
            ((uint16_t *)a.data)[i] = tappa_f32_to_f16(v);
            values[i] = tappa_f16_to_f32(((uint16_t *)a.data)[i]);
        } else {
            ((float *)a.data)[i] = v;
            values[i] = v;
        }
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK_INT_EQ(tappa_npy_write(path, &a, &err), TAPPA_OK);
    tappa_array_free(&a);
}

static double error_vs(const char *name, const double *ref, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tappa_array a;
    tappa_error err;
    if (tappa_npy_read(path, &a, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return NAN;
    }
    double diff = 0, norm = 0;
    CHECK_INT_EQ(tappa_array_numel(&a), n);
    for (size_t i = 0; i < n && i < tappa_array_numel(&a); i++) {
        double v = ((float *)a.data)[i];
        diff += (v - ref[i]) * (v - ref[i]);
        norm += ref[i] * ref[i];
        if (!isfinite(v)) diff = NAN;
    }
    tappa_array_free(&a);
    return sqrt(diff / norm);
}

static void check_case(const char *tappa, const char *device, rng *r, int64_t hq, int64_t hkv,
                       int64_t nq, int64_t nk, int64_t d, tappa_dtype kv_dtype, bool causal)
{
    double *q = malloc(sizeof(double) * hq * nq * d), *k = malloc(sizeof(double) * hkv * nk * d);
    double *v = malloc(sizeof(double) * hkv * nk * d), *o = malloc(sizeof(double) * hq * nq * d);
    double *lse = malloc(sizeof(double) * hq * nq);
    write_npy("q.npy", TAPPA_F32, hq, nq, d, r, q);
    write_npy("k.npy", kv_dtype, hkv, nk, d, r, k);
    write_npy("v.npy", kv_dtype, hkv, nk, d, r, v);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s attn --device '%s' --q %s/q.npy --k %s/k.npy --v %s/v.npy %s -o %s/o.npy --lse %s/lse.npy",
             tappa, device, dir, dir, dir, causal ? "--causal" : "", dir, dir);
    int lines;
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    tappa_ref_attention(q, k, v, o, lse, (size_t)hq, (size_t)hkv, (size_t)nq, (size_t)nk,
                        (size_t)d, causal);
    double tol = kv_dtype == TAPPA_F16 ? 2e-3 : 1e-4;
    double eo = error_vs("o.npy", o, (size_t)(hq * nq * d)), el = error_vs("lse.npy", lse, (size_t)(hq * nq));
    printf("attn %s hq=%lld hkv=%lld nq=%lld nk=%lld d=%lld %s%s: error %.2e / %.2e\n", device,
           (long long)hq, (long long)hkv, (long long)nq, (long long)nk, (long long)d,
           tappa_dtype_name(kv_dtype), causal ? " causal" : "", eo, el);
    CHECK(eo <= tol);
    CHECK(el <= tol);
    free(q); free(k); free(v); free(o); free(lse);
}

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    const char *tappa = argv[1], *device = argv[2];
    rng r;
    cli_test_start("test_attn_cli", tappa, device, dir, &r);
    check_case(tappa, device, &r, 8, 2, 40, 40, 64, TAPPA_F32, true);    /* prefill */
    check_case(tappa, device, &r, 4, 4, 5, 90, 80, TAPPA_F16, true);     /* chunk after a prefix */
    check_case(tappa, device, &r, 8, 2, 1, 300, 128, TAPPA_F16, true);   /* decode step */
    check_case(tappa, device, &r, 2, 1, 3, 7, 96, TAPPA_F32, false);

    /* Bad input: mismatched head dims; one line, exit 1, no output left. */
    double scratch[4096];
    write_npy("q.npy", TAPPA_F32, 2, 3, 64, &r, scratch);
    write_npy("k.npy", TAPPA_F32, 1, 3, 32, &r, scratch);
    char cmd[1024], out[256];
    snprintf(out, sizeof out, "%s/bad.npy", dir);
    snprintf(cmd, sizeof cmd, "%s attn --device '%s' --q %s/q.npy --k %s/k.npy --v %s/k.npy -o %s",
             tappa, device, dir, dir, dir, out);
    int lines;
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);
    struct stat sb;
    CHECK(stat(out, &sb) != 0);
    snprintf(cmd, sizeof cmd, "%s attn --device '%s' --q %s/missing.npy --k %s/k.npy --v %s/k.npy -o %s",
             tappa, device, dir, dir, dir, out);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);
    snprintf(cmd, sizeof cmd, "%s attn --q %s/q.npy", tappa, dir);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 2);
    CHECK_INT_EQ(lines, 1);

    const char *const files[] = { "q.npy", "k.npy", "v.npy", "o.npy", "lse.npy" };
    cli_test_cleanup(dir, files, sizeof files / sizeof files[0]);
    return check_exit("test_attn_cli");
}
