/* What the model files share: the loaded weights and the session state. */
#ifndef TAPPA_MODEL_INTERNAL_H
#define TAPPA_MODEL_INTERNAL_H

#include "tappa/model.h"
#include "tappa/tensor.h"

/* A matrix [rows, cols] (row-major, ggml's dims { cols, rows }) or a vector (rows 1). */
typedef struct weight {
    tappa_ggml_type type;
    int64_t rows, cols;
    const void *data; /* into the mapping, or owned */
    void *owned;
} weight;

typedef struct layer_weights {
    weight attn_norm, q, k, v, o, ffn_norm, gate, up, down;
    weight bq, bk, bv; /* qwen2 */
} layer_weights;

/* The weights on a Vulkan device (model_vk.c). */
typedef struct tappa_matrix tappa_matrix;
typedef struct vk_layer {
    tappa_matrix *q, *k, *v, *o, *gate, *up, *down;
    tappa_tensor *attn_norm, *ffn_norm, *bq, *bk, *bv; /* f32; biases may be NULL */
} vk_layer;
typedef struct vk_weights {
    vk_layer *layers;
    tappa_matrix *output;
    tappa_tensor *out_norm;
} vk_weights;

/* A session's device state: the KV cache and the activations of one token. */
typedef struct tappa_kv_cache tappa_kv_cache;
#define VK_CHUNK 8 /* tokens per command buffer: each weight is read once for all of them */
typedef struct vk_session {
    tappa_kv_cache *cache;
    tappa_tensor *x, *h;          /* [VK_CHUNK, E] token-major */
    tappa_tensor *q, *k, *v;      /* [H or Hkv, VK_CHUNK, D] head-major, as RoPE and the cache take them */
    tappa_tensor *lse1;             /* one decode's log-sum-exps: [H, 1] */
    tappa_tensor *att;            /* [VK_CHUNK, H * D] token-major, for the output projection */
    tappa_tensor *gate, *up;      /* [VK_CHUNK, F] */
    tappa_tensor *logits;         /* [VK_CHUNK, V] */
    tappa_tensor *rope_table;     /* positions 0 .. capacity + VK_CHUNK */
    /* Host-visible [VK_CHUNK, E] and [VK_CHUNK, V] where device tensors are
     * not mapped (NULL where they are): a chunk's embedding rows and logits
     * are copied in and out by its own submission, not by one each. */
    tappa_tensor *x_in, *logits_out;
    /* Tracing: one chunk's states, copied out during the chunk and read back after it. */
    tappa_tensor *t_hidden;       /* [layers + 1, VK_CHUNK, E] */
    tappa_tensor *t_qpre, *t_q;   /* [layers, H, VK_CHUNK, D] */
    tappa_tensor *t_k, *t_v;      /* [layers, Hkv, VK_CHUNK, D] */
} vk_session;

struct tappa_model {
    tappa_context *ctx;
    tappa_gguf *gguf;
    tappa_tokenizer *tok;
    tappa_model_info info;
    weight embd, out_norm, output;
    bool tied;             /* output is embd (no output.weight) */
    layer_weights *layers; /* (layers) */
    float *rope_freqs;     /* (head_dim / 2) divisors, or NULL */
    vk_weights *dev;       /* on a Vulkan context */
};

/* Growable float storage of trace rows. */
typedef struct trace_rows {
    float *v;
    size_t n, cap; /* floats */
} trace_rows;

struct tappa_session {
    tappa_model *m;
    int64_t cap, len;      /* len: tokens evaluated, the next token's position */
    float *k, *v;          /* (layers, kv_heads, cap, head_dim) */
    int64_t *kv_len;       /* (layers): positions held per layer (fewer than len once compressed) */
    bool tracing;
    int64_t traced;        /* tokens recorded */
    trace_rows *q, *q_pre, *tk, *tv; /* (layers): token-major rows of Hq*D or Hkv*D */
    trace_rows *hidden;    /* (layers + 1): token-major rows of d_model */
    vk_session *dev;       /* on a Vulkan context */
};

/* Row r of w as f32 into out (cols floats). */
void weight_row(const weight *w, int64_t r, float *out);

/* The CPU reference forward pass of n tokens (model_cpu.c). */
tappa_status forward_cpu(tappa_session *s, const int32_t *ids, size_t n, bool all_logits, float *logits,
                         tappa_error *err);
/* The Vulkan forward pass (model_vk.c): weights to the device at load, a
 * session's cache and activations, n tokens one decode step each. */
tappa_status model_vk_upload(tappa_model *m, tappa_error *err);
void model_vk_free(tappa_model *m);
tappa_status session_vk_create(tappa_session *s, tappa_error *err);
tappa_status session_vk_trace(tappa_session *s, tappa_error *err);
void session_vk_free(tappa_session *s);
tappa_status forward_vk(tappa_session *s, const int32_t *ids, size_t n, bool all_logits, float *logits,
                        tappa_error *err);
/* Append n floats to a trace buffer. */
tappa_status trace_append(trace_rows *t, const float *x, size_t n, tappa_error *err);

#endif
