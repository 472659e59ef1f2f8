/* Vulkan tensors on the test device ($TAPPA_TEST_DEVICE, default lavapipe):
 * a tensor above the 128 MiB binding minimum split into segments and moved
 * through an op, ops across forced small bindings, poisoning, and device
 * selection errors, f16 prefill and an f16 prompt chunk's matvec on each
 * path the device has, a recording submitted in parts (tvk_flush), copies
 * through the staging buffer, and kernels at a pinned subgroup size.
 * Runs under the validation layer; any message fails.
 * Exits 77 (skipped) when the device does not exist. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "conform.h"
#include "rng.h"
#include "core/internal.h"
#include "ops/ops_internal.h"
#include "tappa/tappa.h"

static const char *test_device(void)
{
    const char *d = getenv("TAPPA_TEST_DEVICE");
    return d && *d ? d : "llvmpipe";
}

static tappa_context *open_device_limits(uint64_t max_binding_bytes, uint32_t max_shared_bytes)
{
    tappa_error err = { 0 };
    tappa_context *ctx = NULL;
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = test_device();
    p.validate = true;
    p.max_binding_bytes = max_binding_bytes;
    p.max_shared_memory_bytes = max_shared_bytes;
    tappa_status st = tappa_context_create(&p, &ctx, &err);
    if (st == TAPPA_ERR_NO_DEVICE) {
        printf("no Vulkan device '%s' (%s): skipped\n", p.device, err.message);
        exit(77);
    }
    CHECK_INT_EQ(st, TAPPA_OK);
    if (st) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    return ctx;
}

static tappa_context *open_device(uint64_t max_binding_bytes)
{
    return open_device_limits(max_binding_bytes, 0);
}

static void check_no_validation(tappa_context *ctx)
{
    size_t n = tappa_context_validation_count(ctx);
    for (size_t i = 0; i < n && tappa_context_validation_message(ctx, i); i++)
        fprintf(stderr, "validation: %s\n", tappa_context_validation_message(ctx, i));
    CHECK_INT_EQ(n, 0);
}

/* A tensor larger than one binding: split, round-tripped, and copied by the
 * copy op segment by segment, compared bit for bit. */
static void test_large_tensor(rng *r)
{
    tappa_context *ctx = open_device(0);
    tappa_error err = { 0 };
    uint64_t limit = tappa_context_max_binding_bytes(ctx);
    printf("binding limit %llu bytes on %s\n", (unsigned long long)limit, tappa_context_name(ctx));
    /* 1.25 x the limit (at most 160 MiB on lavapipe), rows of 1000 floats. */
    int64_t cols = 1000;
    int64_t rows = (int64_t)(limit * 5 / 4 / (uint64_t)(cols * 4)) + 1;
    if (rows * cols * 4 > ((int64_t)1 << 31)) rows = ((int64_t)1 << 31) / (cols * 4);
    int64_t shape[2] = { rows, cols };
    size_t n = (size_t)(rows * cols);
    uint32_t *host = malloc(n * 4), *back = malloc(n * 4);
    CHECK(host && back);
    for (size_t i = 0; i < n; i++) host[i] = (uint32_t)rng_next(r) & 0x3fffffffu; /* finite floats */
    tappa_tensor *src = NULL, *dst = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, shape, &src, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, shape, &dst, &err), TAPPA_OK);
    if (src && dst) {
        printf("large tensor: %lld x %lld f32 = %.1f MiB in %zu segments\n", (long long)rows,
               (long long)cols, n * 4.0 / (1 << 20), tappa_tensor_segments(src));
        if ((uint64_t)n * 4 > limit) CHECK(tappa_tensor_segments(src) >= 2);
        CHECK_INT_EQ(tappa_tensor_upload(src, host, n * 4, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_tensor_fill_bits(dst, 0x7fc00000u, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_copy(src, dst, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_tensor_download(dst, back, n * 4, &err), TAPPA_OK);
        size_t mismatches = 0;
        for (size_t i = 0; i < n; i++) mismatches += host[i] != back[i];
        CHECK_INT_EQ(mismatches, 0);
    }
    tappa_tensor_destroy(&src);
    tappa_tensor_destroy(&dst);
    free(host);
    free(back);
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* Every op with bindings forced down so that mid-sized tensors cross segment
 * boundaries; results must still match the reference. Attention, window
 * statistics, token scores and the patterns ops get 2 MiB: they need one
 * head's keys (decode's partials, a KV head's score rows, a head's sampled
 * rows) in one binding, which 512 KiB cannot hold at these shapes. */
static size_t run_split(const char *op, uint64_t binding, uint64_t seed, size_t *cases)
{
    tappa_context *ctx = open_device(binding);
    tappa_error err = { 0 };
    conform_options opt = { .seed = seed, .op = op, .large = false };
    conform_result *res = NULL;
    size_t n = 0, split = 0;
    CHECK_INT_EQ(conform_run(ctx, &opt, NULL, NULL, &res, &n, &err), TAPPA_OK);
    for (size_t i = 0; i < n; i++) {
        if (res[i].unsupported) continue;
        split += res[i].segments > 1;
        if (!res[i].pass)
            fprintf(stderr, "split case %s %s %s: error %g (tol %g) %s\n", res[i].op, res[i].shape,
                    res[i].dtype, res[i].error, res[i].tolerance, res[i].note);
        CHECK(res[i].pass);
    }
    *cases += n;
    free(res);
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
    return split;
}

static void test_forced_splits(uint64_t seed)
{
    size_t cases = 0, split = 0;
    for (size_t i = 0; conform_ops[i]; i++)
    {
        bool per_head = !strcmp(conform_ops[i], "attention") || !strcmp(conform_ops[i], "window_stats") ||
                        !strcmp(conform_ops[i], "token_scores") || !strcmp(conform_ops[i], "attention_rows") ||
                        !strcmp(conform_ops[i], "pattern_profiles") || !strcmp(conform_ops[i], "rope_energy");
        split += run_split(conform_ops[i], per_head ? 2 << 20 : 512 << 10, seed, &cases);
    }
    printf("forced small bindings: %zu cases, %zu of them split\n", cases, split);
    CHECK(split >= 8);
}

static void test_selection_errors(void)
{
    tappa_error err = { 0 };
    tappa_context *ctx = NULL;
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = "no-such-gpu-xyzzy";
    CHECK_INT_EQ(tappa_context_create(&p, &ctx, &err), TAPPA_ERR_NO_DEVICE);
    CHECK(ctx == NULL);
    CHECK_CONTAINS(err.message, "no-such-gpu-xyzzy");
    p.device = "9999";
    CHECK_INT_EQ(tappa_context_create(&p, &ctx, &err), TAPPA_ERR_NO_DEVICE);
    CHECK_CONTAINS(err.message, "9999");
}

static void test_probe(void)
{
    tappa_context *ctx = open_device(0);
    const tappa_device_info *d = tappa_context_device(ctx);
    CHECK(d != NULL);
    if (d) {
        CHECK(d->max_storage_buffer_range_bytes >= (128u << 20));
        CHECK(d->max_shared_memory_bytes >= 16384);
        CHECK(d->max_workgroup_invocations >= 128);
        CHECK(d->subgroup_size >= 1);
        CHECK(d->timestamp_period_ns > 0);
    }
    tappa_context_destroy(&ctx);
}

/* The messenger really reports: an invalid call (a zero-sized buffer) must be
 * counted, or "no validation messages" would prove nothing. */
static void test_validation_catches(void)
{
    tappa_context *ctx = open_device(0);
    tvk_device *dev = ctx->vk;
    VkBufferCreateInfo bad = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = 0,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
    };
    VkBuffer buffer = VK_NULL_HANDLE;
    VkResult r = dev->vk.vkCreateBuffer(dev->device, &bad, NULL, &buffer);
    if (r == VK_SUCCESS && buffer) dev->vk.vkDestroyBuffer(dev->device, buffer, NULL);
    CHECK(tappa_context_validation_count(ctx) >= 1);
    CHECK(tappa_context_validation_message(ctx, 0) != NULL);
    tappa_context_destroy(&ctx);
}

/* Pipelines go to the on-disk cache under $XDG_CACHE_HOME/tappa when a
 * context is destroyed, and a later context starts from it. */
static void test_pipeline_cache(void)
{
    char dir[] = "/tmp/tappa-cache-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *old = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
    setenv("XDG_CACHE_HOME", dir, 1);
    for (int round = 0; round < 2; round++) {
        tappa_context *ctx = open_device(0);
        tappa_error err = { 0 };
        int64_t shape[2] = { 4, 64 };
        tappa_tensor *x = NULL;
        CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, shape, &x, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_tensor_fill_bits(x, 0x3f800000u, &err), TAPPA_OK); /* 1.0f */
        CHECK_INT_EQ(tappa_softmax(x, x, &err), TAPPA_OK);
        float out[4 * 64];
        CHECK_INT_EQ(tappa_tensor_download(x, out, sizeof out, &err), TAPPA_OK);
        CHECK_NEAR(out[0], 1.0 / 64, 1e-7);
        tappa_tensor_destroy(&x);
        check_no_validation(ctx);
        char path[512];
        snprintf(path, sizeof path, "%s/tappa", dir);
        tappa_context_destroy(&ctx);
        DIR *folder = opendir(path);
        CHECK(folder != NULL);
        size_t files = 0;
        for (struct dirent *e; folder && (e = readdir(folder));) {
            if (strncmp(e->d_name, "pipelines-", 10)) continue;
            char file[1024];
            struct stat sb;
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            CHECK(stat(file, &sb) == 0 && sb.st_size > 0);
            remove(file);
            files++;
        }
        if (folder) closedir(folder);
        CHECK_INT_EQ(files, 1);
        if (round == 1) rmdir(path);
    }
    rmdir(dir);
    if (old) setenv("XDG_CACHE_HOME", old, 1);
    else unsetenv("XDG_CACHE_HOME");
    free(old);
}

/* Run the conformance cases of op (NULL: every op) on ctx and check that
 * there are some and that each passes; label names the setting in failures.
 * Returns the case count. */
static size_t conform_all_pass(tappa_context *ctx, uint64_t seed, const char *op, const char *label)
{
    tappa_error err = { 0 };
    conform_options opt = { .seed = seed, .op = op, .large = false };
    conform_result *res = NULL;
    size_t n = 0;
    CHECK_INT_EQ(conform_run(ctx, &opt, NULL, NULL, &res, &n, &err), TAPPA_OK);
    CHECK(n > 0);
    for (size_t i = 0; i < n; i++) {
        if (!res[i].pass)
            fprintf(stderr, "%s case %s %s %s: error %g (tol %g) %s\n", label, res[i].op, res[i].shape,
                    res[i].dtype, res[i].error, res[i].tolerance, res[i].note);
        CHECK(res[i].pass);
    }
    free(res);
    return n;
}

/* Every op with shared memory capped at Vulkan's guaranteed 16 KiB: the tile
 * sizes that devices at the minimum get must compute the same results. */
static void test_minimum_shared_memory(uint64_t seed)
{
    tappa_context *ctx = open_device_limits(0, 16384);
    CHECK_INT_EQ(tappa_context_device(ctx)->max_shared_memory_bytes, 16384);
    printf("16 KiB shared memory: %zu cases\n", conform_all_pass(ctx, seed, NULL, "16 KiB"));
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* matvec's shared-memory tree, the path of devices without subgroup
 * arithmetic (lavapipe has it, so the subgroup path runs everywhere else). */
static void test_matvec_without_subgroups(uint64_t seed)
{
    tappa_context *ctx = open_device(0);
    ctx->vk->info.subgroup_arithmetic = false;
    printf("matvec without subgroup arithmetic: %zu cases\n", conform_all_pass(ctx, seed, "matvec", "matvec tree"));
    /* The gated product falls back to both products and the SwiGLU step. */
    printf("matvec_swiglu without subgroup arithmetic: %zu cases\n",
           conform_all_pass(ctx, seed, "matvec_swiglu", "matvec_swiglu unfused"));
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* A tensor of doubles rounded to dt, so the reference sees the device's values. */
/* ||got - ref|| / ||ref|| (NaN when got holds one). */
static double rel_error(const float *got, const double *ref, size_t n)
{
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        diff += (got[i] - ref[i]) * (got[i] - ref[i]);
        norm += ref[i] * ref[i];
    }
    return sqrt(diff / norm);
}

static tappa_tensor *tensor_of(tappa_context *ctx, tappa_dtype dt, int ndim, const int64_t *shape,
                               double *v)
{
    tappa_array a;
    tappa_error err;
    tappa_tensor *t = NULL;
    CHECK_INT_EQ(tappa_array_alloc(&a, dt, ndim, shape, &err), TAPPA_OK);
    for (size_t i = 0; i < tappa_array_numel(&a); i++) {
        if (dt == TAPPA_F16) {
            ((uint16_t *)a.data)[i] = tappa_f32_to_f16((float)v[i]);
            v[i] = tappa_f16_to_f32(((uint16_t *)a.data)[i]);
        } else {
            ((float *)a.data)[i] = (float)v[i];
            v[i] = (float)v[i];
        }
    }
    CHECK_INT_EQ(tappa_tensor_from_array(ctx, &a, &t, &err), TAPPA_OK);
    tappa_array_free(&a);
    return t;
}

/* The compression issue's promise: tappa_compress fills a KV cache and decode
 * runs on it in place. Two layers compressed with tappa, a new token appended
 * to each, and its decode output compared with the reference attention over
 * the kept rows, the window and the new token. */
static void test_compress_then_decode(rng *r)
{
    enum { LAYERS = 2, HQ = 8, HKV = 2, N = 700, D = 64, C = 128, W = 16 };
    tappa_context *ctx = open_device(0);
    tappa_error err = { 0 };
    static double q[LAYERS][HQ * N * D], k[LAYERS][HKV * N * D], v[LAYERS][HKV * N * D];
    tappa_tensor *tq[LAYERS], *tk[LAYERS], *tv[LAYERS];
    int64_t qs[3] = { HQ, N, D }, ks[3] = { HKV, N, D };
    for (int l = 0; l < LAYERS; l++) {
        for (int i = 0; i < HQ * N * D; i++) q[l][i] = 0.5 * rng_normal(r) + (l ? 0.0 : 1.0);
        for (int i = 0; i < HKV * N * D; i++) k[l][i] = rng_normal(r);
        for (int i = 0; i < HKV * N * D; i++) v[l][i] = rng_normal(r);
        tq[l] = tensor_of(ctx, TAPPA_F32, 3, qs, q[l]);
        tk[l] = tensor_of(ctx, TAPPA_F16, 3, ks, k[l]);
        tv[l] = tensor_of(ctx, TAPPA_F16, 3, ks, v[l]);
    }
    tappa_compress_params p;
    tappa_compress_defaults(&p);
    p.cache_size = C;
    p.window = W;
    p.extra = 1;
    tappa_kv_cache *cache = NULL;
    tappa_compress_layer report[LAYERS];
    CHECK_INT_EQ(tappa_compress(&p, LAYERS, (const tappa_tensor *const *)tq, (const tappa_tensor *const *)tk,
                                (const tappa_tensor *const *)tv, NULL, &cache, report, &err), TAPPA_OK);
    if (!cache) {
        fprintf(stderr, "compress: %s\n", err.message);
        return;
    }
    CHECK_INT_EQ(report[0].budget + report[1].budget, (C - W) * LAYERS);
    for (int l = 0; l < LAYERS; l++) {
        int64_t b = report[l].budget, len = b + W + 1;
        CHECK_INT_EQ(tappa_kv_cache_length(cache, l), b + W);
        double qn[HQ * D], kn[HKV * D], vn[HKV * D];
        for (int i = 0; i < HQ * D; i++) qn[i] = rng_normal(r);
        for (int i = 0; i < HKV * D; i++) kn[i] = rng_normal(r);
        for (int i = 0; i < HKV * D; i++) vn[i] = rng_normal(r);
        int64_t q1[3] = { HQ, 1, D }, k1[3] = { HKV, 1, D }, o1[3] = { HQ, 1, D };
        tappa_tensor *tqn = tensor_of(ctx, TAPPA_F32, 3, q1, qn), *tkn = tensor_of(ctx, TAPPA_F16, 3, k1, kn);
        tappa_tensor *tvn = tensor_of(ctx, TAPPA_F16, 3, k1, vn), *out = NULL;
        CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, o1, &out, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_tensor_fill_bits(out, 0x7fc00000u, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_kv_cache_append(cache, l, tkn, tvn, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_attention_decode(tqn, cache, l, out, NULL, &err), TAPPA_OK);
        /* Reference: the kept rows in positional order, the window, the new token. */
        static double kc[HKV * N * D], vc[HKV * N * D];
        for (int h = 0; h < HKV; h++)
            for (int64_t i = 0; i < len; i++) {
                const double *ks_ = i < b ? k[l] + (h * N + report[l].keep[h * b + i]) * D
                                  : i < b + W ? k[l] + (h * N + N - W + (i - b)) * D : kn + h * D;
                const double *vs_ = i < b ? v[l] + (h * N + report[l].keep[h * b + i]) * D
                                  : i < b + W ? v[l] + (h * N + N - W + (i - b)) * D : vn + h * D;
                memcpy(kc + (h * len + i) * D, ks_, sizeof(double) * D);
                memcpy(vc + (h * len + i) * D, vs_, sizeof(double) * D);
            }
        double ref[HQ * D];
        float got[HQ * D];
        tappa_ref_attention(qn, kc, vc, ref, NULL, HQ, HKV, 1, (size_t)len, D, true);
        CHECK_INT_EQ(tappa_tensor_download(out, got, sizeof got, &err), TAPPA_OK);
        double rel = rel_error(got, ref, HQ * D);
        printf("compress then decode: layer %d keeps %lld + %d, decode error %.2e\n", l, (long long)b, W, rel);
        CHECK(rel <= 2e-3);
        tappa_tensor *all[] = { tqn, tkn, tvn, out };
        for (size_t i = 0; i < 4; i++) tappa_tensor_destroy(&all[i]);
    }
    tappa_compress_report_free(report, LAYERS);
    tappa_kv_cache_destroy(&cache);
    for (int l = 0; l < LAYERS; l++) {
        tappa_tensor_destroy(&tq[l]);
        tappa_tensor_destroy(&tk[l]);
        tappa_tensor_destroy(&tv[l]);
    }
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

typedef struct decode_args {
    const tappa_tensor *q, *k, *v;
    int64_t n;
    tappa_tensor *out, *lse;
} decode_args;

static tappa_status record_decode(void *p, tappa_error *err)
{
    decode_args *a = p;
    return attention_decode_record(a->q, a->k, a->v, a->n, a->out, a->lse, err);
}

/* A model session prepares decode's scratch once, for its capacity, then
 * decodes at every shorter length. The chunk size is rounded to whole steps,
 * so a shorter context can need more partials than the longest: with 8 KV
 * heads, 8129 keys take 64 partials per head where 8193 take 52. Each length
 * must decode right after the one preparation. */
static void test_decode_after_prepare(rng *r)
{
    enum { HQ = 32, HKV = 8, D = 128, CAP = 8193 };
    tappa_context *ctx = open_device(0);
    tappa_error err = { 0 };
    static double q[HQ * D], k[HKV * CAP * D], v[HKV * CAP * D], kc[HKV * CAP * D], vc[HKV * CAP * D];
    for (int i = 0; i < HQ * D; i++) q[i] = rng_normal(r);
    for (int i = 0; i < HKV * CAP * D; i++) k[i] = rng_normal(r), v[i] = rng_normal(r);
    int64_t qs[3] = { HQ, 1, D }, ks[3] = { HKV, CAP, D }, ls[2] = { HQ, 1 };
    tappa_tensor *tq = tensor_of(ctx, TAPPA_F32, 3, qs, q), *tk = tensor_of(ctx, TAPPA_F16, 3, ks, k);
    tappa_tensor *tv = tensor_of(ctx, TAPPA_F16, 3, ks, v), *out = NULL, *lse = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, qs, &out, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, ls, &lse, &err), TAPPA_OK);
    CHECK_INT_EQ(attention_decode_prepare(ctx, tq, tk, CAP, &err), TAPPA_OK);
    const int64_t lengths[3] = { 8129, 8160, CAP };
    for (int i = 0; i < 3; i++) {
        int64_t n = lengths[i];
        CHECK_INT_EQ(tappa_tensor_fill_bits(out, 0x7fc00000u, &err), TAPPA_OK);
        decode_args args = { tq, tk, tv, n, out, lse };
        CHECK_INT_EQ(op_submit(ctx->vk, record_decode, &args, &err), TAPPA_OK);
        for (int h = 0; h < HKV; h++) {
            memcpy(kc + (size_t)h * n * D, k + (size_t)h * CAP * D, sizeof(double) * (size_t)(n * D));
            memcpy(vc + (size_t)h * n * D, v + (size_t)h * CAP * D, sizeof(double) * (size_t)(n * D));
        }
        double ref[HQ * D];
        float got[HQ * D];
        tappa_ref_attention(q, kc, vc, ref, NULL, HQ, HKV, 1, (size_t)n, D, true);
        CHECK_INT_EQ(tappa_tensor_download(out, got, sizeof got, &err), TAPPA_OK);
        double rel = rel_error(got, ref, HQ * D);
        printf("decode at %lld keys after a prepare for %d: error %.2e\n", (long long)n, CAP, rel);
        CHECK(rel <= 2e-3); /* NaN fails too */
    }
    tappa_tensor *all[] = { tq, tk, tv, out, lse };
    for (size_t i = 0; i < 5; i++) tappa_tensor_destroy(&all[i]);
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* coopmat_layout_of on made-up probes: the tile layout NVIDIA's driver
 * reports (lane 4g + t holds columns 2t, 2t + 1, 2t + 8, 2t + 9 of row g,
 * then of row g + 8) and a row-major one reduce in registers, with the
 * constants the kernel takes; layouts the in-register softmax would get
 * wrong do not. */
static void test_coopmat_layout_check(void)
{
    static uint32_t probe[32 * COOPMAT_PROBE_STRIDE];
    uint32_t row_major[32 * COOPMAT_PROBE_STRIDE];
    for (uint32_t lane = 0; lane < 32; lane++) {
        uint32_t *e = probe + lane * COOPMAT_PROBE_STRIDE, g = lane / 4, t = lane % 4;
        e[0] = row_major[lane * COOPMAT_PROBE_STRIDE] = 8;
        for (uint32_t i = 0; i < 8; i++) {
            uint32_t row = g + 8 * (i / 4), col = 2 * t + i % 2 + 8 * ((i / 2) % 2);
            e[1 + i] = row * 16 + col;
            row_major[lane * COOPMAT_PROBE_STRIDE + 1 + i] = lane * 8 + i;
        }
    }
    coopmat_layout c = { 0, 0, 0 };
    CHECK(coopmat_layout_of(probe, &c));
    CHECK_INT_EQ(c.row_lanes, 4);
    CHECK_INT_EQ(c.slots, 0xf0);          /* elements 4-7 on row g + 8 */
    CHECK_INT_EQ(c.cols, 0x98109810u);    /* columns 0 1 8 9 0 1 8 9 past the first */
    CHECK(coopmat_layout_of(row_major, &c));
    CHECK_INT_EQ(c.row_lanes, 2);
    CHECK_INT_EQ(c.slots, 0);
    CHECK_INT_EQ(c.cols, 0x76543210u);
    uint32_t bad[32 * COOPMAT_PROBE_STRIDE];
    /* Lanes 1 and 4 swapped: row 0's lanes are no longer an aligned group. */
    memcpy(bad, probe, sizeof bad);
    memcpy(bad + 1 * COOPMAT_PROBE_STRIDE, probe + 4 * COOPMAT_PROBE_STRIDE, COOPMAT_PROBE_STRIDE * 4);
    memcpy(bad + 4 * COOPMAT_PROBE_STRIDE, probe + 1 * COOPMAT_PROBE_STRIDE, COOPMAT_PROBE_STRIDE * 4);
    CHECK(!coopmat_layout_of(bad, &c));
    /* Lane 1 lists row 8 first: its slots disagree with lane 0's. */
    memcpy(bad, probe, sizeof bad);
    uint32_t *e = bad + 1 * COOPMAT_PROBE_STRIDE;
    uint32_t first = e[1];
    e[1] = e[5], e[5] = first;
    CHECK(!coopmat_layout_of(bad, &c));
    /* Three rows in one lane (element 5 traded between lanes 0 and 8). */
    memcpy(bad, probe, sizeof bad);
    uint32_t traded = bad[1 + 5];
    bad[1 + 5] = bad[8 * COOPMAT_PROBE_STRIDE + 1 + 5];
    bad[8 * COOPMAT_PROBE_STRIDE + 1 + 5] = traded;
    CHECK(!coopmat_layout_of(bad, &c));
    /* An element twice, and a count other than 8. */
    memcpy(bad, probe, sizeof bad);
    bad[1 + 1] = bad[1];
    CHECK(!coopmat_layout_of(bad, &c));
    memcpy(bad, probe, sizeof bad);
    bad[5 * COOPMAT_PROBE_STRIDE] = 16;
    CHECK(!coopmat_layout_of(bad, &c));
}

/* One f16 causal prefill (rows and keys not multiples of any tile) on each
 * path the device has, against the reference: the tensor-core kernel
 * (attention_prefill_coopmat.comp) where the device offers its tiles, then
 * the portable one with dev->coopmat off. A device without the tiles (like
 * lavapipe) must stay on the portable kernel even with dev->coopmat forced
 * on: selection follows what the device reports, not the switch alone. Head
 * dims 128 and 256 take the tensor-core kernel's two shapes (two row tiles
 * per subgroup and 64-key tiles; one and 32). */
static void test_prefill_paths(rng *r)
{
    enum { HQ = 8, HKV = 2, N = 333, DMAX = 256 };
    tappa_context *ctx = open_device(0);
    tvk_device *dev = ctx->vk;
    tappa_error err = { 0 };
    static double q[HQ * N * DMAX], k[HKV * N * DMAX], v[HKV * N * DMAX], ref[HQ * N * DMAX];
    static float got[HQ * N * DMAX];
    bool offered = dev->coopmat;
    for (int64_t d = 128; d <= DMAX; d *= 2) {
        for (int i = 0; i < HQ * N * d; i++) q[i] = 1.5 * rng_normal(r);
        for (int i = 0; i < HKV * N * d; i++) k[i] = rng_normal(r), v[i] = rng_normal(r);
        int64_t qs[3] = { HQ, N, d }, ks[3] = { HKV, N, d };
        tappa_tensor *tq = tensor_of(ctx, TAPPA_F32, 3, qs, q), *tk = tensor_of(ctx, TAPPA_F16, 3, ks, k);
        tappa_tensor *tv = tensor_of(ctx, TAPPA_F16, 3, ks, v), *out = NULL;
        CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, qs, &out, &err), TAPPA_OK);
        tappa_ref_attention(q, k, v, ref, NULL, HQ, HKV, N, N, (size_t)d, true);
        for (int pass = 0; pass < 2; pass++) {
            dev->coopmat = pass == 0; /* first as offered (forced on), then the portable kernel */
            uint64_t before = dev->coopmat_dispatches;
            CHECK_INT_EQ(tappa_tensor_fill_bits(out, 0x7fc00000u, &err), TAPPA_OK);
            CHECK_INT_EQ(tappa_attention(tq, tk, tv, true, out, NULL, &err), TAPPA_OK);
            bool tensor_cores = dev->coopmat_dispatches != before;
            CHECK(tensor_cores == (pass == 0 && offered));
            CHECK_INT_EQ(tappa_tensor_download(out, got, HQ * N * d * sizeof(float), &err), TAPPA_OK);
            double rel = rel_error(got, ref, (size_t)(HQ * N * d));
            printf("f16 prefill d=%lld %s: error %.2e%s\n", (long long)d,
                   tensor_cores ? "attention_prefill_coopmat" : "attention_prefill", rel,
                   pass == 0 && !offered ? " (the device offers no tensor-core tiles)" : "");
            CHECK(rel <= 2e-3); /* NaN fails too */
        }
        dev->coopmat = offered;
        tappa_tensor *all[] = { tq, tk, tv, out };
        for (size_t i = 0; i < 4; i++) tappa_tensor_destroy(&all[i]);
    }
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* One f16 decode on each path the device has, against the reference, as for
 * prefill above: the tensor-core kernel (attention_decode_coopmat.comp) where
 * the device offers its tiles, then the portable one with dev->coopmat off;
 * lavapipe stays portable with dev->coopmat forced on. Once with whole
 * bindings, once with bindings of 2 MiB, so that each KV head's keys lie in
 * two bindings and decode takes a dispatch per piece. */
static void test_decode_paths(rng *r)
{
    enum { HQ = 8, HKV = 2, N = 9000, D = 128 };
    static double q[HQ * D], k[HKV * N * D], v[HKV * N * D], ref[HQ * D];
    float got[HQ * D];
    for (int i = 0; i < HQ * D; i++) q[i] = 1.5 * rng_normal(r);
    for (int i = 0; i < HKV * N * D; i++) k[i] = rng_normal(r), v[i] = rng_normal(r);
    const uint64_t bindings[2] = { 0, 2 << 20 };
    for (int b = 0; b < 2; b++) {
        tappa_context *ctx = open_device(bindings[b]);
        tvk_device *dev = ctx->vk;
        tappa_error err = { 0 };
        bool offered = dev->coopmat;
        int64_t qs[3] = { HQ, 1, D }, ks[3] = { HKV, N, D };
        tappa_tensor *tq = tensor_of(ctx, TAPPA_F32, 3, qs, q), *tk = tensor_of(ctx, TAPPA_F16, 3, ks, k);
        tappa_tensor *tv = tensor_of(ctx, TAPPA_F16, 3, ks, v), *out = NULL;
        CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 3, qs, &out, &err), TAPPA_OK);
        CHECK(bindings[b] == 0 || tappa_tensor_segments(tk) > (size_t)HKV);
        tappa_ref_attention(q, k, v, ref, NULL, HQ, HKV, 1, N, D, true); /* on the values as stored */
        for (int pass = 0; pass < 2; pass++) {
            dev->coopmat = pass == 0; /* first as offered (forced on), then the portable kernel */
            uint64_t before = dev->coopmat_dispatches;
            CHECK_INT_EQ(tappa_tensor_fill_bits(out, 0x7fc00000u, &err), TAPPA_OK);
            CHECK_INT_EQ(tappa_attention(tq, tk, tv, true, out, NULL, &err), TAPPA_OK);
            bool tensor_cores = dev->coopmat_dispatches != before;
            CHECK(tensor_cores == (pass == 0 && offered));
            CHECK_INT_EQ(tappa_tensor_download(out, got, sizeof got, &err), TAPPA_OK);
            double rel = rel_error(got, ref, HQ * D);
            printf("f16 decode, %zu segments of K: %s error %.2e%s\n", tappa_tensor_segments(tk),
                   tensor_cores ? "attention_decode_coopmat" : "attention_decode", rel,
                   pass == 0 && !offered ? " (the device offers no tensor-core tiles)" : "");
            CHECK(rel <= 2e-3); /* NaN fails too */
        }
        dev->coopmat = offered;
        tappa_tensor *all[] = { tq, tk, tv, out };
        for (size_t i = 0; i < 4; i++) tappa_tensor_destroy(&all[i]);
        check_no_validation(ctx);
        tappa_context_destroy(&ctx);
    }
}

typedef struct matvec_args {
    const tappa_matrix *m;
    const tappa_tensor *x, *bias;
    tappa_tensor *y;
    uint32_t tokens, head_dim, y_stride;
} matvec_args;

static tappa_status record_matvec(void *p, tappa_error *err)
{
    matvec_args *a = p;
    return matvec_record(a->m, a->x, a->tokens, a->bias, true, a->y, a->head_dim, a->y_stride, err);
}

/* A prompt chunk's projection as the model records it: 8 tokens of x
 * against f16 weights (rows not a multiple of 16), with bias, added to a
 * head-major y [rows / D, C, D] of a chunk of C > 8 tokens, on each path the
 * device has, against the reference: the tensor-core kernel
 * (matvec_coopmat.comp) where the device offers its tiles, then the portable
 * one. As for prefill, a device without the tiles (lavapipe) stays portable
 * with dev->coopmat forced on. Positions of tokens past 8 keep their values. */
static void test_matvec_paths(rng *r)
{
    enum { ROWS = 200, COLS = 1024, T = 8, D = 40, C = 10 };
    tappa_context *ctx = open_device(0);
    tvk_device *dev = ctx->vk;
    tappa_error err = { 0 };
    static uint16_t wh[ROWS * COLS];
    static double w[ROWS * COLS], x[C * COLS], bias[ROWS], y0[ROWS * C], ref[ROWS * C];
    static float got[ROWS * C];
    for (int i = 0; i < ROWS * COLS; i++) {
        wh[i] = tappa_f32_to_f16((float)(0.05 * rng_normal(r)));
        w[i] = tappa_f16_to_f32(wh[i]);
    }
    for (int i = 0; i < C * COLS; i++) x[i] = rng_normal(r);
    for (int i = 0; i < ROWS; i++) bias[i] = rng_normal(r);
    for (int i = 0; i < ROWS * C; i++) y0[i] = rng_normal(r);
    int64_t xs[2] = { C, COLS }, bs[1] = { ROWS }, ys[3] = { ROWS / D, C, D };
    tappa_tensor *tx = tensor_of(ctx, TAPPA_F32, 2, xs, x), *tb = tensor_of(ctx, TAPPA_F32, 1, bs, bias);
    tappa_tensor *ty = tensor_of(ctx, TAPPA_F32, 3, ys, y0);
    tappa_matrix *m = NULL;
    CHECK_INT_EQ(tappa_matrix_create(ctx, TAPPA_GGML_F16, ROWS, COLS, wh, &m, &err), TAPPA_OK);
    memcpy(ref, y0, sizeof ref);
    for (int t = 0; t < T; t++)
        for (int row = 0; row < ROWS; row++) {
            double acc = bias[row];
            for (int c = 0; c < COLS; c++) acc += w[row * COLS + c] * x[t * COLS + c];
            ref[((row / D) * C + t) * D + row % D] += acc;
        }
    bool offered = dev->coopmat;
    for (int pass = 0; pass < 2 && m; pass++) {
        dev->coopmat = pass == 0; /* first as offered (forced on), then the portable kernel */
        uint64_t before = dev->coopmat_dispatches;
        float start[ROWS * C];
        for (int i = 0; i < ROWS * C; i++) start[i] = (float)y0[i];
        CHECK_INT_EQ(tappa_tensor_upload(ty, start, sizeof start, &err), TAPPA_OK);
        matvec_args args = { m, tx, tb, ty, T, D, C };
        CHECK_INT_EQ(op_submit(dev, record_matvec, &args, &err), TAPPA_OK);
        bool tensor_cores = dev->coopmat_dispatches != before;
        CHECK(tensor_cores == (pass == 0 && offered));
        CHECK_INT_EQ(tappa_tensor_download(ty, got, sizeof got, &err), TAPPA_OK);
        size_t moved = 0;
        for (int i = 0; i < ROWS * C; i++) moved += i % (C * D) / D >= T && got[i] != start[i];
        CHECK_INT_EQ(moved, 0);
        double rel = rel_error(got, ref, ROWS * C);
        printf("f16 matvec of %d tokens %s: error %.2e%s\n", T, tensor_cores ? "matvec_coopmat" : "matvec", rel,
               pass == 0 && !offered ? " (the device offers no tensor-core tiles)" : "");
        /* x rounded to f16 on the tensor cores: SPEC.md's f16 tier, as in
         * case_matvec; the portable path computes in f32. */
        CHECK(rel <= (tensor_cores ? 2e-3 : 1e-5)); /* NaN fails too */
    }
    dev->coopmat = offered;
    tappa_matrix_destroy(&m);
    tappa_tensor *all[] = { tx, tb, ty };
    for (size_t i = 0; i < 3; i++) tappa_tensor_destroy(&all[i]);
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* How many of dev's pipelines run code at a required subgroup size. */
static int pinned_pipelines(const tvk_device *dev, const uint32_t *code)
{
    int n = 0;
    for (size_t i = 0; i < dev->n_pipelines; i++)
        n += dev->pipelines[i]->code == code && dev->pipelines[i]->subgroup_size == dev->info.subgroup_size;
    return n;
}

/* Where subgroup sizes vary (AMD 32-64, Intel 8-32), the kernels that assume
 * a size pin one at pipeline creation: with the device's range widened below
 * its real one, matvec, and decode where subgroups reach 16 lanes, still take
 * their subgroup variants at a required size, and match the reference. */
static void test_pinned_subgroups(uint64_t seed)
{
    tappa_context *ctx = open_device(0);
    tvk_device *dev = ctx->vk;
    if (!dev->info.compute_subgroup_size_pinning) {
        printf("pinned subgroups: %s cannot require a subgroup size; nothing to check\n", dev->info.name);
        tappa_context_destroy(&ctx);
        return;
    }
    dev->info.subgroup_min_size = 4;
    bool decode = dev->info.subgroup_size >= 16 && dev->info.subgroup_shuffle;
    conform_all_pass(ctx, seed, "matvec", "pinned");
    if (decode) conform_all_pass(ctx, seed, "attention", "pinned");
    int mv = pinned_pipelines(dev, tappa_spv_matvec_sg);
    int dec = pinned_pipelines(dev, tappa_spv_attention_decode_f32_sg) + pinned_pipelines(dev, tappa_spv_attention_decode_f16_sg);
    CHECK(mv > 0);
    if (decode) CHECK(dec > 0);
    printf("pinned subgroups of %u: matvec %d pipelines, decode %d%s\n", dev->info.subgroup_size, mv, dec,
           decode ? "" : " (subgroups under 16 lanes: decode takes its shared-memory variant)");
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* Uploads and downloads through the staging buffer, as on a discrete GPU
 * (lavapipe maps its tensors, so they are forced unmapped here): small
 * copies that reuse the kept staging buffer, one of several 64 MiB chunks
 * after which it is let go, and a small one again, all bit for bit. */
static void test_staged_copies(rng *r)
{
    tappa_context *ctx = open_device(0);
    tvk_device *dev = ctx->vk;
    dev->tensor_memory_mapped = false;
    tappa_error err = { 0 };
    const int64_t sizes[4] = { 1000, 4096, (int64_t)40 << 20, 333 }; /* f32 elements; 160 MiB: 3 chunks */
    for (int i = 0; i < 4; i++) {
        int64_t n = sizes[i];
        uint32_t *src = malloc(n * sizeof *src), *got = malloc(n * sizeof *got);
        for (int64_t j = 0; j < n; j++) src[j] = (uint32_t)rng_next(r);
        tappa_tensor *t = NULL;
        CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 1, &n, &t, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_tensor_upload(t, src, n * sizeof *src, &err), TAPPA_OK);
        memset(got, 0xff, n * sizeof *got);
        CHECK_INT_EQ(tappa_tensor_download(t, got, n * sizeof *got, &err), TAPPA_OK);
        CHECK_INT_EQ(memcmp(got, src, n * sizeof *src), 0);
        /* Kept for the next small copy; let go after a large one. */
        CHECK(n * 4 > (4 << 20) ? dev->staging.buffer == VK_NULL_HANDLE : dev->staging.bytes >= (VkDeviceSize)n * 4);
        tappa_tensor_destroy(&t);
        free(src);
        free(got);
    }
    printf("staged copies: 4 KB to 160 MiB through the kept staging buffer, bits kept\n");
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* A recording split by tvk_flush: a chain of dependent copies, each step
 * submitted on its own, past the end of the command-buffer ring (where
 * tvk_flush records on in place), must end with the first tensor's bits; a
 * recording abandoned after a flush leaves the device usable. */
/* Appends to a poisoned cache, twice: every head's new rows bit for bit at
 * the layer's length, every other position still poisoned; f32 and f16 rows
 * of whole words take the kv_append dispatch (one for K and V of all heads),
 * f16 rows of an odd dim the copy commands. */
static void test_kv_append(rng *r)
{
    tappa_context *ctx = open_device(0);
    tvk_device *dev = ctx->vk;
    tappa_error err = { 0 };
    enum { HKV = 3, CAP = 10 };
    const struct { tappa_dtype dt; int64_t d; bool dispatch; } cases[3] = {
        { TAPPA_F32, 8, true }, { TAPPA_F16, 8, true }, { TAPPA_F16, 5, false } };
    const int64_t appends[2] = { 4, 2 };
    for (int c = 0; c < 3; c++) {
        size_t esize = cases[c].dt == TAPPA_F32 ? 4 : 2, d = (size_t)cases[c].d, row = d * esize;
        tappa_kv_cache *cache = NULL;
        CHECK_INT_EQ(tappa_kv_cache_create(ctx, 1, HKV, CAP, cases[c].d, cases[c].dt, &cache, &err), TAPPA_OK);
        if (!cache) continue;
        tappa_tensor *ck = tappa_kv_cache_keys(cache, 0), *cv = tappa_kv_cache_values(cache, 0);
        CHECK_INT_EQ(tappa_tensor_fill_bits(ck, 0x7e007e00u, &err), TAPPA_OK); /* NaN in f32 and f16 */
        CHECK_INT_EQ(tappa_tensor_fill_bits(cv, 0x7e007e00u, &err), TAPPA_OK);
        static uint8_t want_k[HKV * CAP * 8 * 4], want_v[HKV * CAP * 8 * 4], got[HKV * CAP * 8 * 4];
        size_t bytes = HKV * CAP * row;
        CHECK_INT_EQ(tappa_tensor_download(ck, want_k, bytes, &err), TAPPA_OK);
        memcpy(want_v, want_k, bytes);
        int64_t at = 0;
        for (int a = 0; a < 2; a++) {
            int64_t t = appends[a], shape[3] = { HKV, t, cases[c].d };
            uint8_t src[2][HKV * 4 * 8 * 4];
            size_t n = HKV * (size_t)t * row;
            for (size_t i = 0; i < n; i++) {
                src[0][i] = (uint8_t)rng_next(r);
                src[1][i] = (uint8_t)rng_next(r);
            }
            tappa_tensor *k = NULL, *v = NULL;
            CHECK_INT_EQ(tappa_tensor_create(ctx, cases[c].dt, 3, shape, &k, &err), TAPPA_OK);
            CHECK_INT_EQ(tappa_tensor_create(ctx, cases[c].dt, 3, shape, &v, &err), TAPPA_OK);
            CHECK_INT_EQ(tappa_tensor_upload(k, src[0], n, &err), TAPPA_OK);
            CHECK_INT_EQ(tappa_tensor_upload(v, src[1], n, &err), TAPPA_OK);
            uint64_t before = dev->dispatches;
            CHECK_INT_EQ(tappa_kv_cache_append(cache, 0, k, v, &err), TAPPA_OK);
            CHECK_INT_EQ(dev->dispatches - before, cases[c].dispatch ? 1 : 0);
            for (size_t h = 0; h < HKV; h++) {
                memcpy(want_k + (h * CAP + (size_t)at) * row, src[0] + h * (size_t)t * row, (size_t)t * row);
                memcpy(want_v + (h * CAP + (size_t)at) * row, src[1] + h * (size_t)t * row, (size_t)t * row);
            }
            at += t;
            tappa_tensor_destroy(&k);
            tappa_tensor_destroy(&v);
        }
        CHECK_INT_EQ(tappa_kv_cache_length(cache, 0), at);
        CHECK_INT_EQ(tappa_tensor_download(ck, got, bytes, &err), TAPPA_OK);
        CHECK_INT_EQ(memcmp(got, want_k, bytes), 0);
        CHECK_INT_EQ(tappa_tensor_download(cv, got, bytes, &err), TAPPA_OK);
        CHECK_INT_EQ(memcmp(got, want_v, bytes), 0);
        tappa_kv_cache_destroy(&cache);
    }
    printf("kv append: f32 and f16 rows by kv_append, odd f16 rows by copies, bits kept, the rest untouched\n");
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* RMSNorm of a few rows spreads each row over slices of workgroups, each
 * summing the whole row itself: a row alone (sliced, n not a multiple of
 * the slices) must match the reference and must equal to the bit the same
 * row normalised among 160 rows (one workgroup per row). */
/* The rotating append in one dispatch for f32 rows (and the rope-then-append
 * fallback for f16), against tappa_rope then the plain append; the rows
 * after the new ones stay as they were. */
static void test_kv_append_rope(rng *r)
{
    enum { HKV = 4, T = 3, D = 64, CAP = 12, HELD = 5 };
    tappa_context *ctx = open_device(0);
    tvk_device *dev = ctx->vk;
    tappa_error err = { 0 };
    tappa_rope_params p = { TAPPA_ROPE_HALF, 500000, 777, NULL, 1 };
    static double k[HKV * T * D], v[HKV * T * D];
    static float fused[HKV * CAP * D], apart[HKV * CAP * D];
    for (int dt = 0; dt < 2; dt++) {
        tappa_dtype type = dt ? TAPPA_F16 : TAPPA_F32;
        for (int i = 0; i < HKV * T * D; i++) {
            k[i] = rng_normal(r);
            v[i] = rng_normal(r);
        }
        int64_t shape[3] = { HKV, T, D };
        tappa_tensor *tk = tensor_of(ctx, type, 3, shape, k), *tv = tensor_of(ctx, type, 3, shape, v), *rk = NULL;
        tappa_kv_cache *a = NULL, *b = NULL;
        CHECK_INT_EQ(tappa_kv_cache_create(ctx, 1, HKV, CAP, D, type, &a, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_kv_cache_create(ctx, 1, HKV, CAP, D, type, &b, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_tensor_create(ctx, type, 3, shape, &rk, &err), TAPPA_OK);
        for (int i = 0; i < 2; i++) {
            tappa_kv_cache *c = i ? b : a;
            uint32_t one = dt ? 0x3c00u : 0x3f800000u; /* 1.0 in the rows' dtype */
            CHECK_INT_EQ(tappa_tensor_fill_bits(tappa_kv_cache_keys(c, 0), one, &err), TAPPA_OK);
            CHECK_INT_EQ(tappa_tensor_fill_bits(tappa_kv_cache_values(c, 0), one, &err), TAPPA_OK);
            CHECK_INT_EQ(tappa_kv_cache_set_length(c, 0, HELD, &err), TAPPA_OK);
        }
        uint64_t before = dev->dispatches;
        CHECK_INT_EQ(tappa_kv_cache_append_rope(a, 0, tk, tv, &p, &err), TAPPA_OK);
        CHECK_INT_EQ(dev->dispatches - before, dt ? 2 : 1);
        CHECK_INT_EQ(tappa_rope(tk, rk, &p, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_kv_cache_append(b, 0, rk, tv, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_kv_cache_length(a, 0), HELD + T);
        double worst = 0;
        for (int part = 0; part < 2; part++) {
            const tappa_tensor *x = part ? tappa_kv_cache_values(a, 0) : tappa_kv_cache_keys(a, 0);
            const tappa_tensor *y = part ? tappa_kv_cache_values(b, 0) : tappa_kv_cache_keys(b, 0);
            size_t n = HKV * CAP * D;
            if (type == TAPPA_F16) {
                static uint16_t hx[HKV * CAP * D], hy[HKV * CAP * D];
                CHECK_INT_EQ(tappa_tensor_download(x, hx, sizeof hx, &err), TAPPA_OK);
                CHECK_INT_EQ(tappa_tensor_download(y, hy, sizeof hy, &err), TAPPA_OK);
                for (size_t i = 0; i < n; i++) {
                    fused[i] = tappa_f16_to_f32(hx[i]);
                    apart[i] = tappa_f16_to_f32(hy[i]);
                }
            } else {
                CHECK_INT_EQ(tappa_tensor_download(x, fused, sizeof fused, &err), TAPPA_OK);
                CHECK_INT_EQ(tappa_tensor_download(y, apart, sizeof apart, &err), TAPPA_OK);
            }
            for (size_t i = 0; i < n; i++) {
                size_t pos = i / D % CAP;
                double gap = fabs((double)fused[i] - apart[i]) / (1 + fabs((double)apart[i]));
                if (!(gap <= worst)) worst = gap; /* NaN stays */
                if (pos < HELD || pos >= HELD + T) CHECK(fused[i] == 1.0f); /* untouched rows */
            }
        }
        CHECK(worst < 1e-6);
        printf("kv append with rope, %s: %s, %.1e from rope then append\n", dt ? "f16" : "f32",
               dt ? "rope then append" : "one dispatch", worst);
        tappa_kv_cache_destroy(&a);
        tappa_kv_cache_destroy(&b);
        tappa_tensor_destroy(&tk);
        tappa_tensor_destroy(&tv);
        tappa_tensor_destroy(&rk);
    }
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

static void test_rmsnorm_slices(rng *r)
{
    tappa_context *ctx = open_device(0);
    tappa_error err = { 0 };
    enum { ROWS = 160, N = 1003 };
    static double x[ROWS * N], g[N], ref[N];
    static float many[ROWS * N], one[N];
    for (size_t i = 0; i < ROWS * N; i++) x[i] = rng_normal(r);
    for (size_t i = 0; i < N; i++) g[i] = rng_uniform(r, 0.5, 1.5);
    const size_t pick = 97;
    int64_t shape_many[2] = { ROWS, N }, shape_one[2] = { 1, N }, shape_g[1] = { N };
    tappa_tensor *xm = tensor_of(ctx, TAPPA_F32, 2, shape_many, x), *xo = tensor_of(ctx, TAPPA_F32, 2, shape_one, x + pick * N);
    tappa_tensor *w = tensor_of(ctx, TAPPA_F32, 1, shape_g, g), *ym = NULL, *yo = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, shape_many, &ym, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, shape_one, &yo, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_fill_bits(ym, 0x7fc00000u, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_fill_bits(yo, 0x7fc00000u, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_rmsnorm(xm, w, 1e-5, ym, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_rmsnorm(xo, w, 1e-5, yo, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_download(ym, many, sizeof many, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_download(yo, one, sizeof one, &err), TAPPA_OK);
    tappa_ref_rmsnorm(x + pick * N, g, 1, N, 1e-5, ref);
    double e = rel_error(one, ref, N);
    CHECK(e < 1e-5);
    CHECK_INT_EQ(memcmp(one, many + pick * N, sizeof one), 0);
    printf("rmsnorm: one row in slices %.2e from the reference, the same bits as among %d rows\n", e, ROWS);
    tappa_tensor_destroy(&xm);
    tappa_tensor_destroy(&xo);
    tappa_tensor_destroy(&w);
    tappa_tensor_destroy(&ym);
    tappa_tensor_destroy(&yo);
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* The gated product in one dispatch where the device has subgroups (three
 * otherwise: both products and SwiGLU), matching the unfused ops' result;
 * the output poisoned first. */
static void test_matvec_swiglu_fused(rng *r)
{
    enum { ROWS = 300, COLS = 512 };
    tappa_context *ctx = open_device(0);
    tvk_device *dev = ctx->vk;
    tappa_error err = { 0 };
    static uint16_t wh[2][ROWS * COLS];
    static double x[COLS];
    static float fused[ROWS], apart[ROWS];
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < ROWS * COLS; i++) wh[m][i] = tappa_f32_to_f16((float)(0.05 * rng_normal(r)));
    for (int i = 0; i < COLS; i++) x[i] = rng_normal(r);
    int64_t xs[2] = { 1, COLS }, ys[2] = { 1, ROWS };
    tappa_tensor *tx = tensor_of(ctx, TAPPA_F32, 2, xs, x), *ty = NULL, *tg = NULL, *tu = NULL;
    tappa_matrix *gate = NULL, *up = NULL;
    CHECK_INT_EQ(tappa_matrix_create(ctx, TAPPA_GGML_F16, ROWS, COLS, wh[0], &gate, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_matrix_create(ctx, TAPPA_GGML_F16, ROWS, COLS, wh[1], &up, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, ys, &ty, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, ys, &tg, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 2, ys, &tu, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_fill_bits(ty, 0x7fc00000u, &err), TAPPA_OK);
    bool fits = gate && up && matvec_swiglu_fits(gate, up, 1);
    uint64_t before = dev->dispatches;
    CHECK_INT_EQ(tappa_matvec_swiglu(gate, up, tx, ty, &err), TAPPA_OK);
    CHECK_INT_EQ(dev->dispatches - before, fits ? 1 : 3);
    CHECK_INT_EQ(tappa_matvec(gate, tx, NULL, false, tg, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_matvec(up, tx, NULL, false, tu, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_swiglu(tg, tu, tg, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_download(ty, fused, sizeof fused, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_download(tg, apart, sizeof apart, &err), TAPPA_OK);
    double diff = 0, norm = 0;
    for (int i = 0; i < ROWS; i++) {
        diff += ((double)fused[i] - apart[i]) * ((double)fused[i] - apart[i]);
        norm += (double)apart[i] * apart[i];
    }
    double e = sqrt(diff / norm); /* NaN where a row stayed poisoned */
    CHECK(e < 1e-6);
    printf("matvec_swiglu: %s, %.2e from the products and swiglu apart\n",
           fits ? "one dispatch" : "three dispatches (no fused variant on this device)", e);
    tappa_matrix_destroy(&gate);
    tappa_matrix_destroy(&up);
    tappa_tensor_destroy(&tx);
    tappa_tensor_destroy(&ty);
    tappa_tensor_destroy(&tg);
    tappa_tensor_destroy(&tu);
    check_no_validation(ctx);
    tappa_context_destroy(&ctx);
}

/* The stage profile over a recording of more stages than one step of query
 * resets (128) holds, split by a flush: every stage counted once with its
 * dispatch, the GPU's wait between the parts and the closing mark named, and
 * every query reset before it is written (the validation layer would say). */
static void check_profiled_recording(tappa_context *ctx, tappa_tensor *src, tappa_tensor *dst)
{
    enum { STAGES = 300 };
    tvk_device *dev = ctx->vk;
    tappa_error err = { 0 };
    CHECK_INT_EQ(tappa_context_profile(ctx, true, &err), TAPPA_OK);
    CHECK_INT_EQ(tvk_begin(dev, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_context_profile(ctx, false, &err), TAPPA_ERR_INVALID_ARG); /* not inside a recording */
    for (int i = 0; i < STAGES; i++) {
        CHECK_INT_EQ(copy_record(src, dst, 1, &err), TAPPA_OK);
        tvk_stage(dev, "copy");
        tvk_barrier(dev);
        if (i == STAGES / 2) CHECK_INT_EQ(tvk_flush(dev, &err), TAPPA_OK);
    }
    CHECK_INT_EQ(tvk_submit_wait(dev, &err), TAPPA_OK);
    tappa_gpu_stage stages[8];
    size_t n = tappa_context_gpu_stages(ctx, stages, 8);
    CHECK_INT_EQ(n, 3);
    uint64_t copies = 0, waits = 0, closing = 0, dispatches = 0;
    double ms = 0;
    for (size_t i = 0; i < n && i < 8; i++) {
        if (!strcmp(stages[i].name, "copy")) {
            copies = stages[i].runs;
            dispatches = stages[i].dispatches;
            ms = stages[i].ms;
        }
        if (!strcmp(stages[i].name, TVK_STAGE_WAIT)) waits = stages[i].runs;
        if (!strcmp(stages[i].name, TVK_STAGE_UNNAMED)) closing = stages[i].runs;
    }
    CHECK_INT_EQ(copies, STAGES);
    CHECK_INT_EQ(dispatches, STAGES); /* a 1 MiB copy is one dispatch */
    CHECK(ms > 0);
    CHECK_INT_EQ(waits, 1);
    CHECK_INT_EQ(closing, 1);
    CHECK_INT_EQ(tappa_context_profile(ctx, false, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_context_gpu_stages(ctx, stages, 8), 0);
    printf("profiled recording: %d stages in %.3f ms of GPU time, the wait between its parts named\n", STAGES, ms);
}

static void test_flushed_recording(rng *r)
{
    tappa_context *ctx = open_device(0);
    tvk_device *dev = ctx->vk;
    tappa_error err = { 0 };
    int64_t n = 1 << 18;
    float *src = malloc(n * sizeof *src), *got = malloc(n * sizeof *got);
    for (int64_t i = 0; i < n; i++) src[i] = (float)rng_normal(r);
    tappa_tensor *a = NULL, *b = NULL, *c = NULL;
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 1, &n, &a, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 1, &n, &b, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_create(ctx, TAPPA_F32, 1, &n, &c, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_upload(a, src, n * sizeof *src, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_fill_bits(b, 0x7fc00000u, &err), TAPPA_OK); /* NaN */
    CHECK_INT_EQ(tappa_tensor_fill_bits(c, 0x7fc00000u, &err), TAPPA_OK);
    CHECK_INT_EQ(tvk_begin(dev, &err), TAPPA_OK);
    CHECK_INT_EQ(copy_record(a, b, 1, &err), TAPPA_OK);
    uint32_t parts = 1;
    for (int i = 0; i < TVK_CMD_RING + 2; i++) {
        tvk_barrier(dev);
        uint32_t before = dev->slot;
        CHECK_INT_EQ(tvk_flush(dev, &err), TAPPA_OK);
        parts += dev->slot != before;
        CHECK_INT_EQ(copy_record(i % 2 ? c : b, i % 2 ? b : c, 1, &err), TAPPA_OK);
    }
    CHECK_INT_EQ(parts, TVK_CMD_RING);
    CHECK_INT_EQ(tvk_submit_wait(dev, &err), TAPPA_OK);
    tappa_tensor *last = (TVK_CMD_RING + 2) % 2 ? c : b; /* the last copy's destination */
    CHECK_INT_EQ(tappa_tensor_download(last, got, n * sizeof *got, &err), TAPPA_OK);
    CHECK_INT_EQ(memcmp(got, src, n * sizeof *src), 0);

    CHECK_INT_EQ(tvk_begin(dev, &err), TAPPA_OK);
    CHECK_INT_EQ(copy_record(a, c, 1, &err), TAPPA_OK);
    CHECK_INT_EQ(tvk_flush(dev, &err), TAPPA_OK);
    CHECK_INT_EQ(copy_record(a, c, 1, &err), TAPPA_OK);
    tvk_abort(dev);
    CHECK_INT_EQ(tappa_tensor_fill_bits(c, 0x7fc00000u, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_copy(a, c, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_tensor_download(c, got, n * sizeof *got, &err), TAPPA_OK);
    CHECK_INT_EQ(memcmp(got, src, n * sizeof *src), 0);
    printf("flushed recording: %u parts, bits kept; abort after a flush leaves the device usable\n", parts);
    if (dev->info.timestamps) check_profiled_recording(ctx, a, c);
    check_no_validation(ctx);
    tappa_tensor_destroy(&a);
    tappa_tensor_destroy(&b);
    tappa_tensor_destroy(&c);
    free(src);
    free(got);
    tappa_context_destroy(&ctx);
}

int main(void)
{
    uint64_t seed = rng_fresh_seed();
    printf("test_vulkan: seed %llu, device %s\n", (unsigned long long)seed, test_device());
    rng r;
    rng_seed(&r, seed);
    test_probe();
    test_validation_catches();
    test_pipeline_cache();
    test_selection_errors();
    test_large_tensor(&r);
    test_forced_splits(seed);
    test_minimum_shared_memory(seed);
    test_matvec_without_subgroups(seed);
    test_compress_then_decode(&r);
    test_decode_after_prepare(&r);
    test_coopmat_layout_check();
    test_prefill_paths(&r);
    test_decode_paths(&r);
    test_matvec_paths(&r);
    test_kv_append(&r);
    test_kv_append_rope(&r);
    test_rmsnorm_slices(&r);
    test_matvec_swiglu_fused(&r);
    test_flushed_recording(&r);
    test_staged_copies(&r);
    test_pinned_subgroups(seed);
    return check_exit("test_vulkan");
}
