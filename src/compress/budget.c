/* Per-layer KV budgets (SPEC.md step 4), matching the reference's
 * adjust_budgets step for step, including its quirks: the excess handed to
 * uncapped layers is not re-capped. */
#include <math.h>
#include <stdlib.h>

#include "tappa/budget.h"

static tappa_status check_sizes(int layers, int64_t cache_size, int64_t window, int64_t seq_len,
                                tappa_error *err)
{
    if (layers < 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "budget: needs at least one layer");
    if (window < 1 || cache_size <= window)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "budget: needs 1 <= window (%lld) < cache size (%lld)", (long long)window,
                          (long long)cache_size);
    if (seq_len < window)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "budget: sequence length %lld is shorter than the window %lld",
                          (long long)seq_len, (long long)window);
    if (cache_size > ((int64_t)1 << 40) / layers || seq_len > ((int64_t)1 << 40))
        return tappa_fail(err, TAPPA_ERR_LIMIT, "budget: sizes are absurdly large");
    return TAPPA_OK;
}

/* Add amount to the layers below cap (sign +1), or take it from the layers
 * above 1 (sign -1): split evenly, the remainder one each to the
 * lowest-indexed of them. */
static void spread(int64_t *b, int layers, int64_t amount, int sign, int64_t cap)
{
    int n = 0;
    for (int l = 0; l < layers; l++) n += sign > 0 ? b[l] < cap : b[l] > 1;
    if (n == 0) return;
    int64_t each = amount / n, rest = amount % n;
    for (int l = 0, seen = 0; l < layers; l++) {
        if (!(sign > 0 ? b[l] < cap : b[l] > 1)) continue;
        b[l] += sign * (each + (seen < rest));
        seen++;
    }
}

tappa_status tappa_budgets_from_prefs(const double *prefs, int layers, int64_t cache_size,
                                      int64_t window, int64_t seq_len, int64_t *budgets,
                                      tappa_error *err)
{
    tappa_status st = check_sizes(layers, cache_size, window, seq_len, err);
    if (st) return st;
    int64_t cap = seq_len - window;
    if (seq_len <= cache_size + window) { /* nothing is compressed */
        for (int l = 0; l < layers; l++) budgets[l] = cap;
        return TAPPA_OK;
    }
    double sum = 0;
    for (int l = 0; l < layers; l++) {
        if (!(prefs[l] >= 0) || !isfinite(prefs[l]))
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "budget: preference %d is %g (needs >= 0)",
                              l, prefs[l]);
        sum += prefs[l];
    }
    if (!(sum > 0)) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "budget: all preferences are 0");
    int64_t pool = (cache_size - window) * layers, excess = 0;
    for (int l = 0; l < layers; l++) {
        budgets[l] = (int64_t)(prefs[l] / sum * (double)pool); /* truncated, as the reference */
        if (budgets[l] > cap) {
            excess += budgets[l] - cap;
            budgets[l] = cap;
        }
    }
    if (excess > 0) spread(budgets, layers, excess, +1, cap);
    int64_t total = 0;
    for (int l = 0; l < layers; l++) total += budgets[l];
    if (total != pool) spread(budgets, layers, llabs(pool - total), pool > total ? +1 : -1, cap);
    return TAPPA_OK;
}

tappa_status tappa_budgets_uniform(int layers, int64_t cache_size, int64_t window, int64_t seq_len,
                                   int64_t *budgets, tappa_error *err)
{
    tappa_status st = check_sizes(layers, cache_size, window, seq_len, err);
    if (st) return st;
    /* Short prompts keep everything: N - W <= C - W exactly when N <= C (and
     * for C < N <= C + W SPEC.md says nothing is compressed either). */
    int64_t b = seq_len <= cache_size + window ? seq_len - window : cache_size - window;
    for (int l = 0; l < layers; l++) budgets[l] = b;
    return TAPPA_OK;
}

tappa_status tappa_budgets_pyramid(int layers, int64_t cache_size, int64_t window, int64_t seq_len,
                                   int64_t beta, int64_t *budgets, tappa_error *err)
{
    tappa_status st = check_sizes(layers, cache_size, window, seq_len, err);
    if (st) return st;
    if (beta < 1) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "budget: pyramid beta must be >= 1");
    int64_t per = cache_size - window, cap = seq_len - window;
    if (seq_len <= cache_size + window) { /* nothing is compressed */
        for (int l = 0; l < layers; l++) budgets[l] = cap;
        return TAPPA_OK;
    }
    int64_t lo = per / beta, hi = 2 * per - lo;
    if (hi >= cap) {
        hi = cap;
        lo = 2 * per - hi;
    }
    int64_t step = layers > 1 ? (hi - lo) / (layers - 1) : 0;
    for (int l = 0; l < layers; l++) budgets[l] = hi - l * step;
    return TAPPA_OK;
}
