/* Loading a decoder model from GGUF: hyperparameters from llama.cpp's keys,
 * every weight found, shape-checked and (optionally) converted, and sessions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "quant.h"
#include "tappa/tensor_io.h"

void weight_row(const weight *w, int64_t r, float *out)
{
    size_t row_bytes = tappa_ggml_bytes(w->type, (uint64_t)w->cols);
    quant_to_f32(w->type, (const uint8_t *)w->data + (size_t)r * row_bytes, (size_t)w->cols, out);
}

/* Key "<arch>.<suffix>" as u32 into *v; false when absent. */
static bool arch_u32(const tappa_gguf *g, const char *arch, const char *suffix, uint32_t *v)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return tappa_gguf_u32(g, key, v);
}

static bool arch_f32(const tappa_gguf *g, const char *arch, const char *suffix, float *v)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return tappa_gguf_f32(g, key, v);
}

static tappa_status hparams(const char *path, const tappa_gguf *g, tappa_model_info *info, tappa_error *err)
{
    const char *arch = tappa_gguf_str(g, "general.architecture");
    if (!arch) return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: no general.architecture", path);
    if (strcmp(arch, "llama") && strcmp(arch, "qwen2"))
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s: architecture '%s' (tappa runs llama and qwen2)", path, arch);
    info->arch = !strcmp(arch, "llama") ? "llama" : "qwen2";
    info->name = tappa_gguf_str(g, "general.name");
    uint32_t layers, embd, ffn, heads, kv_heads, head_dim, context = 4096;
    if (!arch_u32(g, arch, "block_count", &layers) || !arch_u32(g, arch, "embedding_length", &embd) ||
        !arch_u32(g, arch, "feed_forward_length", &ffn) || !arch_u32(g, arch, "attention.head_count", &heads))
        return tappa_fail(err, TAPPA_ERR_FORMAT,
                          "%s: needs %s.block_count, embedding_length, feed_forward_length and attention.head_count",
                          path, arch);
    if (!arch_u32(g, arch, "attention.head_count_kv", &kv_heads)) kv_heads = heads;
    if (heads == 0 || layers == 0 || layers > 1024 || kv_heads == 0 || heads % kv_heads || embd == 0 || ffn == 0)
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: inconsistent head counts or sizes", path);
    if (!arch_u32(g, arch, "attention.key_length", &head_dim)) head_dim = embd / heads;
    arch_u32(g, arch, "context_length", &context);
    if (context < 2 || context > (1u << 30))
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: context length %u (2 to 2^30 expected)", path, context);
    if (head_dim < 16 || head_dim > 256 || head_dim % 16)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s: head dim %u (tappa's attention takes multiples of 16 up to 256)",
                          path, head_dim);
    info->layers = (int)layers;
    info->embd = (int)embd;
    info->ffn = (int)ffn;
    info->heads = (int)heads;
    info->kv_heads = (int)kv_heads;
    info->head_dim = (int)head_dim;
    info->context = (int)context;
    info->rope_base = 10000;
    arch_f32(g, arch, "rope.freq_base", &info->rope_base);
    info->eps = 1e-5f;
    arch_f32(g, arch, "attention.layer_norm_rms_epsilon", &info->eps);
    info->rope_scale = 1;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *scaling = tappa_gguf_str(g, key);
    if (scaling && !strcmp(scaling, "linear")) arch_f32(g, arch, "rope.scaling.factor", &info->rope_scale);
    else if (scaling && strcmp(scaling, "none"))
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "%s: rope scaling '%s' (tappa takes linear, and Llama-3's as rope_freqs.weight)", path, scaling);
    info->rope_interleaved = !strcmp(info->arch, "llama");
    return TAPPA_OK;
}

/* Find name and check it is [rows, cols] (ggml dims { cols, rows }). */
static tappa_status find_weight(tappa_model *m, const char *path, const char *name, int64_t rows, int64_t cols,
                                bool optional, weight *w, tappa_error *err)
{
    const tappa_gguf_tensor *t = tappa_gguf_find(m->gguf, name);
    memset(w, 0, sizeof *w);
    if (!t) return optional ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_FORMAT, "%s: no tensor %s", path, name);
    if (t->dims[0] != (uint64_t)cols || t->dims[1] != (uint64_t)rows || t->dims[2] != 1 || t->dims[3] != 1)
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: tensor %s is {%llu, %llu}, expected {%lld, %lld}", path, name,
                          (unsigned long long)t->dims[0], (unsigned long long)t->dims[1], (long long)cols,
                          (long long)rows);
    if (rows == 1 && t->type != TAPPA_GGML_F32)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s: tensor %s is %s; norms and biases must be f32", path, name,
                          tappa_ggml_type_name(t->type));
    w->type = t->type;
    w->rows = rows;
    w->cols = cols;
    w->data = t->data;
    return TAPPA_OK;
}

/* Matrices to the requested type at load (vectors stay as stored). */
static tappa_status convert_weight(weight *w, const tappa_model_params *p, tappa_error *err)
{
    if (!w->data || p->keep_type || w->rows == 1 || w->type == p->type) return TAPPA_OK;
    if ((p->type == TAPPA_GGML_Q8_0 || p->type == TAPPA_GGML_Q4_0) && w->cols % 32) return TAPPA_OK;
    size_t row_bytes = tappa_ggml_bytes(p->type, (uint64_t)w->cols);
    float *row = malloc((size_t)w->cols * sizeof *row);
    w->owned = malloc(row_bytes * (size_t)w->rows);
    if (!row || !w->owned) {
        free(row);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory converting weights");
    }
    for (int64_t r = 0; r < w->rows; r++) {
        weight_row(w, r, row);
        quant_from_f32(p->type, row, (size_t)w->cols, (uint8_t *)w->owned + (size_t)r * row_bytes);
    }
    free(row);
    w->type = p->type;
    w->data = w->owned;
    return TAPPA_OK;
}

static void for_each_weight(tappa_model *m, void (*fn)(weight *w, void *user), void *user)
{
    fn(&m->embd, user);
    fn(&m->out_norm, user);
    if (!m->tied) fn(&m->output, user);
    for (int l = 0; m->layers && l < m->info.layers; l++) {
        weight *ws[] = { &m->layers[l].attn_norm, &m->layers[l].q, &m->layers[l].k, &m->layers[l].v,
                         &m->layers[l].o, &m->layers[l].ffn_norm, &m->layers[l].gate, &m->layers[l].up,
                         &m->layers[l].down, &m->layers[l].bq, &m->layers[l].bk, &m->layers[l].bv };
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) fn(ws[i], user);
    }
}

static void free_weight(weight *w, void *user)
{
    (void)user;
    free(w->owned);
    w->owned = NULL;
}

static void count_weight(weight *w, void *user)
{
    if (w->data) *(size_t *)user += tappa_ggml_bytes(w->type, (uint64_t)(w->rows * w->cols));
}

typedef struct convert_args {
    const tappa_model_params *p;
    tappa_error *err;
    tappa_status st;
} convert_args;

static void convert_one(weight *w, void *user)
{
    convert_args *a = user;
    if (!a->st) a->st = convert_weight(w, a->p, a->err);
}

tappa_status tappa_model_load(tappa_context *ctx, const char *path, const tappa_model_params *params,
                              tappa_model **out, tappa_error *err)
{
    *out = NULL;
    tappa_model_params p = params ? *params : TAPPA_MODEL_PARAMS_DEFAULT;
    tappa_model *m = calloc(1, sizeof *m);
    if (!m) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    m->ctx = ctx;
    tappa_status st = tappa_gguf_open(path, &m->gguf, err);
    if (!st) st = hparams(path, m->gguf, &m->info, err);
    if (!st) st = tappa_tokenizer_from_gguf(m->gguf, &m->tok, err);
    tappa_model_info *in = &m->info;
    if (!st) {
        in->vocab = tappa_tokenizer_vocab(m->tok);
        m->layers = calloc((size_t)in->layers, sizeof *m->layers);
        if (!m->layers) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    }
    int64_t qd = (int64_t)in->heads * in->head_dim, kvd = (int64_t)in->kv_heads * in->head_dim;
    if (!st) st = find_weight(m, path, "token_embd.weight", in->vocab, in->embd, false, &m->embd, err);
    if (!st) st = find_weight(m, path, "output_norm.weight", 1, in->embd, false, &m->out_norm, err);
    if (!st) st = find_weight(m, path, "output.weight", in->vocab, in->embd, true, &m->output, err);
    m->tied = !st && !m->output.data; /* tied embeddings: the output projection is token_embd */
    char name[96];
#define W(field, suffix, rows, cols, optional)                                              \
    if (!st) snprintf(name, sizeof name, "blk.%d." suffix, l),                             \
        st = find_weight(m, path, name, rows, cols, optional, &m->layers[l].field, err)
    for (int l = 0; l < in->layers && !st; l++) {
        W(attn_norm, "attn_norm.weight", 1, in->embd, false);
        W(q, "attn_q.weight", qd, in->embd, false);
        W(k, "attn_k.weight", kvd, in->embd, false);
        W(v, "attn_v.weight", kvd, in->embd, false);
        W(o, "attn_output.weight", in->embd, qd, false);
        W(bq, "attn_q.bias", 1, qd, true);
        W(bk, "attn_k.bias", 1, kvd, true);
        W(bv, "attn_v.bias", 1, kvd, true);
        W(ffn_norm, "ffn_norm.weight", 1, in->embd, false);
        W(gate, "ffn_gate.weight", in->ffn, in->embd, false);
        W(up, "ffn_up.weight", in->ffn, in->embd, false);
        W(down, "ffn_down.weight", in->embd, in->ffn, false);
        if (!st) in->qkv_bias = m->layers[l].bq.data != NULL;
    }
#undef W
    const tappa_gguf_tensor *rf = st ? NULL : tappa_gguf_find(m->gguf, "rope_freqs.weight");
    if (rf) {
        if (rf->type != TAPPA_GGML_F32 || rf->elements != (uint64_t)in->head_dim / 2)
            st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: rope_freqs.weight must be %d f32 values", path, in->head_dim / 2);
        else if (!(m->rope_freqs = malloc(rf->bytes)))
            st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        else
            memcpy(m->rope_freqs, rf->data, rf->bytes);
        in->rope_freqs = true;
    }
    if (!st) {
        convert_args a = { &p, err, TAPPA_OK };
        for_each_weight(m, convert_one, &a);
        st = a.st;
    }
    if (!st) {
        if (m->tied) m->output = m->embd; /* shares embd's data; freed through embd */
        if (tappa_context_backend(ctx) == TAPPA_BACKEND_VULKAN) st = model_vk_upload(m, err);
    }
    if (!st) {
        in->weight_type = m->layers[0].q.type;
        for_each_weight(m, count_weight, &in->weight_bytes);
    }
    if (st) {
        tappa_model_free(&m);
        return st;
    }
    *out = m;
    return TAPPA_OK;
}

void tappa_model_free(tappa_model **mp)
{
    if (!mp || !*mp) return;
    tappa_model *m = *mp;
    model_vk_free(m);
    for_each_weight(m, free_weight, NULL);
    free(m->layers);
    free(m->rope_freqs);
    tappa_tokenizer_free(&m->tok);
    tappa_gguf_close(&m->gguf);
    free(m);
    *mp = NULL;
}

const tappa_model_info *tappa_model_get_info(const tappa_model *m) { return &m->info; }
const tappa_tokenizer *tappa_model_tokenizer(const tappa_model *m) { return m->tok; }
