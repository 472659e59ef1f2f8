/* The CPU backend through the public API: context selection, tensors, every op
 * through the conformance harness, and the one-line errors for bad calls. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "conform.h"
#include "rng.h"
#include "tappa/tappa.h"

static void test_context(void)
{
    tappa_error err = { 0 };
    tappa_context *ctx = NULL;
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = "cpu";
    CHECK_INT_EQ(tappa_context_create(&p, &ctx, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_context_backend(ctx), TAPPA_BACKEND_CPU);
    CHECK(tappa_context_device(ctx) == NULL);
    tappa_context_destroy(&ctx);
    CHECK(ctx == NULL);
    tappa_context_destroy(&ctx); /* NULL is fine */
}

/* A context on the CPU backend (a failed check if it cannot be made). */
static tappa_context *open_cpu(void)
{
    tappa_error err = { 0 };
    tappa_context *ctx = NULL;
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = "cpu";
    CHECK_INT_EQ(tappa_context_create(&p, &ctx, &err), TAPPA_OK);
    return ctx;
}

static void test_tensors_and_errors(void)
{
    tappa_error err = { 0 };
    tappa_context *ctx = open_cpu();
    int64_t shape[2] = { 3, 4 }, other[2] = { 4, 3 }, odd[2] = { 3, 5 };
    tappa_tensor *a = NULL, *b = NULL, *c = NULL, *o = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, shape, &a, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, other, &b, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, odd, &o, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_bytes(a), 48);
    float host[12];
    for (int i = 0; i < 12; i++) host[i] = (float)i;
    CHECK_INT_EQ(tappa_tensor_upload(a, host, sizeof host, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_upload(a, host, 8, &err), TAPPA_ERR_INVALID_ARG);
    float back[12];
    CHECK_INT_EQ(tappa_tensor_download(a, back, sizeof back, &err), TAPPA_OK);
    CHECK(!memcmp(host, back, sizeof host));
    CHECK_INT_EQ(tappa_tensor_fill_bits(a, 0x7fc00000u, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_download(a, back, sizeof back, &err), TAPPA_OK);
    CHECK(isnan(back[0]) && isnan(back[11]));

    CHECK_INT_EQ(tappa_softmax(a, b, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "shapes differ");
    tappa_rope_params rp = { TAPPA_ROPE_HALF, 10000, 0, NULL, 1 };
    CHECK_INT_EQ(tappa_rope(o, o, &rp, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "D even");
    rp.base = 0.5;
    CHECK_INT_EQ(tappa_rope(a, a, &rp, &err), TAPPA_ERR_INVALID_ARG);
    int64_t q3[3] = { 2, 4, 8 }, k3[3] = { 3, 4, 8 }, os[2] = { 2, 4 };
    tappa_tensor *q = NULL, *k = NULL, *m = NULL, *v = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, q3, &q, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, k3, &k, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, os, &m, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, os, &v, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_window_stats(q, k, 2, NULL, m, v, NULL, NULL, &err), TAPPA_ERR_INVALID_ARG); /* 2 % 3 != 0 */
    CHECK_INT_EQ(tappa_window_stats(q, q, 5, NULL, m, v, NULL, NULL, &err), TAPPA_ERR_INVALID_ARG); /* window > N */
    CHECK_CONTAINS(err.message, "window");
    CHECK_INT_EQ(tappa_window_stats(q, q, 2, NULL, m, v, m, NULL, &err), TAPPA_ERR_INVALID_ARG); /* h2o needs lse */
    CHECK_CONTAINS(err.message, "lse");
    CHECK_INT_EQ(tappa_qsim(q, a, TAPPA_QSIM_COSINE, &err), TAPPA_ERR_INVALID_ARG);

    /* Absurd shapes fail before allocating. */
    int64_t huge[3] = { (int64_t)1 << 40, (int64_t)1 << 40, 4 };
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, huge, &c, &err), TAPPA_ERR_LIMIT);
    CHECK(c == NULL);
    int64_t negative[1] = { -4 };
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 1, negative, &c, &err), TAPPA_ERR_LIMIT);

    tappa_tensor *all[] = { a, b, o, q, k, m, v };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tappa_tensor_destroy(&all[i]);
    tappa_context_destroy(&ctx);
}

/* The fused ops refuse what their unfused parts refuse, in one line each,
 * and a refused append leaves the layer as it was. */
static void test_fused_op_errors(void)
{
    tappa_error err = { 0 };
    tappa_context *ctx = open_cpu();
    static float w[16 * 32];
    tappa_matrix *g = NULL, *u = NULL, *wide = NULL;
    CHECK_INT_EQ(tappa_matrix_create(ctx, TAPPA_GGML_F32, 16, 16, w, &g, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_matrix_create(ctx, TAPPA_GGML_F32, 16, 16, w, &u, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_matrix_create(ctx, TAPPA_GGML_F32, 16, 32, w, &wide, &err), TAPPA_OK);
    int64_t xs[2] = { 1, 16 }, bad_xs[2] = { 1, 12 }, ys[2] = { 1, 16 };
    tappa_tensor *x = NULL, *bad_x = NULL, *y = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, xs, &x, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, bad_xs, &bad_x, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, ys, &y, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_fill_bits(x, 0x3f800000u, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_matvec_swiglu(g, wide, x, y, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "alike");
    CHECK_INT_EQ(tappa_matvec_swiglu(g, u, bad_x, y, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_INT_EQ(tappa_matvec_swiglu(g, u, x, y, &err), TAPPA_OK);

    /* The norm-folding ops: h of the wrong size, rows that do not match the
     * residual stream, more than 8 prescaled tokens. */
    int64_t nine_s[2] = { 9, 16 }, rope9_s[3] = { 1, 9, 16 };
    tappa_tensor *nw = NULL, *h = NULL, *nine = NULL, *rope9 = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 1, &ys[1], &nw, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, ys, &h, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, nine_s, &nine, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, rope9_s, &rope9, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_fill_bits(nw, 0x3f800000u, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_fill_bits(nine, 0x3f800000u, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_fill_bits(rope9, 0x3f800000u, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_matvec_norm_out(g, x, y, nw, bad_x, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "matvec_norm_out");
    CHECK_INT_EQ(tappa_matvec_norm_out(g, x, y, nw, h, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_swiglu_prescaled(y, y, nine, 1e-5, y, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "swiglu_prescaled");
    CHECK_INT_EQ(tappa_swiglu_prescaled(y, y, x, -1, y, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_INT_EQ(tappa_swiglu_prescaled(y, h, x, 1e-5, y, &err), TAPPA_OK);
    tappa_rope_params rp9 = { TAPPA_ROPE_HALF, 10000, 0, NULL, 1 };
    CHECK_INT_EQ(tappa_rope_prescaled(rope9, rope9, &rp9, nine, 1e-5, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "N <= 8");
    tappa_tensor *fold[] = { nw, h, nine, rope9 };
    for (size_t i = 0; i < sizeof fold / sizeof fold[0]; i++) tappa_tensor_destroy(&fold[i]);

    tappa_kv_cache *c = NULL, *odd = NULL;
    CHECK_INT_EQ(tappa_kv_cache_create(ctx, 1, 2, 3, 8, TAPPA_F32, &c, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_kv_cache_create(ctx, 1, 2, 3, 5, TAPPA_F32, &odd, &err), TAPPA_OK);
    int64_t ks[3] = { 2, 2, 8 }, odd_s[3] = { 2, 1, 5 }, heads_s[3] = { 3, 1, 8 };
    tappa_tensor *k = NULL, *ko = NULL, *kh = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, ks, &k, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, odd_s, &ko, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, heads_s, &kh, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_fill_bits(k, 0x3f800000u, &err), TAPPA_OK);
    tappa_rope_params rp = { TAPPA_ROPE_HALF, 10000, 5, NULL, 1 };
    CHECK_INT_EQ(tappa_kv_cache_append_rope(odd, 0, ko, ko, &rp, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "even head dim");
    CHECK_INT_EQ(tappa_kv_cache_append_rope(c, 0, kh, kh, &rp, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "append needs");
    rp.base = 0.5;
    CHECK_INT_EQ(tappa_kv_cache_append_rope(c, 0, k, k, &rp, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "RoPE base");
    rp.base = 10000;
    int64_t resid_s[2] = { 3, 4 };
    tappa_tensor *resid3 = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, resid_s, &resid3, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_kv_cache_append_rope_prescaled(c, 0, k, k, &rp, resid3, 1e-5, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "prescaled append");
    CHECK_INT_EQ(tappa_kv_cache_length(c, 0), 0);
    tappa_tensor_destroy(&resid3);
    CHECK_INT_EQ(tappa_kv_cache_append_rope(c, 0, k, k, &rp, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_kv_cache_append_rope(c, 0, k, k, &rp, &err), TAPPA_ERR_LIMIT); /* 2 + 2 > 3 */
    CHECK_CONTAINS(err.message, "full");
    CHECK_INT_EQ(tappa_kv_cache_length(c, 0), 2);
    CHECK_INT_EQ(tappa_kv_cache_length(odd, 0), 0);

    tappa_kv_cache_destroy(&c);
    tappa_kv_cache_destroy(&odd);
    tappa_tensor *all[] = { x, bad_x, y, k, ko, kh };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tappa_tensor_destroy(&all[i]);
    tappa_matrix_destroy(&g);
    tappa_matrix_destroy(&u);
    tappa_matrix_destroy(&wide);
    tappa_context_destroy(&ctx);
}

static void test_conformance_on_cpu(void)
{
    tappa_error err = { 0 };
    tappa_context *ctx = open_cpu();
    conform_options opt = { .seed = rng_fresh_seed(), .op = NULL, .large = false };
    printf("test_cpu_backend: conformance seed %llu\n", (unsigned long long)opt.seed);
    conform_result *res = NULL;
    size_t n = 0;
    CHECK_INT_EQ(conform_run(ctx, &opt, NULL, NULL, &res, &n, &err), TAPPA_OK);
    CHECK(n >= 30);
    for (size_t i = 0; i < n; i++) {
        if (!res[i].pass)
            fprintf(stderr, "case %s %s %s: error %g > %g %s\n", res[i].op, res[i].shape, res[i].dtype,
                    res[i].error, res[i].tolerance, res[i].note);
        CHECK(res[i].pass);
    }
    free(res);
    tappa_context_destroy(&ctx);
}

int main(void)
{
    test_context();
    test_tensors_and_errors();
    test_fused_op_errors();
    test_conformance_on_cpu();
    return check_exit("test_cpu_backend");
}
