/* Attention-pattern analysis (TAPPA's first half): per head, how similar its
 * queries stay (q-similarity), how well each attention row is predicted by the
 * previous one, and which pattern it draws - vertical (re-accessed keys,
 * sinks included), diagonal (fixed query-key offsets), periodic (a period in
 * the offsets, from RoPE's high-frequency pairs) or irregular - with the RoPE
 * pairs that carry its scores. The attention rows, q-similarities, the rows'
 * profiles and predictability and the RoPE picture are computed on the
 * context's device (each op with its float64 reference on the CPU backend);
 * what is left for the host is picking the top keys and offsets and the
 * autocorrelation of one profile of at most 1024 offsets per head. */
#ifndef TAPPA_PATTERNS_H
#define TAPPA_PATTERNS_H

#include <stddef.h>
#include <stdint.h>

#include "tappa/array.h"
#include "tappa/context.h"
#include "tappa/ops.h"
#include "tappa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tappa_pattern_params {
    int64_t rows;     /* attention rows sampled: the last `rows` queries, >= 2 (default 64) */
    int64_t window;   /* qsim_window's queries: the last W, >= 2 (default 32) */
    int64_t top;      /* keys (vertical) or offsets (diagonal) whose mass counts, >= 1 (default 4) */
    double threshold; /* the best score must reach it, else the head is irregular (default 0.5) */
} tappa_pattern_params;

void tappa_pattern_params_default(tappa_pattern_params *p);

typedef enum tappa_pattern_class {
    TAPPA_PATTERN_VERTICAL = 0,
    TAPPA_PATTERN_DIAGONAL = 1,
    TAPPA_PATTERN_PERIODIC = 2,
    TAPPA_PATTERN_IRREGULAR = 3,
} tappa_pattern_class;

/* "vertical", "diagonal", "periodic", "irregular": fixed, for scripts. */
const char *tappa_pattern_class_name(tappa_pattern_class c);

typedef struct tappa_head_pattern {
    double qsim;           /* cosine q-similarity over all N queries (pre-RoPE when given) */
    double qsim_window;    /* the same over the last W queries */
    /* Mean over consecutive sampled rows of the better of cos(A_r, A_r-1) (the
     * same keys again) and cos(A_r, A_r-1 moved one key on) (the same offsets
     * again): how well the previous step's row predicts this one. In [0, 1]. */
    double predictability;
    /* Each in [0, 1]: the mean row mass on the `top` keys with the most mass
     * over the rows (vertical), on the `top` offsets p - j with the most mass
     * (diagonal), and the largest local peak at lag >= 2 of the normalised
     * autocorrelation of the first differences of the offset profile (the
     * mass per offset, over the first min(N - S + 1, 1024) offsets, which
     * every sampled row sees): periodic, at lag `period`. */
    double vertical, diagonal, periodic;
    int64_t period;        /* 0 when the profile has no peak */
    tappa_pattern_class cls;
} tappa_head_pattern;

/* The scores of one head from its rows' profiles (tappa_pattern_profiles,
 * one head): col, off (n), pred (s), of s >= 2 rows ending at query n - 1.
 * Sets every field but qsim and qsim_window. */
tappa_status tappa_pattern_scores(const float *col, const float *off, const float *pred, int64_t s, int64_t n,
                                  const tappa_pattern_params *p, tappa_head_pattern *out, tappa_error *err);

/* Rank correlation of x and y (average ranks for ties); NaN when n < 2,
 * either has no spread or any value is not finite. */
double tappa_spearman(const double *x, const double *y, size_t n);

/* The pairing of RoPE's rotations in a trace: the layout under which every
 * pair's norm is the same in q_pre and q (a rotation keeps it). q_pre, q:
 * [T, D] f32 rows of one head. */
tappa_rope_layout tappa_rope_layout_of(const float *q_pre, const float *q, int64_t t, int64_t d);

/* Every head of one layer of a trace. q: [Hq, N, D] post-RoPE; q_pre: the
 * same pre-RoPE, or NULL (q-similarity and the RoPE picture then use q, and
 * layout is taken as given); k: [Hkv, N, D]; f32 or f16 each, N >= 2.
 * heads: (Hq) out; rope_energy: (Hq, D/2) out; attn: (Hq, rows, N) f32 out,
 * the sampled rows, or NULL. rows and window are clipped to N. */
tappa_status tappa_patterns_layer(tappa_context *ctx, const tappa_array *q, const tappa_array *q_pre,
                                  const tappa_array *k, tappa_rope_layout layout,
                                  const tappa_pattern_params *p, tappa_head_pattern *heads,
                                  double *rope_energy, float *attn, tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
