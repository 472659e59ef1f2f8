/* The prune order of SPEC.md on hand-computed cases: min-max normalisation,
 * BI' = BI_norm + beta (1 - q_norm), ascending order with ties by index,
 * equal scores, a single layer, beta 0 (ShortGPT's order), the paper's betas. */
#include <stdbool.h>
#include <stdio.h>

#include "check.h"
#include "tappa/prune.h"

static void check_order(const int32_t *got, const int32_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++) CHECK_INT_EQ(got[i], want[i]);
}

/* bi [0.4, 0.1, 0.3, 0.2] -> [1, 0, 2/3, 1/3]; q [0.5, 0.9, 0.7, 0.5] ->
 * [0, 1, 0.5, 0]; beta 0.5: BI' = [1.5, 0, 11/12, 5/6], order 1 3 2 0. */
static void test_hand_case(void)
{
    const double bi[4] = { 0.4, 0.1, 0.3, 0.2 }, q[4] = { 0.5, 0.9, 0.7, 0.5 };
    double bn[4], qn[4], s[4];
    int32_t order[4];
    tappa_prune_scores(bi, q, 4, 0.5, bn, qn, s);
    const double want_bn[4] = { 1, 0, 2.0 / 3, 1.0 / 3 }, want_qn[4] = { 0, 1, 0.5, 0 };
    const double want_s[4] = { 1.5, 0, 11.0 / 12, 5.0 / 6 };
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(bn[i], want_bn[i], 1e-15);
        CHECK_NEAR(qn[i], want_qn[i], 1e-15);
        CHECK_NEAR(s[i], want_s[i], 1e-15);
    }
    tappa_prune_order(s, 4, order);
    check_order(order, (const int32_t[]){ 1, 3, 2, 0 }, 4);
    /* Higher q-similarity is pruned earlier: with BI all equal, the order is by q descending. */
    const double flat[4] = { 0.2, 0.2, 0.2, 0.2 };
    tappa_prune_scores(flat, q, 4, 0.3, bn, qn, s);
    tappa_prune_order(s, 4, order);
    check_order(order, (const int32_t[]){ 1, 2, 0, 3 }, 4); /* q 0.9, 0.7, then the tie 0.5, 0.5 by index */
}

/* Equal scores go by layer index, wherever they sit. */
static void test_ties(void)
{
    const double bi[6] = { 0.2, 0.1, 0.2, 0.1, 0.3, 0.1 }, q[6] = { 0.4, 0.4, 0.4, 0.4, 0.4, 0.4 };
    double bn[6], qn[6], s[6];
    int32_t order[6];
    tappa_prune_scores(bi, q, 6, 0.2, bn, qn, s);
    for (int i = 0; i < 6; i++) CHECK_NEAR(qn[i], 0, 0); /* all equal -> all 0 */
    tappa_prune_order(s, 6, order);
    check_order(order, (const int32_t[]){ 1, 3, 5, 0, 2, 4 }, 6);
    const double same[5] = { 0.7, 0.7, 0.7, 0.7, 0.7 };
    tappa_prune_order(same, 5, order);
    check_order(order, (const int32_t[]){ 0, 1, 2, 3, 4 }, 5);
}

/* One layer: both normalised scores are 0, BI' = beta, order [0]. */
static void test_single_layer(void)
{
    const double bi[1] = { 0.37 }, q[1] = { 0.81 };
    double bn[1], qn[1], s[1];
    int32_t order[1] = { -1 };
    tappa_prune_scores(bi, q, 1, 0.3, bn, qn, s);
    CHECK_NEAR(bn[0], 0, 0);
    CHECK_NEAR(qn[0], 0, 0);
    CHECK_NEAR(s[0], 0.3, 0);
    tappa_prune_order(s, 1, order);
    CHECK_INT_EQ(order[0], 0);
}

/* beta 0 is ShortGPT: the order of BI itself. */
static void test_beta_zero(void)
{
    const double bi[5] = { 0.05, 0.5, 0.01, 0.2, 0.05 }, q[5] = { 0.9, 0.1, 0.5, 0.3, 0.2 };
    double bn[5], qn[5], s[5];
    int32_t a[5], b[5];
    tappa_prune_scores(bi, q, 5, 0.0, bn, qn, s);
    tappa_prune_order(s, 5, a);
    tappa_prune_order(bi, 5, b);
    check_order(a, b, 5);
    check_order(b, (const int32_t[]){ 2, 0, 4, 3, 1 }, 5);
}

/* A long list with repeats: sorted by (score, index), checked pairwise. */
static void test_long_order(void)
{
    enum { N = 5000 };
    static double s[N];
    static int32_t order[N];
    for (int i = 0; i < N; i++) s[i] = (double)((N - i) % 97);
    tappa_prune_order(s, N, order);
    int seen = 0;
    for (int i = 1; i < N; i++) {
        bool ok = s[order[i - 1]] < s[order[i]] || (s[order[i - 1]] == s[order[i]] && order[i - 1] < order[i]);
        seen += !ok;
    }
    CHECK_INT_EQ(seen, 0);
}

static void test_default_beta(void)
{
    CHECK_NEAR(tappa_prune_default_beta("llama-2-7b"), 0.2, 0);
    CHECK_NEAR(tappa_prune_default_beta("Llama-3.1-8B"), 0.3, 0);
    CHECK_NEAR(tappa_prune_default_beta("qwen_2_5_7b"), 0.1, 0);
    CHECK_NEAR(tappa_prune_default_beta("llama-3-8b"), -1, 0);
    CHECK_NEAR(tappa_prune_default_beta(""), -1, 0);
    CHECK_NEAR(tappa_prune_default_beta(NULL), -1, 0);
}

int main(void)
{
    test_hand_case();
    test_ties();
    test_single_layer();
    test_beta_zero();
    test_long_order();
    test_default_beta();
    return check_exit("test_prune");
}
