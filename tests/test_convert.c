/* `tappa convert` on a small random Hugging Face Llama folder written here:
 * config.json in transformers 5's layout (rope_parameters with Llama-3
 * scaling), tokenizer.json (byte-level BPE, merges as pairs, a special token),
 * weights in two shards listed by model.safetensors.index.json, one of them
 * f16. Checks llama.cpp's keys and names, the Q/K row permutation, the
 * rope_freqs divisors, tied embeddings, q8_0 output, the tokenizer read back,
 * and bad folders as one-line errors with no output file.
 * usage: test_convert TAPPA */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli_run.h"
#include "tappa/tappa.h"

enum { L = 2, E = 64, F = 96, H = 4, HK = 2, D = 16, V = 260 };
static char dir[] = "/tmp/tappa-convert-XXXXXX";
static float q0[H * D * E]; /* layer 0's q_proj as written */

static char *path_of(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void write_config(const char *arch)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"architectures\": [\"%s\"], \"hidden_size\": %d, \"intermediate_size\": %d, "
             "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"head_dim\": %d, "
             "\"vocab_size\": %d, \"max_position_embeddings\": 512, \"rms_norm_eps\": 1e-05, "
             "\"tie_word_embeddings\": true, \"bos_token_id\": 256, \"eos_token_id\": 256, "
             "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 10000.0, \"factor\": 4.0, "
             "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}}",
             arch, E, F, L, H, HK, D, V);
    write_text("config.json", text);
}

static void write_tokenizer(void)
{
    /* GPT-2's byte alphabet as the first 256 tokens, then "he", "ll", the special token, "hell". */
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char s[8] = { 0 };
        tappa_byte_token_text((uint8_t)b, s);
        cJSON_AddNumberToObject(vocab, s, b);
    }
    cJSON_AddNumberToObject(vocab, "he", 257);
    cJSON_AddNumberToObject(vocab, "ll", 258);
    cJSON_AddNumberToObject(vocab, "hell", 259);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    const char *pairs[3][2] = { { "h", "e" }, { "l", "l" }, { "he", "ll" } };
    for (int i = 0; i < 3; i++) cJSON_AddItemToArray(merges, cJSON_CreateStringArray(pairs[i], 2));
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens"), *special = cJSON_CreateObject();
    cJSON_AddNumberToObject(special, "id", 256);
    cJSON_AddStringToObject(special, "content", "<|end|>");
    cJSON_AddTrueToObject(special, "special");
    cJSON_AddItemToArray(added, special);
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON_AddTrueToObject(pre, "use_regex");
    char *text = cJSON_Print(root);
    write_text("tokenizer.json", text);
    free(text);
    cJSON_Delete(root);
}

/* rows x cols random values as f32 (or f16 when half). */
static void fill(rng *r, tappa_array *a, int64_t rows, int64_t cols, bool half, float *keep)
{
    tappa_error err;
    int64_t shape[2] = { rows, cols };
    tappa_array_alloc(a, half ? TAPPA_F16 : TAPPA_F32, rows > 1 ? 2 : 1, rows > 1 ? shape : shape + 1, &err);
    for (int64_t i = 0; i < rows * cols; i++) {
        float v = (float)rng_normal(r) * 0.1f;
        if (half) ((uint16_t *)a->data)[i] = tappa_f32_to_f16(v);
        else ((float *)a->data)[i] = v;
        if (keep) keep[i] = v;
    }
}

static void write_weights(rng *r, bool drop_one)
{
    /* Shard 1: embeddings, norms, layer 0 (f32); shard 2: layer 1 (f16). */
    const char *names[2][16];
    tappa_array arrays[2][16];
    int n[2] = { 0, 0 };
    static char store[32][64];
    int k = 0;
#define PUT(shard, name_fmt, layer, rows, cols, half, keep)                                         \
    do {                                                                                           \
        snprintf(store[k], sizeof store[k], name_fmt, layer);                                      \
        names[shard][n[shard]] = store[k++];                                                       \
        fill(r, &arrays[shard][n[shard]++], rows, cols, half, keep);                               \
    } while (0)
    PUT(0, "model.embed_tokens.weight%.0d", 0, V, E, false, NULL);
    PUT(0, "model.norm.weight%.0d", 0, 1, E, false, NULL);
    for (int l = 0; l < L; l++) {
        bool half = l == 1;
        PUT(l, "model.layers.%d.input_layernorm.weight", l, 1, E, half, NULL);
        PUT(l, "model.layers.%d.self_attn.q_proj.weight", l, H * D, E, half, l == 0 ? q0 : NULL);
        PUT(l, "model.layers.%d.self_attn.k_proj.weight", l, HK * D, E, half, NULL);
        PUT(l, "model.layers.%d.self_attn.v_proj.weight", l, HK * D, E, half, NULL);
        PUT(l, "model.layers.%d.self_attn.o_proj.weight", l, E, H * D, half, NULL);
        PUT(l, "model.layers.%d.post_attention_layernorm.weight", l, 1, E, half, NULL);
        PUT(l, "model.layers.%d.mlp.gate_proj.weight", l, F, E, half, NULL);
        PUT(l, "model.layers.%d.mlp.up_proj.weight", l, F, E, half, NULL);
        if (!(drop_one && l == 1)) PUT(l, "model.layers.%d.mlp.down_proj.weight", l, E, F, half, NULL);
    }
#undef PUT
    tappa_error err;
    cJSON *index = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(index, "weight_map");
    for (int s = 0; s < 2; s++) {
        char file[64];
        snprintf(file, sizeof file, "model-0000%d-of-00002.safetensors", s + 1);
        const tappa_array *ptrs[16];
        for (int i = 0; i < n[s]; i++) {
            ptrs[i] = &arrays[s][i];
            cJSON_AddStringToObject(map, names[s][i], file);
        }
        CHECK_INT_EQ(tappa_safetensors_write(path_of(file), (size_t)n[s], names[s], ptrs, &err), TAPPA_OK);
        for (int i = 0; i < n[s]; i++) tappa_array_free(&arrays[s][i]);
    }
    char *text = cJSON_Print(index);
    write_text("model.safetensors.index.json", text);
    free(text);
    cJSON_Delete(index);
}

static void check_gguf(const char *name, tappa_ggml_type type)
{
    tappa_error err = { 0 };
    tappa_gguf *g = NULL;
    CHECK_INT_EQ(tappa_gguf_open(path_of(name), &g, &err), TAPPA_OK);
    if (!g) return;
    uint32_t u = 0;
    float f = 0;
    CHECK(!strcmp(tappa_gguf_str(g, "general.architecture"), "llama"));
    CHECK(tappa_gguf_u32(g, "llama.block_count", &u) && u == L);
    CHECK(tappa_gguf_u32(g, "llama.attention.head_count_kv", &u) && u == HK);
    CHECK(tappa_gguf_u32(g, "llama.context_length", &u) && u == 512);
    CHECK(tappa_gguf_f32(g, "llama.rope.freq_base", &f) && f == 10000.0f);
    CHECK(!tappa_gguf_find(g, "output.weight")); /* tied */
    const tappa_gguf_tensor *q = tappa_gguf_find(g, "blk.0.attn_q.weight");
    CHECK(q && q->dims[0] == E && q->dims[1] == H * D && q->type == type);
    if (q && type == TAPPA_GGML_F32) {
        /* Row 2i + part of a head is the checkpoint's row part * D/2 + i. */
        const float *w = q->data;
        int bad = 0;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < D / 2; i++)
                for (int part = 0; part < 2; part++)
                    bad += memcmp(w + ((size_t)h * D + 2 * i + part) * E, q0 + ((size_t)h * D + part * D / 2 + i) * E,
                                  E * sizeof(float)) != 0;
        CHECK_INT_EQ(bad, 0);
    }
    const tappa_gguf_tensor *down = tappa_gguf_find(g, "blk.1.ffn_down.weight");
    CHECK(down && down->dims[0] == F && down->dims[1] == E);
    CHECK(tappa_gguf_find(g, "blk.1.attn_norm.weight")->type == TAPPA_GGML_F32); /* norms stay f32 */
    /* Llama-3 divisors for theta 10000, D 16, factor 4, context 64: short wavelengths 1, long ones 4. */
    const tappa_gguf_tensor *rf = tappa_gguf_find(g, "rope_freqs.weight");
    CHECK(rf && rf->elements == D / 2);
    if (rf) {
        const float *div = rf->data;
        CHECK(div[0] == 1.0f && div[D / 2 - 1] == 4.0f);
        for (int i = 1; i < D / 2; i++) CHECK(div[i] >= div[i - 1]);
    }
    tappa_tokenizer *tok = NULL;
    CHECK_INT_EQ(tappa_tokenizer_from_gguf(g, &tok, &err), TAPPA_OK);
    if (tok) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_INT_EQ(tappa_tokenize(tok, "hello<|end|>", 12, true, &ids, &n, &err), TAPPA_OK);
        /* BOS, "hell", "o", the special token. */
        CHECK(n == 4 && ids[0] == 256 && ids[1] == 259 && ids[2] == 'o' && ids[3] == 256);
        free(ids);
        tappa_tokenizer_free(&tok);
    }
    tappa_gguf_close(&g);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_convert TAPPA\n");
        return 2;
    }
    const char *tappa = argv[1];
    rng r;
    cli_test_start("test_convert", tappa, "cpu", dir, &r);
    write_config("LlamaForCausalLM");
    write_tokenizer();
    write_weights(&r, false);
    char cmd[2048];
    int lines;
    snprintf(cmd, sizeof cmd, "%s convert %s -o %s --type f32 --add-bos yes", tappa, dir, path_of("m.gguf"));
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    check_gguf("m.gguf", TAPPA_GGML_F32);
    snprintf(cmd, sizeof cmd, "%s convert %s -o %s --type q8_0 --add-bos yes", tappa, dir, path_of("q.gguf"));
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    check_gguf("q.gguf", TAPPA_GGML_Q8_0);
    /* The converted model runs (the CPU reference; a prompt of the known tokens). */
    snprintf(cmd, sizeof cmd, "%s run -m %s -p hello -n 4 --json --device cpu", tappa, path_of("m.gguf"));
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);

    /* Bad folders: one line, exit 1, no output file. */
    snprintf(cmd, sizeof cmd, "%s convert %s -o %s", tappa, path_of("missing"), path_of("x.gguf"));
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);
    write_config("GPT2LMHeadModel");
    snprintf(cmd, sizeof cmd, "%s convert %s -o %s", tappa, dir, path_of("x.gguf"));
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);
    write_config("LlamaForCausalLM");
    write_weights(&r, true); /* layer 1 without its down_proj */
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);
    remove(path_of("model-00002-of-00002.safetensors"));
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
    CHECK_INT_EQ(lines, 1);
    FILE *f = fopen(path_of("x.gguf"), "r");
    CHECK(f == NULL);
    if (f) fclose(f);
    snprintf(cmd, sizeof cmd, "%s convert %s --type q5_k -o %s", tappa, dir, path_of("x.gguf"));
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 2);
    const char *files[] = { "m.gguf", "q.gguf", "config.json", "tokenizer.json", "model.safetensors.index.json",
                            "model-00001-of-00002.safetensors" };
    cli_test_cleanup(dir, files, sizeof files / sizeof files[0]);
    return check_exit("test_convert");
}
