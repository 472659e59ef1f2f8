/* TAPPA-guided layer pruning (SPEC.md, "Layer pruning"): per-layer block
 * influence (ShortGPT) and pre-RoPE q-similarity from calibration chunks, and
 * the prune order that combines them. A chunk's scores are computed on the
 * context's device; the order is a tiny host computation. */
#ifndef TAPPA_PRUNE_H
#define TAPPA_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "tappa/array.h"
#include "tappa/context.h"
#include "tappa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Block influence of each of `layers` layers for one calibration chunk:
 * bi[l] = mean over the chunk's tokens of 1 - cos(hidden[l], hidden[l + 1])
 * (tappa_block_influence). hidden: layers + 1 arrays [N, d_model] of one shape
 * and dtype (f32 or f16): the embeddings, then each layer's output; bi: (layers)
 * out. Each hidden state is uploaded once and at most two are on the device at
 * a time. */
tappa_status tappa_prune_chunk_bi(tappa_context *ctx, int layers, const tappa_array *const *hidden,
                                  double *bi, tappa_error *err);

/* q-similarity of each layer for one calibration chunk: qsim[l] = mean over
 * heads of the cosine q-similarity of q_pre[l] ([Hq, N, D], the pre-RoPE
 * queries, f32 or f16) over all N tokens. qsim: (layers) out. */
tappa_status tappa_prune_chunk_qsim(tappa_context *ctx, int layers, const tappa_array *const *q_pre,
                                    double *qsim, tappa_error *err);

/* Min-max normalisation to [0, 1]: out[i] = (x[i] - min) / (max - min), all 0
 * when every x is equal. n >= 1; out may equal x. */
void tappa_minmax_normalize(const double *x, size_t n, double *out);

/* TAPPA's pruning score BI' = BI_norm + beta * (1 - q_norm) of each layer,
 * with the normalised inputs it is made of. bi, q: (n) raw scores; bi_norm,
 * q_norm, score: (n) out. */
void tappa_prune_scores(const double *bi, const double *q, size_t n, double beta, double *bi_norm,
                        double *q_norm, double *score);

/* Layers sorted by score ascending, ties by lower index: the order in which
 * they are pruned. score: (n) finite; order: (n) out. */
void tappa_prune_order(const double *score, size_t n, int32_t *order);

/* The paper's beta for a model name (llama-2-7b 0.2, llama-3.1-8b 0.3,
 * qwen-2.5-7b 0.1; case and '.', '-', '_' separators ignored, so
 * "Llama-3.1-8B" and "llama_3_1_8b" match), or -1 when there is none. */
double tappa_prune_default_beta(const char *model);

#ifdef __cplusplus
}
#endif
#endif
