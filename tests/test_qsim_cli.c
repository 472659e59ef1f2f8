/* `tappa qsim` end to end: queries written as .npy and as a two-layer trace,
 * the command run with --json on a device (argv[2]), every value compared with
 * the float64 reference over the same (window) queries; bad input exits 1 or 2
 * with one line. usage: test_qsim_cli TAPPA DEVICE */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli_run.h"
#include "rng.h"
#include "tappa/tappa.h"

enum { H = 3, T = 40, D = 64, W = 16 };
static char dir[] = "/tmp/tappa-qsim-XXXXXX";

/* Queries with a steady direction per head plus noise, in f32. */
static void draw(rng *r, tappa_array *a, double *v)
{
    int64_t shape[3] = { H, T, D };
    tappa_error err;
    CHECK_INT_EQ(tappa_array_alloc(a, TAPPA_F32, 3, shape, &err), TAPPA_OK);
    for (int h = 0; h < H; h++) {
        double dir_[D];
        for (int c = 0; c < D; c++) dir_[c] = rng_normal(r);
        for (int t = 0; t < T; t++)
            for (int c = 0; c < D; c++) {
                float x = (float)(dir_[c] + (0.3 + h) * rng_normal(r));
                ((float *)a->data)[(h * T + t) * D + c] = x;
                v[(h * T + t) * D + c] = x;
            }
    }
}

/* per_head of obj equals the reference qsim of v's last `window` queries. */
static void check_heads(const cJSON *obj, const double *v, int window, tappa_qsim_mode mode,
                        double sigma)
{
    static double slice[H * T * D];
    double ref[H];
    for (int h = 0; h < H; h++)
        memcpy(slice + h * window * D, v + (h * T + T - window) * D, sizeof(double) * window * D);
    tappa_ref_qsim(slice, ref, H, (size_t)window, D, mode, sigma);
    const cJSON *per_head = cJSON_GetObjectItem(obj, "per_head");
    CHECK_INT_EQ(cJSON_GetArraySize(per_head), H);
    double mean = 0;
    for (int h = 0; h < H; h++) {
        double got = cJSON_GetArrayItem(per_head, h) ? cJSON_GetArrayItem(per_head, h)->valuedouble : NAN;
        CHECK_NEAR(got, ref[h], 1e-5 * fabs(ref[h]) + 1e-7);
        mean += ref[h] / H;
    }
    const cJSON *q = cJSON_GetObjectItem(obj, "qsim");
    CHECK(q != NULL);
    if (q) CHECK_NEAR(q->valuedouble, mean, 1e-5 * fabs(mean) + 1e-7);
}

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    const char *tappa = argv[1], *device = argv[2];
    char cmd[1024];
    rng r;
    cli_test_start("test_qsim_cli", tappa, device, dir, &r);
    static double v0[H * T * D], v1[H * T * D];
    tappa_array a0, a1;
    draw(&r, &a0, v0);
    draw(&r, &a1, v1);
    tappa_error err;
    char npy[256], trace[256];
    snprintf(npy, sizeof npy, "%s/q.npy", dir);
    snprintf(trace, sizeof trace, "%s/trace.safetensors", dir);
    CHECK_INT_EQ(tappa_npy_write(npy, &a0, &err), TAPPA_OK);
    const char *names[2] = { "layer.0.q", "layer.1.q" };
    const tappa_array *arrays[2] = { &a0, &a1 };
    CHECK_INT_EQ(tappa_safetensors_write(trace, 2, names, arrays, &err), TAPPA_OK);

    int lines;
    const struct { const char *name; tappa_qsim_mode mode; } modes[] = {
        { "cosine", TAPPA_QSIM_COSINE }, { "dot", TAPPA_QSIM_DOT }, { "pearson", TAPPA_QSIM_PEARSON },
        { "euclidean", TAPPA_QSIM_EUCLIDEAN }, { "l1", TAPPA_QSIM_L1 }, { "rbf", TAPPA_QSIM_RBF },
        { "angular", TAPPA_QSIM_ANGULAR }, { "kl", TAPPA_QSIM_KL },
    };
    const double sigma = 16; /* an rbf width near the pair distances of these queries */
    for (int m = 0; m < 8; m++) {
        snprintf(cmd, sizeof cmd, "%s qsim %s --mode %s --sigma %g --device '%s' --json", tappa, npy,
                 modes[m].name, sigma, device);
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
        cJSON *j = cli_read_json(dir);
        CHECK(j != NULL);
        if (j) {
            CHECK(!strcmp(cJSON_GetObjectItem(j, "mode")->valuestring, modes[m].name));
            check_heads(j, v0, T, modes[m].mode, sigma);
        }
        cJSON_Delete(j);
    }
    /* The trace, over the window: one entry per layer. */
    snprintf(cmd, sizeof cmd, "%s qsim %s --window %d --device '%s' --json", tappa, trace, W, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    cJSON *j = cli_read_json(dir);
    const cJSON *layers = j ? cJSON_GetObjectItem(j, "layers") : NULL;
    CHECK_INT_EQ(cJSON_GetArraySize(layers), 2);
    if (cJSON_GetArraySize(layers) == 2) {
        check_heads(cJSON_GetArrayItem(layers, 0), v0, W, TAPPA_QSIM_COSINE, 1.0);
        check_heads(cJSON_GetArrayItem(layers, 1), v1, W, TAPPA_QSIM_COSINE, 1.0);
    }
    cJSON_Delete(j);

    /* Bad input: one line, exit 1 (data) or 2 (usage). */
    snprintf(cmd, sizeof cmd, "%s qsim %s --window %d --device '%s'", tappa, npy, T + 1, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);
    snprintf(cmd, sizeof cmd, "%s qsim %s --mode euclid", tappa, npy);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 2);
    CHECK_INT_EQ(lines, 1);
    const char *other[1] = { "hidden.0" };
    CHECK_INT_EQ(tappa_safetensors_write(trace, 1, other, arrays, &err), TAPPA_OK);
    snprintf(cmd, sizeof cmd, "%s qsim %s --device '%s'", tappa, trace, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);

    tappa_array_free(&a0);
    tappa_array_free(&a1);
    const char *const files[] = { "q.npy", "trace.safetensors" };
    cli_test_cleanup(dir, files, sizeof files / sizeof files[0]);
    return check_exit("test_qsim_cli");
}
