/* Writes a synthetic decoder GGUF for timing: Llama-3-8B's shapes (32 layers,
 * d_model 4096, FFN 14336, 32 query and 8 KV heads of 128, vocab 128256) with
 * f16 weights of small pseudo-random values, and a byte-level tokenizer whose
 * first 256 tokens are the bytes (any text tokenises). The numbers it
 * generates are meaningless; the bytes every token reads are the real ones.
 *   usage: synth_model OUT.gguf [LAYERS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tappa/tappa.h"

enum { E = 4096, F = 14336, H = 32, HK = 8, D = 128, VOCAB = 128256 };

/* rows x cols f16 values from a table of 4096 random halves, indexed by a hash. */
static uint16_t *halves(int64_t rows, int64_t cols, const uint16_t *table, uint64_t salt)
{
    size_t n = (size_t)(rows * cols);
    uint16_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++) v[i] = table[((i + salt) * 0x9E3779B97F4A7C15ull) >> 52];
    return v;
}

static tappa_status add(tappa_gguf_writer *w, const char *name, int64_t rows, int64_t cols, const uint16_t *table,
                        uint64_t salt, tappa_error *err)
{
    uint16_t *v = halves(rows, cols, table, salt);
    if (!v) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory for %s", name);
    uint64_t dims[2] = { (uint64_t)cols, (uint64_t)rows };
    tappa_status st = tappa_gguf_add_tensor(w, name, TAPPA_GGML_F16, 2, dims, v, err);
    free(v);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: synth_model OUT.gguf [LAYERS]\n");
        return 2;
    }
    int layers = argc == 3 ? atoi(argv[2]) : 32;
    if (layers < 1 || layers > 256) return 2;
    tappa_error err = { 0 };
    uint16_t table[4096];
    static float ones[E];
    uint64_t s = 0x243F6A8885A308D3ull;
    for (int i = 0; i < 4096; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        table[i] = tappa_f32_to_f16((float)((double)(s >> 11) / (1ull << 53) - 0.5) * 0.04f);
    }
    for (int i = 0; i < E; i++) ones[i] = 1.0f;
    char **tokens = malloc(sizeof(char *) * VOCAB);
    int32_t *types = malloc(sizeof(int32_t) * VOCAB);
    tappa_gguf_writer *w = NULL;
    tappa_status st = tokens && types ? tappa_gguf_writer_create(&w, &err)
                                      : tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    /* GPT-2's byte alphabet first, then filler tokens. */
    for (int b = 0; b < VOCAB && !st; b++) {
        tokens[b] = calloc(16, 1);
        types[b] = 1;
        if (!tokens[b]) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        else if (b < 256) tappa_byte_token_text((uint8_t)b, tokens[b]);
        else snprintf(tokens[b], 16, "<t%d>", b);
    }
#define U32(k, v) if (!st) st = tappa_gguf_set_u32(w, k, v, &err)
    if (!st) st = tappa_gguf_set_str(w, "general.architecture", "llama", &err);
    if (!st) st = tappa_gguf_set_str(w, "general.name", "synthetic-llama-3-8b-shape", &err);
    U32("llama.block_count", (uint32_t)layers);
    U32("llama.embedding_length", E);
    U32("llama.feed_forward_length", F);
    U32("llama.attention.head_count", H);
    U32("llama.attention.head_count_kv", HK);
    U32("llama.context_length", 8192);
    if (!st) st = tappa_gguf_set_f32(w, "llama.rope.freq_base", 500000.0f, &err);
    if (!st) st = tappa_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &err);
    if (!st) st = tappa_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", &err);
    if (!st) st = tappa_gguf_set_str(w, "tokenizer.ggml.pre", "gpt-2", &err);
    if (!st) st = tappa_gguf_set_strs(w, "tokenizer.ggml.tokens", (const char *const *)tokens, VOCAB, &err);
    if (!st) st = tappa_gguf_set_i32s(w, "tokenizer.ggml.token_type", types, VOCAB, &err);
    if (!st) st = tappa_gguf_set_strs(w, "tokenizer.ggml.merges", NULL, 0, &err);
    U32("tokenizer.ggml.eos_token_id", VOCAB - 1);
#undef U32
    uint64_t vec[1] = { E };
    if (!st) st = add(w, "token_embd.weight", VOCAB, E, table, 1, &err);
    if (!st) st = add(w, "output.weight", VOCAB, E, table, 2, &err);
    if (!st) st = tappa_gguf_add_tensor(w, "output_norm.weight", TAPPA_GGML_F32, 1, vec, ones, &err);
    for (int l = 0; l < layers && !st; l++) {
        char name[64];
        static const struct { const char *n; int64_t rows, cols; } mats[] = {
            { "attn_q", H * D, E }, { "attn_k", HK * D, E }, { "attn_v", HK * D, E }, { "attn_output", E, H * D },
            { "ffn_gate", F, E },   { "ffn_up", F, E },      { "ffn_down", E, F },
        };
        for (size_t i = 0; i < sizeof mats / sizeof mats[0] && !st; i++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, mats[i].n);
            st = add(w, name, mats[i].rows, mats[i].cols, table, (uint64_t)(l * 16 + i + 3), &err);
        }
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        if (!st) st = tappa_gguf_add_tensor(w, name, TAPPA_GGML_F32, 1, vec, ones, &err);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        if (!st) st = tappa_gguf_add_tensor(w, name, TAPPA_GGML_F32, 1, vec, ones, &err);
    }
    if (!st) st = tappa_gguf_write(w, argv[1], &err);
    tappa_gguf_writer_free(&w);
    for (int b = 0; tokens && b < VOCAB; b++) free(tokens[b]);
    free(tokens);
    free(types);
    if (st) {
        fprintf(stderr, "synth_model: %s\n", err.message);
        return 1;
    }
    printf("wrote %s (%d layers)\n", argv[1], layers);
    return 0;
}
