/* Hugging Face folder -> GGUF: config.json to llama.cpp's hyperparameter keys,
 * tokenizer.json to tokenizer.ggml.*, every weight renamed, permuted where
 * llama.cpp expects it, and stored in the requested type. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#include "tappa/convert.h"
#include "tappa/tensor_io.h"

#define MAX_JSON_BYTES (256u << 20)
#define MAX_LAYERS 1024

/* The regexes of the pre-tokenisers we know, as tokenizer.json spells them. */
static const struct { const char *pre, *regex; } known_pre[] = {
    { "llama-bpe",
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
    { "qwen2",
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
};

typedef struct hf_config {
    const char *arch; /* "llama" or "qwen2" */
    int layers, hidden, ffn, heads, kv_heads, head_dim, context, vocab;
    double eps, theta;
    bool tied, bias;
    const char *rope_type; /* NULL, "linear" or "llama3" */
    double factor, low_freq, high_freq;
    int original_context;
    int bos, eos;
} hf_config;

static tappa_status read_json(const char *path, cJSON **out, tappa_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return tappa_fail(err, TAPPA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size < 0 || (unsigned long)size > MAX_JSON_BYTES) {
        fclose(f);
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: not a JSON file of a sane size", path);
    }
    char *text = malloc((size_t)size + 1);
    size_t got = text ? fread(text, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!text) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", path);
    text[got] = '\0';
    *out = cJSON_Parse(text);
    free(text);
    return *out ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_FORMAT, "%s: not valid JSON", path);
}

static double num_or(const cJSON *o, const char *key, double fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

static tappa_status parse_config(const char *path, const cJSON *c, hf_config *h, tappa_error *err)
{
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(c, "architectures");
    const cJSON *a0 = cJSON_GetArrayItem(archs, 0);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(c, "model_type");
    const char *name = cJSON_IsString(a0) ? a0->valuestring : cJSON_IsString(mt) ? mt->valuestring : "";
    if (strstr(name, "Llama") || !strcmp(name, "llama")) h->arch = "llama";
    else if (strstr(name, "Qwen2") || !strcmp(name, "qwen2")) h->arch = "qwen2";
    else
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s: architecture '%s' (tappa converts Llama and Qwen2)", path, name);
    h->layers = (int)num_or(c, "num_hidden_layers", -1);
    h->hidden = (int)num_or(c, "hidden_size", -1);
    h->ffn = (int)num_or(c, "intermediate_size", -1);
    h->heads = (int)num_or(c, "num_attention_heads", -1);
    h->kv_heads = (int)num_or(c, "num_key_value_heads", h->heads);
    h->vocab = (int)num_or(c, "vocab_size", -1);
    h->context = (int)num_or(c, "max_position_embeddings", 4096);
    h->eps = num_or(c, "rms_norm_eps", 1e-6);
    h->tied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "tie_word_embeddings"));
    h->bias = !strcmp(h->arch, "qwen2") || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "attention_bias"));
    h->bos = (int)num_or(c, "bos_token_id", -1);
    h->eos = (int)num_or(c, "eos_token_id", -1);
    if (h->layers < 1 || h->layers > MAX_LAYERS || h->hidden < 1 || h->ffn < 1 || h->heads < 1 || h->kv_heads < 1 ||
        h->heads % h->kv_heads || h->vocab < 1)
        return tappa_fail(err, TAPPA_ERR_FORMAT,
                          "%s: needs num_hidden_layers, hidden_size, intermediate_size, num_attention_heads (a "
                          "multiple of num_key_value_heads) and vocab_size",
                          path);
    h->head_dim = (int)num_or(c, "head_dim", h->hidden / h->heads);
    if (h->head_dim < 2 || h->head_dim % 2)
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: head_dim %d must be even", path, h->head_dim);
    /* Rotary settings: transformers 5 nests them in rope_parameters, 4 has rope_theta and rope_scaling. */
    const cJSON *rope = cJSON_GetObjectItemCaseSensitive(c, "rope_parameters");
    if (!cJSON_IsObject(rope)) rope = cJSON_GetObjectItemCaseSensitive(c, "rope_scaling");
    h->theta = num_or(c, "rope_theta", cJSON_IsObject(rope) ? num_or(rope, "rope_theta", 10000) : 10000);
    h->rope_type = NULL;
    if (cJSON_IsObject(rope)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rope, "rope_type");
        if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rope, "type");
        const char *type = cJSON_IsString(t) ? t->valuestring : "default";
        h->factor = num_or(rope, "factor", 1);
        if (!strcmp(type, "llama3")) {
            h->rope_type = "llama3";
            h->low_freq = num_or(rope, "low_freq_factor", 1);
            h->high_freq = num_or(rope, "high_freq_factor", 4);
            h->original_context = (int)num_or(rope, "original_max_position_embeddings", 8192);
            if (!(h->high_freq > h->low_freq) || h->original_context < 1 || !(h->factor > 0))
                return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: llama3 rope scaling with inconsistent factors", path);
        } else if (!strcmp(type, "linear")) {
            h->rope_type = "linear";
        } else if (strcmp(type, "default")) {
            return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s: rope type '%s' (tappa takes default, linear, llama3)",
                              path, type);
        }
    }
    return TAPPA_OK;
}

/* llama.cpp's per-pair frequency divisors for Llama-3 rope scaling (its
 * rope_freqs.weight): 1 for short wavelengths, factor for long ones, smoothly
 * in between - the same rule as transformers' llama3 inv_freq. */
static void llama3_factors(const hf_config *h, float *out)
{
    double low_wavelen = h->original_context / h->low_freq, high_wavelen = h->original_context / h->high_freq;
    for (int i = 0; i < h->head_dim / 2; i++) {
        double freq = 1.0 / pow(h->theta, 2.0 * i / h->head_dim), wavelen = 2 * 3.14159265358979323846 / freq;
        if (wavelen < high_wavelen) out[i] = 1.0f;
        else if (wavelen > low_wavelen) out[i] = (float)h->factor;
        else {
            double smooth = (h->original_context / wavelen - h->low_freq) / (h->high_freq - h->low_freq);
            out[i] = (float)(1.0 / ((1 - smooth) / h->factor + smooth));
        }
    }
}

/* ---- tokenizer.json -> tokenizer.ggml.* ---------------------------------- */
static tappa_status tokenizer_pre(const char *path, const cJSON *tok, const char **pre, tappa_error *err)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(tok, "pre_tokenizer");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "ByteLevel") &&
        !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(p, "use_regex"))) {
        *pre = "gpt-2";
        return TAPPA_OK;
    }
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "Sequence")) {
        const cJSON *step;
        cJSON_ArrayForEach(step, cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"))
        {
            const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(step, "pattern");
            const cJSON *regex = cJSON_GetObjectItemCaseSensitive(pattern, "Regex");
            if (!cJSON_IsString(regex)) continue;
            for (size_t i = 0; i < sizeof known_pre / sizeof known_pre[0]; i++)
                if (!strcmp(regex->valuestring, known_pre[i].regex)) {
                    *pre = known_pre[i].pre;
                    return TAPPA_OK;
                }
        }
    }
    return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                      "%s: a pre-tokenizer tappa does not know (it knows GPT-2's byte level, Llama-3's and Qwen2's)",
                      path);
}

static tappa_status add_tokenizer(tappa_gguf_writer *w, const char *dir, const hf_config *h, int add_bos,
                                  tappa_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    cJSON *tok;
    tappa_status st = read_json(path, &tok, err);
    if (st) return st;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tok, "model");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const char *pre = NULL;
    if (!cJSON_IsString(mtype) || strcmp(mtype->valuestring, "BPE") || !cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        st = tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s: tappa converts BPE tokenizers with a vocab and merges", path);
    if (!st) st = tokenizer_pre(path, tok, &pre, err);
    int n = h->vocab;
    const char **tokens = calloc((size_t)n, sizeof *tokens);
    int32_t *types = calloc((size_t)n, sizeof *types);
    int n_merges = cJSON_GetArraySize(merges);
    char **merge_text = calloc((size_t)n_merges + 1, sizeof *merge_text);
    if (!st && (!tokens || !types || !merge_text)) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    const cJSON *e;
    if (!st)
        cJSON_ArrayForEach(e, vocab)
        {
            int id = cJSON_IsNumber(e) ? e->valueint : -1;
            if (id < 0 || id >= n) {
                st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: token '%s' has id %d outside the vocab of %d", path,
                                e->string, id, n);
                break;
            }
            tokens[id] = e->string;
            types[id] = 1; /* normal */
        }
    if (!st)
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(tok, "added_tokens"))
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id"), *content = cJSON_GetObjectItemCaseSensitive(e, "content");
            if (!cJSON_IsNumber(id) || id->valueint < 0 || id->valueint >= n || !cJSON_IsString(content)) continue;
            tokens[id->valueint] = content->valuestring;
            types[id->valueint] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special")) ? 3 : 4; /* control, user */
        }
    /* Ids the checkpoint has rows for but the tokenizer never produces (padding to a round vocab). */
    static const char unused[] = "[PAD]";
    for (int i = 0; i < n && !st; i++)
        if (!tokens[i]) {
            tokens[i] = unused;
            types[i] = 5; /* unused */
        }
    int i = 0;
    if (!st)
        cJSON_ArrayForEach(e, merges)
        {
            /* "a b" (tokenizers < 0.20) or ["a", "b"]. */
            const char *a = NULL, *b = NULL;
            if (cJSON_IsString(e)) merge_text[i] = strdup(e->valuestring);
            else if (cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                     cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
                a = cJSON_GetArrayItem(e, 0)->valuestring;
                b = cJSON_GetArrayItem(e, 1)->valuestring;
                merge_text[i] = malloc(strlen(a) + strlen(b) + 2);
                if (merge_text[i]) sprintf(merge_text[i], "%s %s", a, b);
            } else {
                st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: merge %d is neither \"a b\" nor [a, b]", path, i);
                break;
            }
            if (!merge_text[i++]) {
                st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
                break;
            }
        }
    if (add_bos < 0) {
        /* A post-processor template that starts with a special token adds BOS. */
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tok, "post_processor"),
                                                               "single");
        add_bos = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(single, 0), "SpecialToken") != NULL;
    }
    if (!st) st = tappa_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", err);
    if (!st) st = tappa_gguf_set_str(w, "tokenizer.ggml.pre", pre, err);
    if (!st) st = tappa_gguf_set_strs(w, "tokenizer.ggml.tokens", tokens, (uint64_t)n, err);
    if (!st) st = tappa_gguf_set_i32s(w, "tokenizer.ggml.token_type", types, (uint64_t)n, err);
    if (!st) st = tappa_gguf_set_strs(w, "tokenizer.ggml.merges", (const char *const *)merge_text, (uint64_t)i, err);
    if (!st && h->bos >= 0) st = tappa_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)h->bos, err);
    if (!st && h->eos >= 0) st = tappa_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)h->eos, err);
    if (!st) st = tappa_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", add_bos != 0, err);
    for (int j = 0; j < n_merges; j++) free(merge_text[j]);
    free(merge_text);
    free(tokens);
    free(types);
    cJSON_Delete(tok);
    return st;
}

/* ---- weights --------------------------------------------------------------- */
/* The GGUF name of a Hugging Face weight, or false when it has none. */
static bool gguf_name(const char *hf, char *out, size_t cap, int *layer, bool *permute_q, bool *permute_k)
{
    static const struct { const char *hf, *gguf; } per_layer[] = {
        { "input_layernorm.weight", "attn_norm.weight" },  { "self_attn.q_proj.weight", "attn_q.weight" },
        { "self_attn.k_proj.weight", "attn_k.weight" },    { "self_attn.v_proj.weight", "attn_v.weight" },
        { "self_attn.o_proj.weight", "attn_output.weight" }, { "self_attn.q_proj.bias", "attn_q.bias" },
        { "self_attn.k_proj.bias", "attn_k.bias" },        { "self_attn.v_proj.bias", "attn_v.bias" },
        { "post_attention_layernorm.weight", "ffn_norm.weight" }, { "mlp.gate_proj.weight", "ffn_gate.weight" },
        { "mlp.up_proj.weight", "ffn_up.weight" },         { "mlp.down_proj.weight", "ffn_down.weight" },
    };
    *layer = -1;
    *permute_q = *permute_k = false;
    if (!strcmp(hf, "model.embed_tokens.weight")) return snprintf(out, cap, "token_embd.weight"), true;
    if (!strcmp(hf, "model.norm.weight")) return snprintf(out, cap, "output_norm.weight"), true;
    if (!strcmp(hf, "lm_head.weight")) return snprintf(out, cap, "output.weight"), true;
    int n = 0;
    if (sscanf(hf, "model.layers.%d.%n", layer, &n) != 1 || n == 0 || *layer < 0) return false;
    for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++)
        if (!strcmp(hf + n, per_layer[i].hf)) {
            snprintf(out, cap, "blk.%d.%s", *layer, per_layer[i].gguf);
            *permute_q = strstr(per_layer[i].hf, "q_proj") != NULL;
            *permute_k = strstr(per_layer[i].hf, "k_proj") != NULL;
            return true;
        }
    return false;
}

/* llama.cpp's rotary layout for llama: within each head, row half * hd/2 + i
 * (transformers' rotate-half pairs i, i + hd/2) moves to row 2 i + half. */
static void permute_rows(const float *src, float *dst, int heads, int head_dim, size_t cols)
{
    int half = head_dim / 2;
    for (int h = 0; h < heads; h++)
        for (int part = 0; part < 2; part++)
            for (int i = 0; i < half; i++)
                memcpy(dst + ((size_t)h * head_dim + 2 * i + part) * cols,
                       src + ((size_t)h * head_dim + part * half + i) * cols, cols * sizeof *dst);
}

static tappa_status add_weight(tappa_gguf_writer *w, const hf_config *h, tappa_ggml_type type, const char *hf,
                               const tappa_array *a, bool *seen, tappa_error *err)
{
    char name[128];
    int layer;
    bool pq, pk;
    if (!gguf_name(hf, name, sizeof name, &layer, &pq, &pk)) return TAPPA_OK; /* e.g. rotary_emb.inv_freq */
    if (layer >= h->layers)
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: layer %d but config.json has %d layers", hf, layer, h->layers);
    if (!strcmp(name, "output.weight") && h->tied) return TAPPA_OK; /* the embeddings serve */
    if (a->ndim < 1 || a->ndim > 2 || a->dtype == TAPPA_I32)
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: expected a 1-D or 2-D float tensor", hf);
    size_t rows = a->ndim == 2 ? (size_t)a->shape[0] : 1, cols = (size_t)a->shape[a->ndim - 1], n = rows * cols;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    void *q = malloc(tappa_ggml_bytes(TAPPA_GGML_F32, n) + 1);
    tappa_status st = (!x || !y || !q) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", hf) : TAPPA_OK;
    if (!st) {
        for (size_t i = 0; i < n; i++)
            x[i] = a->dtype == TAPPA_F16 ? tappa_f16_to_f32(((const uint16_t *)a->data)[i]) : ((const float *)a->data)[i];
        if (!strcmp(h->arch, "llama") && (pq || pk)) {
            /* A weight's rows, or a bias's entries, are the heads' dims. */
            int heads = pq ? h->heads : h->kv_heads;
            size_t width = a->ndim == 2 ? cols : 1;
            if (n / width != (size_t)heads * (size_t)h->head_dim)
                st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: %zu rows, not %d heads of %d", hf, n / width, heads,
                                h->head_dim);
            else {
                permute_rows(x, y, heads, h->head_dim, width);
                memcpy(x, y, n * sizeof *x);
            }
        }
    }
    /* Norms and biases stay f32; quantised types need whole blocks per row. */
    tappa_ggml_type t = a->ndim == 1 ? TAPPA_GGML_F32 : type;
    if ((t == TAPPA_GGML_Q8_0 || t == TAPPA_GGML_Q4_0) && cols % 32) t = TAPPA_GGML_F16;
    uint64_t dims[2] = { cols, rows };
    if (!st) {
        quant_from_f32(t, x, n, q);
        st = tappa_gguf_add_tensor(w, name, t, a->ndim, dims, q, err);
    }
    if (!st && layer >= 0) {
        static const char *const parts[] = { "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                                             "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight",
                                             "ffn_up.weight", "ffn_down.weight" };
        const char *suffix = strchr(strchr(name, '.') + 1, '.') + 1;
        for (int p = 0; p < 9; p++)
            if (!strcmp(suffix, parts[p])) seen[2 + layer * 9 + p] = true;
    } else if (!st) {
        seen[!strcmp(name, "output_norm.weight") ? 1 : !strcmp(name, "token_embd.weight") ? 0 : 2 + h->layers * 9] = true;
    }
    free(x);
    free(y);
    free(q);
    return st;
}

static tappa_status add_weights(tappa_gguf_writer *w, const char *dir, const hf_config *h, tappa_ggml_type type,
                                void (*progress)(int, int, void *), void *user, tappa_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    cJSON *index = NULL;
    const char *shards[4096];
    int n_shards = 0;
    FILE *probe = fopen(path, "rb");
    tappa_status st = TAPPA_OK;
    if (probe) {
        fclose(probe);
        st = read_json(path, &index, err);
        const cJSON *e;
        if (!st)
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(index, "weight_map"))
            {
                if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
                    st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: weight_map entries must be file names", path);
                    break;
                }
                int k = 0;
                while (k < n_shards && strcmp(shards[k], e->valuestring)) k++;
                if (k == n_shards) {
                    if (n_shards == 4096) {
                        st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: more than 4096 shards", path);
                        break;
                    }
                    shards[n_shards++] = e->valuestring;
                }
            }
        if (!st && !n_shards) st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: an empty weight_map", path);
    } else {
        shards[n_shards++] = "model.safetensors";
    }
    /* seen: token_embd, output_norm, 9 per layer, output. */
    bool *seen = calloc((size_t)h->layers * 9 + 3, sizeof *seen);
    if (!st && !seen) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (int s = 0; s < n_shards && !st; s++) {
        snprintf(path, sizeof path, "%s/%s", dir, shards[s]);
        tappa_safetensors *f = NULL;
        st = tappa_safetensors_read(path, &f, err);
        for (size_t i = 0; !st && i < tappa_safetensors_count(f); i++)
            st = add_weight(w, h, type, tappa_safetensors_name(f, i), tappa_safetensors_at(f, i), seen, err);
        tappa_safetensors_free(&f);
        if (!st && progress) progress(s + 1, n_shards, user);
    }
    if (!st && h->tied) seen[2 + h->layers * 9] = true;
    for (int i = 0; i < h->layers * 9 + 3 && !st; i++)
        if (!seen[i])
            st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: the checkpoint lacks %s", dir,
                            i == 0 ? "model.embed_tokens.weight" : i == 1 ? "model.norm.weight"
                            : i == 2 + h->layers * 9 ? "lm_head.weight" : "a layer weight");
    free(seen);
    cJSON_Delete(index);
    return st;
}

static tappa_status add_hparams(tappa_gguf_writer *w, const char *dir, const hf_config *h, tappa_ggml_type type,
                                tappa_error *err)
{
    char key[128];
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    uint32_t file_type = type == TAPPA_GGML_F32 ? 0 : type == TAPPA_GGML_F16 ? 1 : type == TAPPA_GGML_Q8_0 ? 7 : 2;
    tappa_status st = tappa_gguf_set_str(w, "general.architecture", h->arch, err);
    if (!st) st = tappa_gguf_set_str(w, "general.name", base, err);
    if (!st) st = tappa_gguf_set_u32(w, "general.file_type", file_type, err);
#define SET_U32(suffix, v) \
    if (!st) snprintf(key, sizeof key, "%s." suffix, h->arch), st = tappa_gguf_set_u32(w, key, (uint32_t)(v), err)
#define SET_F32(suffix, v) \
    if (!st) snprintf(key, sizeof key, "%s." suffix, h->arch), st = tappa_gguf_set_f32(w, key, (float)(v), err)
    SET_U32("context_length", h->context);
    SET_U32("embedding_length", h->hidden);
    SET_U32("block_count", h->layers);
    SET_U32("feed_forward_length", h->ffn);
    SET_U32("attention.head_count", h->heads);
    SET_U32("attention.head_count_kv", h->kv_heads);
    SET_U32("attention.key_length", h->head_dim);
    SET_U32("attention.value_length", h->head_dim);
    SET_U32("rope.dimension_count", h->head_dim);
    SET_U32("vocab_size", h->vocab);
    SET_F32("rope.freq_base", h->theta);
    SET_F32("attention.layer_norm_rms_epsilon", h->eps);
    if (h->rope_type && !strcmp(h->rope_type, "linear")) {
        snprintf(key, sizeof key, "%s.rope.scaling.type", h->arch);
        if (!st) st = tappa_gguf_set_str(w, key, "linear", err);
        SET_F32("rope.scaling.factor", h->factor);
    }
#undef SET_U32
#undef SET_F32
    if (!st && h->rope_type && !strcmp(h->rope_type, "llama3")) {
        float factors[512];
        uint64_t dims[1] = { (uint64_t)h->head_dim / 2 };
        if (h->head_dim / 2 > 512) return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "head_dim above 1024");
        llama3_factors(h, factors);
        st = tappa_gguf_add_tensor(w, "rope_freqs.weight", TAPPA_GGML_F32, 1, dims, factors, err);
    }
    return st;
}

tappa_status tappa_convert_hf(const char *dir, const char *out_path, const tappa_convert_params *p,
                              void (*progress)(int done, int total, void *user), void *user, tappa_error *err)
{
    if (!tappa_ggml_type_name(p->type))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "convert: unknown weight type %d", (int)p->type);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *config;
    tappa_status st = read_json(path, &config, err);
    if (st) return st;
    hf_config h = { 0 };
    tappa_gguf_writer *w = NULL;
    st = parse_config(path, config, &h, err);
    if (!st) st = tappa_gguf_writer_create(&w, err);
    if (!st) st = add_hparams(w, dir, &h, p->type, err);
    if (!st) st = add_tokenizer(w, dir, &h, p->add_bos, err);
    if (!st) st = add_weights(w, dir, &h, p->type, progress, user, err);
    if (!st) st = tappa_gguf_write(w, out_path, err);
    tappa_gguf_writer_free(&w);
    cJSON_Delete(config);
    return st;
}
