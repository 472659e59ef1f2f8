/* Ops. Each runs on the tensor's context: the CPU backend computes in float64
 * (the reference), the Vulkan backend runs the op's shader. Inputs and outputs
 * must belong to the same context; ops are synchronous (the result is in the
 * output tensor when the call returns). */
#ifndef TAPPA_OPS_H
#define TAPPA_OPS_H

#include <stdbool.h>

#include "tappa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst = src, same dtype and element count (a pure bandwidth kernel; f32/i32). */
tappa_status tappa_copy(const tappa_tensor *src, tappa_tensor *dst, tappa_error *err);

/* Row softmax over the last dimension, numerically stable (max subtracted).
 * x, y: [..., C], same shape and dtype (f32 or f16; f32 arithmetic). */
tappa_status tappa_softmax(const tappa_tensor *x, tappa_tensor *y, tappa_error *err);

typedef enum tappa_rope_layout {
    TAPPA_ROPE_HALF = 0,        /* rotate-half: pairs (i, i + D/2) - Llama, NeoX */
    TAPPA_ROPE_INTERLEAVED = 1, /* pairs (2i, 2i + 1) - GPT-J */
} tappa_rope_layout;

typedef struct tappa_rope_params {
    tappa_rope_layout layout;
    double base;        /* frequency base theta, e.g. 10000 or 500000; > 1 */
    int64_t pos_offset; /* position of token 0 (e.g. the cache length at decode); >= 0 */
    const float *freq_divisors; /* (D/2) per-pair divisors of the frequency (Llama-3 scaling), or NULL */
    double scale;       /* linear scaling: positions are divided by it; 0 or 1: none */
} tappa_rope_params;

/* Rotary position embedding. x, y: [..., N, D] (D even), same shape and dtype
 * (f32 or f16). Token n of every leading slice has position pos_offset + n and
 * pair i is rotated by angle position / scale * base^(-2i/D) / divisor_i.
 * y may equal x. */
tappa_status tappa_rope(const tappa_tensor *x, tappa_tensor *y, const tappa_rope_params *params,
                        tappa_error *err);

/* RoPE after the attention's RMSNorm scale: token n's rows of x are first
 * multiplied by 1 / sqrt(mean(resid[n]^2) + eps). x, y: [..., N, D] f32
 * with N <= 8 (a decode step or a prompt chunk); resid: [N, embd] f32. The
 * queries of products of x * weight (tappa_matvec_norm_out's h) get the
 * normed attention input this way, without a norm step before them. */
tappa_status tappa_rope_prescaled(const tappa_tensor *x, tappa_tensor *y, const tappa_rope_params *params,
                                  const tappa_tensor *resid, double eps, tappa_error *err);

typedef enum tappa_qsim_mode {
    TAPPA_QSIM_COSINE = 0,  /* mean pairwise cosine, O(T*D) form (SPEC.md) */
    TAPPA_QSIM_DOT = 1,     /* mean pairwise dot product, O(T*D) form */
    TAPPA_QSIM_PEARSON = 2, /* cosine of vectors centred over D, divided by D (as the reference) */
    /* Pairwise modes, O(T^2 D): the mean over ordered pairs i != j of ... */
    TAPPA_QSIM_EUCLIDEAN = 3, /* |q_i - q_j|_2 (a distance: higher = less similar) */
    TAPPA_QSIM_L1 = 4,        /* |q_i - q_j|_1 (a distance) */
    TAPPA_QSIM_RBF = 5,       /* exp(-|q_i - q_j|^2 / (2 sigma^2)) */
    TAPPA_QSIM_ANGULAR = 6,   /* acos(clamp(cos, -1, 1)) / pi (a distance) */
    TAPPA_QSIM_KL = 7,        /* symmetric KL of the rows' softmax over D (a divergence) */
} tappa_qsim_mode;

/* q-similarity of each head over its T queries. q: [H, T, D] (f32 or f16);
 * out: [H] f32. T < 2 gives 0. RBF uses sigma = 1 (tappa_qsim_rbf for others). */
tappa_status tappa_qsim(const tappa_tensor *q, tappa_tensor *out, tappa_qsim_mode mode,
                        tappa_error *err);
/* RBF q-similarity with a chosen sigma > 0. */
tappa_status tappa_qsim_rbf(const tappa_tensor *q, tappa_tensor *out, double sigma,
                            tappa_error *err);

/* Window-attention statistics (SPEC.md, KV compression steps 1-2, before
 * pooling), computed without materialising any weight matrix. With
 * A[i][j] = exp(q_i . k_j / sqrt(D) - lse[i]) for keys j <= i (query i at
 * position i; the prompt is causal), for query head h and key j:
 *   mean[h][j], var[h][j]: mean and unbiased variance over the last W queries;
 *   colsum[h][j]: the sum over all N queries (h2o's score), when colsum is given;
 *   entropy[h][j]: the sum over the last W queries of -A log(A + 1e-10) (cake's
 *   entropy before summing over heads and keys), when entropy is given.
 * q: [Hq, N, D] post-RoPE f32; k: [Hkv, N, D] f32 or f16 with Hq % Hkv == 0;
 * lse: [Hq, N] f32 from tappa_attention's prefill, or NULL to compute the W
 * window rows here (colsum needs it); mean, var, colsum, entropy: [Hq, N] f32;
 * 2 <= W <= N. */
tappa_status tappa_window_stats(const tappa_tensor *q, const tappa_tensor *k, int64_t window,
                                const tappa_tensor *lse, tappa_tensor *mean, tappa_tensor *var,
                                tappa_tensor *colsum, tappa_tensor *entropy, tappa_error *err);

/* Attention weights of consecutive query rows, for looking at a head's
 * pattern without an N x N matrix: out[h][r][j] = softmax over keys j <= p of
 * q_p . k_j / sqrt(D) with p = row0 + r, and 0 for j > p (causal).
 * q: [Hq, N, D] f32 (post-RoPE); k: [Hkv, N, D] f32 or f16, Hq % Hkv == 0,
 * D <= 256; out: [Hq, rows, N] f32; 0 <= row0, row0 + rows <= N. On Vulkan one
 * KV head of keys and one query head's rows must each fit one binding. */
tappa_status tappa_attention_rows(const tappa_tensor *q, const tappa_tensor *k, int64_t row0,
                                  tappa_tensor *out, tappa_error *err);

/* What tappa patterns reads from sampled attention rows (tappa_attention_rows):
 * rows [H, S, N] f32, row r the causal weights of query position N - S + r,
 * 2 <= S <= N. col, off: [H, N] f32, the mean over the rows of the mass on key
 * j and on offset j (key p_r - j; 0 past p_r). pred: [H, S] f32, for r >= 1
 * the better of cos(A_r, A_r-1) and cos(A_r, A_r-1 moved one key on), and
 * pred[h][0] = 0. */
tappa_status tappa_pattern_profiles(const tappa_tensor *rows, tappa_tensor *col, tappa_tensor *off, tappa_tensor *pred,
                                    tappa_error *err);

/* Which rotary pairs drive each head: out[h][j] = sum_t |q_j(t)| |k_j(t)|
 * over its sum across the D/2 pairs (pair 0 the highest frequency; pairs
 * (j, j + D/2) for TAPPA_ROPE_HALF, (2j, 2j + 1) interleaved). q: [Hq, N, D]
 * f32; k: [Hkv, N, D] f32 or f16, Hq % Hkv == 0, D even, <= 256; out: [Hq, D/2]
 * f32. */
tappa_status tappa_rope_energy(const tappa_tensor *q, const tappa_tensor *k, tappa_rope_layout layout,
                               tappa_tensor *out, tappa_error *err);

/* Token importance for KV compression (SPEC.md step 2), per KV head and
 * non-window key: s = a_scale * a + gamma * b for every query head, average-
 * pooled along the keys (kernel odd, zero padding kernel / 2, divisor always
 * kernel), then averaged over the query heads of each KV head. tappa and cake:
 * a = window mean, b = window variance, a_scale 1, gamma 200; snapkv: a_scale
 * W, gamma 0 (the window sum); h2o: a = the column sums, gamma 0.
 * a, b: [Hq, N] f32 (b unused when gamma is 0 but must still match a);
 * out: [Hkv, N - W] f32; Hq % Hkv == 0. */
tappa_status tappa_token_scores(const tappa_tensor *a, const tappa_tensor *b, double a_scale,
                                double gamma, int64_t window, int64_t kernel, tappa_tensor *out,
                                tappa_error *err);

/* Per-KV-head top-k (SPEC.md step 5): for each row h of scores [Hkv, M] f32,
 * the positions of its k highest scores (ties: lower position first) in
 * ascending order into keep [Hkv, k] i32; 1 <= k <= M. */
tappa_status tappa_topk_positions(const tappa_tensor *scores, int64_t k, tappa_tensor *keep,
                                  tappa_error *err);

/* KV compaction (SPEC.md step 5): for each head of src [Hkv, N, D] (K or V,
 * f32 or f16), the rows keep[h][0..b-1] then the W window rows N-W..N-1 into
 * rows 0..b+W-1 of dst [Hkv, capacity, D] (same dtype, capacity >= b + W), so
 * the kept positions stay in positional order. keep: [Hkv, b] i32 ascending,
 * or NULL to keep only the window (b = 0). A KV cache layer is such a dst. */
tappa_status tappa_kv_compact(const tappa_tensor *src, const tappa_tensor *keep, int64_t window,
                              tappa_tensor *dst, tappa_error *err);

/* Per-row sums of the first cols entries of x [R, C] f32 into out [R] f32
 * (cake's entropy and variance totals). 0 <= cols <= C. */
tappa_status tappa_row_sums(const tappa_tensor *x, int64_t cols, tappa_tensor *out,
                            tappa_error *err);

/* RMSNorm of each row (Llama, Qwen2): y = x / sqrt(mean(x^2) + eps) * weight.
 * x, y: [rows, n] f32 (any shape with a multiple of n elements); weight: [n] f32. */
tappa_status tappa_rmsnorm(const tappa_tensor *x, const tappa_tensor *weight, double eps, tappa_tensor *y,
                           tappa_error *err);

/* SwiGLU: out = silu(gate) * up element by element; gate, up, out f32 of one size. */
tappa_status tappa_swiglu(const tappa_tensor *gate, const tappa_tensor *up, tappa_tensor *out, tappa_error *err);

/* SwiGLU after the MLP's RMSNorm scale: with s[t] = 1 / sqrt(mean(x[t]^2) +
 * eps), out[t] = silu(s[t] gate[t]) * (s[t] up[t]). gate, up, out: [T, n]
 * f32; x: [T, embd] f32. A decoder whose gate and up products read x *
 * weight (tappa_matvec_norm_out's h) gets the normed MLP this way, without
 * a norm step before the products. */
tappa_status tappa_swiglu_prescaled(const tappa_tensor *gate, const tappa_tensor *up, const tappa_tensor *x,
                                    double eps, tappa_tensor *out, tappa_error *err);

/* ShortGPT block influence of each token (SPEC.md, layer pruning):
 * out[t] = 1 - cos(h_in[t], h_out[t]), where a cosine that is NaN (a zero or
 * non-finite row) counts as 0.5. h_in, h_out: [N, d_model], the hidden states
 * entering and leaving one layer, same shape and dtype (f32 or f16), d_model
 * >= 1; out: [N] f32. A layer's block influence is the mean of out. The device
 * sums squares in f32: a row whose squared norm overflows or underflows f32
 * (entries beyond about 1e19, or all below about 1e-19) also scores 0.5. */
tappa_status tappa_block_influence(const tappa_tensor *h_in, const tappa_tensor *h_out,
                                   tappa_tensor *out, tappa_error *err);

/* Scaled dot-product attention with grouped-query heads, f32 accumulation and
 * an online softmax (the score matrix is never materialised).
 * q: [Hq, Nq, D] f32; k, v: [Hkv, Nk, D], both f32 or both f16, Nq <= Nk,
 * Hq % Hkv == 0 (query head h uses KV head h / (Hq / Hkv)); D a multiple of 16
 * up to 256 (64, 80, 96, 128 in the models we target).
 * causal: query i sits at position Nk - Nq + i and sees keys 0..Nk - Nq + i, so
 * Nq = 1 is a decode step and Nq = Nk a prefill.
 * out: [Hq, Nq, D] f32; lse: [Hq, Nq] f32 or NULL, the natural-log sum of
 * exp(q.k / sqrt(D)) over the visible keys of each row (what window statistics
 * reuse). Nq = 1 runs the split-K decode kernel, larger Nq the prefill kernel. */
tappa_status tappa_attention(const tappa_tensor *q, const tappa_tensor *k, const tappa_tensor *v,
                             bool causal, tappa_tensor *out, tappa_tensor *lse, tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
