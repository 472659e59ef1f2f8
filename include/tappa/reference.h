/* The float64 CPU references every shader is checked against. They take and
 * return plain double arrays (C order) so tests can call them directly. */
#ifndef TAPPA_REFERENCE_H
#define TAPPA_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "tappa/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x, y: (rows, cols). */
void tappa_ref_softmax(const double *x, double *y, size_t rows, size_t cols);

/* x, y: (slices, n, d); token t of each slice is at position pos_offset + t. */
void tappa_ref_rope(const double *x, double *y, size_t slices, size_t n, size_t d,
                    const tappa_rope_params *params);

/* q: (heads, t, d); out: (heads); sigma: the RBF width (other modes ignore it). */
void tappa_ref_qsim(const double *q, double *out, size_t heads, size_t t, size_t d,
                    tappa_qsim_mode mode, double sigma);

/* q: (hq, n, d); k: (hkv, n, d); mean, var, colsum, entropy: (hq, n); colsum
 * and entropy may be NULL. */
void tappa_ref_window_stats(const double *q, const double *k, double *mean, double *var,
                            double *colsum, double *entropy, size_t hq, size_t hkv, size_t n,
                            size_t d, size_t window);

/* a, b: (hq, n); out: (hkv, n - window). */
void tappa_ref_token_scores(const double *a, const double *b, double a_scale, double gamma,
                            size_t hq, size_t hkv, size_t n, size_t window, size_t kernel,
                            double *out);

/* scores: (rows, m); keep: (rows, k) out, each row's k best positions in
 * ascending order (ties: lower position first); k <= m. */
void tappa_ref_topk_positions(const double *scores, size_t rows, size_t m, size_t k,
                              int32_t *keep);

/* x: (rows, stride); out: (rows), the sums of each row's first cols entries. */
void tappa_ref_row_sums(const double *x, size_t rows, size_t stride, size_t cols, double *out);
/* 1 / sqrt(mean(x^2) + eps) of the n values of x: RMSNorm's scale of a row. */
double tappa_ref_rms_scale(const double *x, size_t n, double eps);
/* x, y: (rows, n); weight: (n). */
void tappa_ref_rmsnorm(const double *x, const double *weight, size_t rows, size_t n, double eps, double *y);
/* out = gate / (1 + exp(-gate)) * up; (n) each. */
void tappa_ref_swiglu(const double *gate, const double *up, size_t n, double *out);
/* tappa_ref_rope of x [slices, n, d] with token t's rows scaled by
 * 1 / sqrt(mean(resid[t]^2) + eps), resid [n, embd]. */
void tappa_ref_rope_prescaled(const double *x, double *y, size_t slices, size_t n, size_t d,
                              const tappa_rope_params *params, const double *resid, size_t embd, double eps);
/* SwiGLU of tokens rows of n after scaling row t of gate and up by
 * 1 / sqrt(mean(x[t]^2) + eps), x [tokens, embd]: the MLP's RMSNorm moved
 * past products of the norm's weighted input. */
void tappa_ref_swiglu_prescaled(const double *gate, const double *up, const double *x, size_t tokens, size_t n,
                                size_t embd, double eps, double *out);
/* w: (rows, cols); x: (tokens, cols); bias: (rows) or NULL; y: (tokens, rows),
 * added to when accumulate. */
void tappa_ref_matvec(const double *w, size_t rows, size_t cols, const double *x, size_t tokens,
                      const double *bias, bool accumulate, double *y);
/* a, b: (n, dm); out: (n), 1 - cos per row (NaN cosine -> 0.5). */
void tappa_ref_block_influence(const double *a, const double *b, size_t n, size_t dm, double *out);

/* q: (hq, nq, d); k, v: (hkv, nk, d); out: (hq, nq, d); lse: (hq, nq) or NULL. */
void tappa_ref_attention(const double *q, const double *k, const double *v, double *out,
                         double *lse, size_t hq, size_t hkv, size_t nq, size_t nk, size_t d,
                         bool causal);

/* q: (hq, n, d); k: (hkv, n, d); out: (hq, rows, n), causal softmax weights of
 * query positions row0 .. row0 + rows - 1 (0 after each query's position). */
void tappa_ref_attention_rows(const double *q, const double *k, double *out, size_t hq, size_t hkv,
                              size_t n, size_t d, size_t row0, size_t rows);
/* rows: (heads, s, n); col, off: (heads, n); pred: (heads, s) (tappa_pattern_profiles). */
void tappa_ref_pattern_profiles(const double *rows, size_t heads, size_t s, size_t n, double *col, double *off,
                                double *pred);
/* q: (hq, n, d); k: (hkv, n, d); out: (hq, d / 2) (tappa_rope_energy). */
void tappa_ref_rope_energy(const double *q, const double *k, size_t hq, size_t hkv, size_t n, size_t d,
                           bool interleaved, double *out);

#ifdef __cplusplus
}
#endif
#endif
