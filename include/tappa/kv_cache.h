/* The KV cache of a decoder: per layer one K and one V tensor laid out
 * [Hkv][capacity][D], and a length per layer. Layers may hold different
 * lengths (compressed layers keep different budgets); decode attention reads
 * the first length positions of a layer in place, with no copy. */
#ifndef TAPPA_KV_CACHE_H
#define TAPPA_KV_CACHE_H

#include "tappa/ops.h"
#include "tappa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tappa_kv_cache tappa_kv_cache;

/* Allocate layers x 2 tensors of [hkv, capacity, d] in dtype (f32 or f16), all
 * lengths 0. Caller owns *out (tappa_kv_cache_destroy); ctx must outlive it. */
tappa_status tappa_kv_cache_create(tappa_context *ctx, int layers, int64_t hkv, int64_t capacity,
                                   int64_t d, tappa_dtype dtype, tappa_kv_cache **out,
                                   tappa_error *err);
/* Free all layers and set *cache to NULL; accepts NULL. */
void tappa_kv_cache_destroy(tappa_kv_cache **cache);

int tappa_kv_cache_layers(const tappa_kv_cache *cache);
int64_t tappa_kv_cache_capacity(const tappa_kv_cache *cache);
/* Valid positions of a layer. */
int64_t tappa_kv_cache_length(const tappa_kv_cache *cache, int layer);
/* The layer's K or V tensor, [Hkv, capacity, D], owned by the cache: writers
 * (compaction) fill positions 0..n-1 of every head, then set the length. */
tappa_tensor *tappa_kv_cache_keys(const tappa_kv_cache *cache, int layer);
tappa_tensor *tappa_kv_cache_values(const tappa_kv_cache *cache, int layer);
/* Set a layer's length (0..capacity). */
tappa_status tappa_kv_cache_set_length(tappa_kv_cache *cache, int layer, int64_t length,
                                       tappa_error *err);

/* Append t new positions to a layer: k, v [Hkv, t, D] in the cache's dtype are
 * copied on the device to positions length..length+t-1 of each head. */
tappa_status tappa_kv_cache_append(tappa_kv_cache *cache, int layer, const tappa_tensor *k,
                                   const tappa_tensor *v, tappa_error *err);
/* The same with K rotated on the way in, as tappa_rope rotates it: row i of
 * each head at position params->pos_offset + i (a token's position, which
 * a compressed layer's length no longer is); k itself is left as it was.
 * One step on a Vulkan device with f32 rows (no RoPE step for K, and no
 * barrier before the append), RoPE then the append otherwise. */
tappa_status tappa_kv_cache_append_rope(tappa_kv_cache *cache, int layer, const tappa_tensor *k,
                                        const tappa_tensor *v, const tappa_rope_params *params,
                                        tappa_error *err);
/* The same after the attention's RMSNorm scale: rows i of K and V are
 * first multiplied by 1 / sqrt(mean(resid[i]^2) + eps), resid [T, embd]
 * f32, T <= 8 (a decode step or a prompt chunk). For k and v that are
 * products of x * weight (tappa_matvec_norm_out's h), so no norm step runs
 * before them. One step on a Vulkan device with f32 rows, each tensor in
 * one binding (TAPPA_ERR_UNSUPPORTED otherwise); the CPU scales, then appends. */
tappa_status tappa_kv_cache_append_rope_prescaled(tappa_kv_cache *cache, int layer, const tappa_tensor *k,
                                                  const tappa_tensor *v, const tappa_rope_params *params,
                                                  const tappa_tensor *resid, double eps, tappa_error *err);

/* Decode attention of one new token against a layer of the cache: q [Hq, 1, D]
 * f32 (post-RoPE), out [Hq, 1, D] f32, lse [Hq, 1] f32 or NULL. The new
 * token's own K/V must have been appended first (it attends to itself). */
tappa_status tappa_attention_decode(const tappa_tensor *q, const tappa_kv_cache *cache, int layer,
                                    tappa_tensor *out, tappa_tensor *lse, tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
