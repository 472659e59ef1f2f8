/* A small random Qwen2 model (Q/K/V biases, rotate-half RoPE, untied LM
 * head, Qwen2's pre-tokeniser) written as GGUF, run by the CPU reference and
 * by the Vulkan pass (argv[1]): the logits of the two agree, and differ from
 * those of the same weights read as llama (interleaved RoPE pairs), so the
 * architecture's rotary layout is exercised, not skipped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "rng.h"
#include "tappa/tappa.h"

enum { L = 2, E = 64, F = 96, H = 4, HK = 2, D = 16, V = 300, N = 12 };
static char path[] = "/tmp/tappa-qwen2-XXXXXX";

static void add(tappa_gguf_writer *w, rng *r, const char *name, int64_t rows, int64_t cols, double scale,
                double shift)
{
    tappa_error err = { 0 };
    float *v = malloc(sizeof(float) * (size_t)(rows * cols));
    for (int64_t i = 0; i < rows * cols; i++) v[i] = (float)(shift + scale * rng_normal(r));
    uint64_t dims[2] = { (uint64_t)cols, (uint64_t)rows };
    CHECK_INT_EQ(tappa_gguf_add_tensor(w, name, TAPPA_GGML_F32, rows > 1 ? 2 : 1, dims, v, &err), TAPPA_OK);
    free(v);
}

static void write_model(rng *r, const char *arch)
{
    tappa_error err = { 0 };
    tappa_gguf_writer *w = NULL;
    CHECK_INT_EQ(tappa_gguf_writer_create(&w, &err), TAPPA_OK);
    static char store[V][16];
    const char *tokens[V];
    int32_t types[V];
    for (int b = 0; b < V; b++) {
        if (b < 256) tappa_byte_token_text((uint8_t)b, store[b]); /* static: NUL-filled */
        else snprintf(store[b], 16, "<x%d>", b);
        tokens[b] = store[b];
        types[b] = 1;
    }
    char key[64];
    tappa_gguf_set_str(w, "general.architecture", arch, &err);
#define U32(k, v) snprintf(key, sizeof key, "%s." k, arch), tappa_gguf_set_u32(w, key, v, &err)
    U32("block_count", L);
    U32("embedding_length", E);
    U32("feed_forward_length", F);
    U32("attention.head_count", H);
    U32("attention.head_count_kv", HK);
    U32("context_length", 64);
#undef U32
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    tappa_gguf_set_f32(w, key, 1000000.0f, &err);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    tappa_gguf_set_f32(w, key, 1e-6f, &err);
    tappa_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", &err);
    tappa_gguf_set_str(w, "tokenizer.ggml.pre", "qwen2", &err);
    tappa_gguf_set_strs(w, "tokenizer.ggml.tokens", tokens, V, &err);
    tappa_gguf_set_i32s(w, "tokenizer.ggml.token_type", types, V, &err);
    tappa_gguf_set_strs(w, "tokenizer.ggml.merges", NULL, 0, &err);
    add(w, r, "token_embd.weight", V, E, 1.0, 0);
    add(w, r, "output.weight", V, E, 0.1, 0);
    add(w, r, "output_norm.weight", 1, E, 0.1, 1);
    for (int l = 0; l < L; l++) {
        char name[64];
#define T(suffix, rows, cols, scale, shift) snprintf(name, sizeof name, "blk.%d." suffix, l), add(w, r, name, rows, cols, scale, shift)
        T("attn_norm.weight", 1, E, 0.1, 1);
        T("attn_q.weight", H * D, E, 0.15, 0);
        T("attn_k.weight", HK * D, E, 0.15, 0);
        T("attn_v.weight", HK * D, E, 0.15, 0);
        T("attn_q.bias", 1, H * D, 0.5, 0);
        T("attn_k.bias", 1, HK * D, 0.5, 0);
        T("attn_v.bias", 1, HK * D, 0.5, 0);
        T("attn_output.weight", E, H * D, 0.1, 0);
        T("ffn_norm.weight", 1, E, 0.1, 1);
        T("ffn_gate.weight", F, E, 0.15, 0);
        T("ffn_up.weight", F, E, 0.15, 0);
        T("ffn_down.weight", E, F, 0.1, 0);
#undef T
    }
    CHECK_INT_EQ(tappa_gguf_write(w, path, &err), TAPPA_OK);
    tappa_gguf_writer_free(&w);
}

static void logits_of(const char *device, float *out, int32_t *ids, size_t *n)
{
    tappa_error err = { 0 };
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = device;
    tappa_context *ctx = NULL;
    tappa_model *m = NULL;
    tappa_session *s = NULL;
    CHECK_INT_EQ(tappa_context_create(&p, &ctx, &err), TAPPA_OK);
    if (ctx) CHECK_INT_EQ(tappa_model_load(ctx, path, NULL, &m, &err), TAPPA_OK);
    if (m && *n == 0) {
        int32_t *t = NULL;
        static const char text[] = "Qwen2's tokenizer: 12345 words\n\n  indented";
        CHECK_INT_EQ(tappa_tokenize(tappa_model_tokenizer(m), text, sizeof text - 1, false, &t, n, &err), TAPPA_OK);
        CHECK(*n >= N);
        memcpy(ids, t, sizeof(int32_t) * N);
        *n = N;
        free(t);
    }
    if (m) CHECK_INT_EQ(tappa_session_create(m, N, &s, &err), TAPPA_OK);
    if (s) CHECK_INT_EQ(tappa_session_eval(s, ids, N, true, out, &err), TAPPA_OK);
    if (err.message[0]) fprintf(stderr, "%s: %s\n", device, err.message);
    tappa_session_free(&s);
    tappa_model_free(&m);
    if (ctx) CHECK_INT_EQ((int)tappa_context_validation_count(ctx), 0);
    tappa_context_destroy(&ctx);
}

static double rel_error(const float *a, const float *b, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - b[i]) * (double)(a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return sqrt(d / r);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_qwen2 DEVICE\n");
        return 2;
    }
    tappa_error err = { 0 };
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = argv[1];
    tappa_context *probe = NULL;
    if (tappa_context_create(&p, &probe, &err)) {
        printf("no device '%s': skipped\n", argv[1]);
        return 77;
    }
    tappa_context_destroy(&probe);
    uint64_t seed = rng_fresh_seed();
    printf("test_qwen2: seed %llu\n", (unsigned long long)seed);
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    rng r, r2;
    rng_seed(&r, seed);
    rng_seed(&r2, seed);
    static float cpu[N * V], dev[N * V], as_llama[N * V];
    int32_t ids[N];
    size_t n = 0;
    write_model(&r, "qwen2");
    logits_of("cpu", cpu, ids, &n);
    logits_of(argv[1], dev, ids, &n);
    double e = rel_error(dev, cpu, (size_t)N * V);
    printf("qwen2 logits, %s vs the CPU reference: %.3g\n", argv[1], e);
    CHECK(e <= 1e-4);
    write_model(&r2, "llama"); /* the same numbers read as llama: interleaved RoPE pairs */
    logits_of("cpu", as_llama, ids, &n);
    CHECK(rel_error(as_llama, cpu, (size_t)N * V) > 1e-2);
    remove(path);
    return check_exit("test_qwen2");
}
