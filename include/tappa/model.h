/* Decoder models (Llama and Qwen2 architectures) from GGUF: hyperparameters,
 * weights, tokenizer, and sessions that run the forward pass over a KV cache.
 * On the CPU backend the forward pass is the float64-accumulating reference. */
#ifndef TAPPA_MODEL_H
#define TAPPA_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tappa/context.h"
#include "tappa/gguf.h"
#include "tappa/status.h"
#include "tappa/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tappa_model_info {
    const char *arch;          /* "llama" or "qwen2" */
    const char *name;          /* general.name, or NULL */
    int layers, embd, ffn, heads, kv_heads, head_dim, vocab, context;
    float rope_base, rope_scale; /* positions are divided by rope_scale (linear scaling) */
    float eps;
    bool rope_interleaved;     /* llama (GGUF's permuted Q/K): pairs (2i, 2i+1); qwen2: (i, i + D/2) */
    bool rope_freqs;           /* per-pair frequency divisors (Llama-3 scaling) */
    bool qkv_bias;
    tappa_ggml_type weight_type; /* of the matrices as loaded */
    size_t weight_bytes;
} tappa_model_info;

typedef struct tappa_model_params {
    /* Matrices as stored (TAPPA_GGML_F32 + keep_type) or converted at load to f32 or f16. */
    bool keep_type;
    tappa_ggml_type type;
} tappa_model_params;
#define TAPPA_MODEL_PARAMS_DEFAULT ((tappa_model_params){ true, TAPPA_GGML_F32 })

typedef struct tappa_model tappa_model;

tappa_status tappa_model_load(tappa_context *ctx, const char *path, const tappa_model_params *params,
                              tappa_model **out, tappa_error *err);
void tappa_model_free(tappa_model **m);
const tappa_model_info *tappa_model_get_info(const tappa_model *m);
const tappa_tokenizer *tappa_model_tokenizer(const tappa_model *m);

/* What a session records of each evaluated token for a trace (SPEC.md), when
 * asked: per layer post- and pre-RoPE queries, keys, values, and the hidden
 * states entering each layer and leaving the last. */
typedef struct tappa_trace tappa_trace;

/* A conversation with the model: its KV cache (room for max_tokens) and position. */
typedef struct tappa_session tappa_session;
tappa_status tappa_session_create(tappa_model *m, int64_t max_tokens, tappa_session **out, tappa_error *err);
void tappa_session_free(tappa_session **s);
int64_t tappa_session_length(const tappa_session *s);
/* KV-cache bytes in use. */
size_t tappa_session_kv_bytes(const tappa_session *s);
/* Run n tokens at the session's next positions; logits gets [n, vocab] when
 * all_logits, else the last token's [vocab]. */
tappa_status tappa_session_eval(tappa_session *s, const int32_t *ids, size_t n, bool all_logits, float *logits,
                                tappa_error *err);
/* Record what a trace needs from now on (before the first eval). */
tappa_status tappa_session_record_trace(tappa_session *s, tappa_error *err);
/* Write the recorded trace: layer.{i}.q, q_pre [Hq, N, D], layer.{i}.k, v
 * [Hkv, N, D], hidden.{i} [N, d_model] for i = 0..L, all f32. */
tappa_status tappa_session_write_trace(const tappa_session *s, const char *path, tappa_error *err);

/* The layer-pruning scores of the tokens recorded so far (one calibration
 * chunk): per layer the block influence between the hidden states entering
 * and leaving it and the cosine q-similarity of its pre-RoPE queries, computed
 * on ctx (tappa_prune_chunk_bi / _qsim). bi, qsim: (layers) out. */
tappa_status tappa_session_prune_scores(const tappa_session *s, tappa_context *ctx, double *bi, double *qsim,
                                        tappa_error *err);

/* KV compression of the prompt evaluated so far (SPEC.md), on the model's
 * device: the recorded trace (tappa_session_record_trace before the first
 * token) gives each layer's post-RoPE queries, keys and values to
 * tappa_compress, whose cache then replaces the session's; decoding goes on
 * at the next position over each layer's kept positions. Recording stops.
 * report: (layers), free with tappa_compress_report_free. */
typedef struct tappa_compress_params tappa_compress_params;
typedef struct tappa_compress_layer tappa_compress_layer;
tappa_status tappa_session_compress(tappa_session *s, const tappa_compress_params *p, tappa_compress_layer *report,
                                    tappa_error *err);
/* Positions a layer's cache holds. */
int64_t tappa_session_layer_length(const tappa_session *s, int layer);

typedef struct tappa_compress_params tappa_compress_params;
/* Perplexity of ids (a tokenised text) in windows of `window` tokens, as
 * llama.cpp measures it: each window starts with BOS (when the model has
 * one), its first half is context, and the second half's tokens are scored,
 * each by the log-softmax of the logits before it. nll: mean negative
 * log-likelihood (ppl = exp(nll)); scored: tokens scored. progress, if given,
 * is called after each window. */
typedef struct tappa_perplexity {
    double nll, ppl;
    int64_t scored;
    int windows;
} tappa_perplexity;
/* With kv non-NULL, each window's context half is compressed with it at the
 * end of its prefill and the scored half runs on the compressed cache. */
tappa_status tappa_eval_perplexity(tappa_model *m, const int32_t *ids, size_t n, int64_t window,
                                   const tappa_compress_params *kv,
                                   void (*progress)(int done, int total, void *user), void *user,
                                   tappa_perplexity *out, tappa_error *err);

/* One window of perplexity evaluation: seq (len tokens, BOS first) with the
 * tokens from `first` on scored. logits gets the len - first rows that score
 * them: row i predicts seq[first + i]. With kv, the first `first` tokens are
 * compressed before the rest runs. */
tappa_status tappa_eval_window(tappa_model *m, const int32_t *seq, size_t len, size_t first,
                               const tappa_compress_params *kv, float *logits, tappa_error *err);

/* Copy the GGUF at in_path to out_path without the layers listed in remove
 * (n distinct indices below the block count): their blk.{i}.* tensors are
 * dropped, the others renumbered in order, <arch>.block_count updated, every
 * other entry and tensor copied unchanged. */
tappa_status tappa_gguf_remove_layers(const char *in_path, const int32_t *remove, size_t n, const char *out_path,
                                      tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
