/* KV-cache budgets per layer (SPEC.md, KV compression step 4 and the
 * baselines): how many non-window prompt positions each layer keeps. Tiny
 * host computations; the scores that feed them are computed on the device. */
#ifndef TAPPA_BUDGET_H
#define TAPPA_BUDGET_H

#include <stdint.h>

#include "tappa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Budgets from layer preferences (tappa, cake): the pool P = (C - W) * L is
 * shared in proportion to pref (truncated), each layer capped at N - W, the
 * excess of capped layers split evenly over the others (remainder one each to
 * the lowest-indexed), then any difference to P spread the same way - exactly
 * the reference implementation's adjust_budgets. If N <= C + W nothing is
 * compressed and every layer keeps N - W. prefs: (layers), >= 0, not all 0;
 * budgets: (layers) out. */
tappa_status tappa_budgets_from_prefs(const double *prefs, int layers, int64_t cache_size,
                                      int64_t window, int64_t seq_len, int64_t *budgets,
                                      tappa_error *err);

/* Uniform budgets (snapkv, h2o, streamingllm): C - W per layer. As for every
 * method, a prompt with N <= C + W is not compressed: N - W per layer. */
tappa_status tappa_budgets_uniform(int layers, int64_t cache_size, int64_t window, int64_t seq_len,
                                   int64_t *budgets, tappa_error *err);

/* PyramidKV: budgets falling linearly with depth from max to about min, with
 * min = (C - W) div beta and max = 2 (C - W) - min, shifted down to N - W when
 * max exceeds it; layer l keeps max - l * ((max - min) div (L - 1)). */
tappa_status tappa_budgets_pyramid(int layers, int64_t cache_size, int64_t window, int64_t seq_len,
                                   int64_t beta, int64_t *budgets, tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
