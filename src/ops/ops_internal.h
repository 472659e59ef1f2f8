/* What src/ops/ shares: the record step of each op (so tappa-bench can record
 * many runs between timestamps) and small dispatch helpers. A record function
 * appends dispatches to the device's open recording (tvk_begin) and does not
 * submit; the public op wraps it in begin / record / submit. */
#ifndef TAPPA_OPS_INTERNAL_H
#define TAPPA_OPS_INTERNAL_H

#include <stdbool.h>

#include "../core/internal.h"
#include "tappa_shaders.h"

#define SHADER(name) tappa_spv_##name, tappa_spv_##name##_bytes

/* Workgroup size for 1-D kernels: a power of two, at most 256 and within the
 * device's maxComputeWorkGroupInvocations (>= 128 guaranteed). */
uint32_t op_workgroup_size(const tvk_device *dev);

/* Find the segment holding elements [first, first + count) of t, and the
 * element offset of first inside it; fails if the range straddles segments. */
tappa_status op_locate(const tappa_tensor *t, size_t first, size_t count, size_t *seg,
                       size_t *offset, tappa_error *err);

/* Whether every segment of t starts on a row (its last dim), so that rows
 * start 16-byte aligned in their bindings where rows are multiples of 16
 * bytes, as cooperative-matrix tile loads need. */
bool op_aligned_rows(const tappa_tensor *t);

/* One contiguous run of rows of a head of t ([H, R, D]) inside one segment:
 * rows [row, row + rows) of the head start at element offset of segment seg. */
typedef struct op_piece {
    size_t seg, offset;
    uint32_t row, rows;
} op_piece;
#define OP_MAX_PIECES 64
/* The pieces of rows [0, n) of head h of t; returns their count. */
size_t op_head_pieces(const tappa_tensor *t, size_t h, size_t n, op_piece *out, size_t max);

/* Fail with TAPPA_ERR_UNSUPPORTED when one invocation of a kernel would run
 * more loop iterations than the device's driver allows (llvmpipe ends such
 * loops early and silently), rather than return wrong numbers. */
tappa_status op_check_loops(const tvk_device *dev, uint64_t iterations, const char *op,
                            tappa_error *err);

/* Run record(args) as one submission on t's device. */
typedef tappa_status (*op_record_fn)(void *args, tappa_error *err);
tappa_status op_submit(tvk_device *dev, op_record_fn record, void *args, tappa_error *err);

/* unroll: 16-byte elements per invocation (specialization constant). */
#define COPY_UNROLL 4
tappa_status copy_record(const tappa_tensor *src, tappa_tensor *dst, uint32_t unroll,
                         tappa_error *err);
tappa_status softmax_record(const tappa_tensor *x, tappa_tensor *y, tappa_error *err);
/* table: f32 (256 + ceil(n/256), d/2, 2) made by rope_table_create. */
tappa_status rope_table_create(tappa_context *ctx, int64_t n, int64_t d,
                               const tappa_rope_params *params, tappa_tensor **table,
                               tappa_error *err);
/* The RoPE parameters every op taking them accepts (one line naming op otherwise). */
tappa_status rope_check_params(const tappa_rope_params *params, const char *op, tappa_error *err);
/* The RMSNorm scale a PRESCALE variant applies to its rows first: row t of
 * the op's input (t < tokens <= RMS_PRESCALE_MAX_ROWS for rope and the
 * append) is multiplied by 1 / sqrt(mean(x[t]^2) + eps), x [rows, embd] f32
 * in one binding. The norm is then moved past the products that read the
 * norm's weighted input (matvec_norm_out_record's h), which are linear in it. */
typedef struct rms_prescale {
    const tappa_tensor *x;
    double eps;
    uint32_t tokens;
} rms_prescale;
#define RMS_PRESCALE_MAX_ROWS 8 /* rms_scale.glsl's RMS_MAX_ROWS: a decode step or a prompt chunk */

/* Token n of x takes the table's position table_pos + n (a table made once
 * for a whole context serves every decode step). pre: NULL, or the rows'
 * scale (PRESCALE; f32 x [H, N, D] with N <= RMS_PRESCALE_MAX_ROWS). */
tappa_status rope_record(const tappa_tensor *x, tappa_tensor *y, const tappa_tensor *table,
                         const tappa_rope_params *params, uint32_t table_pos, const rms_prescale *pre,
                         tappa_error *err);
tappa_status qsim_record(const tappa_tensor *q, tappa_tensor *out, tappa_qsim_mode mode,
                         tappa_error *err);
tappa_status token_scores_record(const tappa_tensor *a, const tappa_tensor *b, double a_scale,
                                 double gamma, int64_t window, int64_t kernel, tappa_tensor *out,
                                 tappa_error *err);
tappa_status topk_record(const tappa_tensor *scores, int64_t k, tappa_tensor *keep, tappa_error *err);
/* keep may be NULL (window only). */
tappa_status kv_compact_record(const tappa_tensor *src, const tappa_tensor *keep, int64_t window,
                               tappa_tensor *dst, tappa_error *err);
tappa_status row_sums_record(const tappa_tensor *x, int64_t cols, tappa_tensor *out, tappa_error *err);
tappa_status rmsnorm_record(const tappa_tensor *x, const tappa_tensor *weight, double eps, tappa_tensor *y,
                            tappa_error *err);
tappa_status swiglu_record(const tappa_tensor *gate, const tappa_tensor *up, tappa_tensor *out, tappa_error *err);
/* SwiGLU of the first pre->tokens rows of gate and up ([rows, n]), each
 * row scaled first (the MLP's norm moved past its products). */
tappa_status swiglu_prescaled_record(const tappa_tensor *gate, const tappa_tensor *up, const rms_prescale *pre,
                                     tappa_tensor *out, tappa_error *err);
/* Record the copy of the first t positions of k, v [Hkv, S >= t, D] to a
 * layer's next positions (the cache's dtype, checked by the caller) and count
 * them as held. */
typedef struct tappa_kv_cache tappa_kv_cache;
tappa_status kv_cache_append_record(tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                                    int64_t t, tappa_error *err);
/* The same with K rotated by table (rope_table_create's) from table position
 * table_pos, in one kv_append dispatch: whether that dispatch takes these
 * tensors, and its record step (TAPPA_ERR_UNSUPPORTED where it does not). */
bool kv_cache_append_rope_fits(const tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                               int64_t t, const tappa_tensor *table);
/* pre: NULL, or the scale of K's and V's rows (PRESCALE, t <= RMS_PRESCALE_MAX_ROWS). */
tappa_status kv_cache_append_rope_record(tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                                         int64_t t, const tappa_tensor *table, bool interleaved, uint32_t table_pos,
                                         const rms_prescale *pre, tappa_error *err);
typedef struct tappa_matrix tappa_matrix;
/* The first `tokens` rows of x; y token-major with y_stride floats a token (0:
 * rows), or with head_dim > 0 head-major [rows / head_dim, y_stride, head_dim]. */
tappa_status matvec_record(const tappa_matrix *m, const tappa_tensor *x, uint32_t tokens, const tappa_tensor *bias,
                           bool accumulate, tappa_tensor *y, uint32_t head_dim, uint32_t y_stride, tappa_error *err);
/* A residual product y += W x (token-major y [tokens, rows]) that also
 * writes h = y * norm_weight, the next RMSNorm's input before its per-token
 * scale (matvec.comp's NORM_OUT): whether it runs on dev for these tokens
 * (not on tensor cores), and its record step. */
bool matvec_norm_out_fits(const tappa_matrix *m, uint32_t tokens);
tappa_status matvec_norm_out_record(const tappa_matrix *m, const tappa_tensor *x, uint32_t tokens, tappa_tensor *y,
                                    const tappa_tensor *norm_weight, tappa_tensor *h, tappa_error *err);
/* The fused gate/up/SwiGLU product (matvec.comp's GATED variant): whether
 * it takes these matrices and tokens on their device, and its record step
 * (y token-major [tokens, rows]). */
bool matvec_swiglu_fits(const tappa_matrix *gate, const tappa_matrix *up, uint32_t tokens);
tappa_status matvec_swiglu_record(const tappa_matrix *gate, const tappa_matrix *up, const tappa_tensor *x,
                                  uint32_t tokens, tappa_tensor *y, tappa_error *err);
/* matvec on cooperative matrices (matvec_coopmat.c): whether dev takes
 * tokens of x against the f16 weights w (i32 [rows, cols / 2], segments of
 * whole rows) on that path, and its record step, with matvec_record's
 * arguments. */
bool matvec_coopmat_fits(const tvk_device *dev, const tappa_tensor *w, uint32_t tokens);
tappa_status matvec_coopmat_record(const tappa_tensor *w, const tappa_tensor *x, uint32_t tokens,
                                   const tappa_tensor *bias, bool accumulate, tappa_tensor *y, uint32_t head_dim,
                                   uint32_t y_stride, tappa_error *err);
tappa_status block_influence_record(const tappa_tensor *h_in, const tappa_tensor *h_out,
                                    tappa_tensor *out, tappa_error *err);
/* Pairwise q-similarity modes (qsim_pairwise.c): the float64 reference and
 * the device path. */
void qsim_pairwise_reference(const double *q, double *out, size_t heads, size_t t, size_t d,
                             tappa_qsim_mode mode, double sigma);
tappa_status qsim_pairwise_run(const tappa_tensor *q, tappa_tensor *out, tappa_qsim_mode mode,
                               double sigma, tappa_error *err);
/* Scratch of the pairwise passes: dist (kl's P and log P) and per-block sums. */
tappa_status qsim_pairwise_scratch(const tappa_tensor *q, tappa_qsim_mode mode, tappa_tensor **dist,
                                   tappa_tensor **part, tappa_error *err);
tappa_status qsim_pairwise_record(const tappa_tensor *q, tappa_tensor *out, tappa_tensor *dist,
                                  tappa_tensor *part, tappa_qsim_mode mode, double sigma,
                                  tappa_error *err);
/* tappa patterns' ops (ops.h), recorded into the open command buffer. */
tappa_status pattern_profiles_record(const tappa_tensor *rows, tappa_tensor *col, tappa_tensor *off,
                                     tappa_tensor *pred, tappa_error *err);
tappa_status rope_energy_record(const tappa_tensor *q, const tappa_tensor *k, bool interleaved, tappa_tensor *out,
                                tappa_error *err);
tappa_status attention_rows_record(const tappa_tensor *q, const tappa_tensor *k, int64_t row0,
                                   tappa_tensor *out, tappa_error *err);
/* lse: [Hq, N], the prefill's (lse_given) or scratch that passes 3 and 0
 * fill for the window rows, with part (at least 2 W ceil(N / wg) floats) for
 * their partials; colsum and entropy may be NULL. */
tappa_status window_stats_record(const tappa_tensor *q, const tappa_tensor *k, int64_t window,
                                 tappa_tensor *lse, bool lse_given, tappa_tensor *part,
                                 tappa_tensor *mean, tappa_tensor *var, tappa_tensor *colsum,
                                 tappa_tensor *entropy, tappa_error *err);

/* Attention (attention_prefill.c, attention_decode.c). prefill: q [Hq, Nq, D]
 * against k, v [Hkv, Nk, D]. decode: q [Hq, 1, D] against the first n rows of
 * each head of k, v [Hkv, capacity, D]; lse may not be NULL for either. */
tappa_status attention_prefill_record(const tappa_tensor *q, const tappa_tensor *k,
                                      const tappa_tensor *v, bool causal, tappa_tensor *out,
                                      tappa_tensor *lse, tappa_error *err);
/* Make sure ctx holds the state a multi-pass prefill carries between passes,
 * and that the device's tile layout is known (the tensor-core path needs it). */
tappa_status attention_prefill_prepare(tappa_context *ctx, const tappa_tensor *q,
                                       const tappa_tensor *k, tappa_error *err);
/* The layout of a 16 x 16 f32 cooperative-matrix tile (coopmat_layout.c).
 * probe: (32 lanes, COOPMAT_PROBE_STRIDE) as coopmat_layout.comp writes it,
 * each lane's element count then its element numbers (row * 16 + column).
 * coopmat_layout_of says whether a kernel can work on the tile's rows in
 * registers, and fills out if so: every lane holds 8 elements on at most two
 * rows, in lane 0's pattern and at lane 0's column steps (element 0 the
 * lowest column), and each row lies in an aligned group of lanes (a power of
 * two) that hold the same two rows. coopmat_layout_probe runs the probe once
 * per device (dev->coopmat_rows_in_registers stays false without 16 x 16 f16
 * tiles in subgroups of exactly 32). */
#define COOPMAT_PROBE_STRIDE 17
bool coopmat_layout_of(const uint32_t *probe, coopmat_layout *out);
tappa_status coopmat_layout_probe(tvk_device *dev, tappa_error *err);
/* Whether dev runs the tensor-core attention kernels (prefill and decode)
 * on f16 K/V: tensor cores on, the probed layout works on rows in registers,
 * f16 arithmetic (their Q and P tiles), and subgroup shuffles and votes in
 * compute. Each kernel adds its own shape and memory conditions. */
bool coopmat_attention_usable(const tvk_device *dev, tappa_dtype kv);
/* Make sure ctx's decode scratch holds the partials of a decode over n keys. */
tappa_status attention_decode_prepare(tappa_context *ctx, const tappa_tensor *q,
                                      const tappa_tensor *k, int64_t n, tappa_error *err);
tappa_status attention_decode_record(const tappa_tensor *q, const tappa_tensor *k,
                                     const tappa_tensor *v, int64_t n, tappa_tensor *out,
                                     tappa_tensor *lse, tappa_error *err);
/* The same with the Hq query rows read q_stride floats apart from element
 * q_first of q (a chunk's token in a head-major [Hq, T, D] block), and the
 * output rows written as Hq * D contiguous floats from element out_first. */
tappa_status attention_decode_record_rows(const tappa_tensor *q, size_t q_first, size_t q_stride,
                                          const tappa_tensor *k, const tappa_tensor *v, int64_t n,
                                          tappa_tensor *out, size_t out_first, tappa_tensor *lse, tappa_error *err);
/* Decode attention over the first n rows of each head of k, v (kv_cache.c). */
tappa_status attention_decode_cache(const tappa_tensor *q, const tappa_tensor *k,
                                    const tappa_tensor *v, int64_t n, tappa_tensor *out,
                                    tappa_tensor *lse, tappa_error *err);
/* Argument checks shared by tappa_attention and tappa_attention_decode. */
tappa_status attention_check(const tappa_tensor *q, const tappa_tensor *k, const tappa_tensor *v,
                             int64_t nk, const tappa_tensor *out, const tappa_tensor *lse,
                             tappa_error *err);

/* Host copies in double for the CPU backend: download t into a new array. */
tappa_status op_to_double(const tappa_tensor *t, double **out, tappa_error *err);
tappa_status op_from_double(tappa_tensor *t, const double *v, tappa_error *err);

#endif
