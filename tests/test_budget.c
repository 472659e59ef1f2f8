/* Per-layer budgets on hand-computed cases (SPEC.md step 4 and baselines). */
#include "check.h"
#include "tappa/tappa.h"

#define CHECK_BUDGETS(got, ...)                                                  \
    do {                                                                         \
        const int64_t want_[] = { __VA_ARGS__ };                                 \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof want_[0]; i_++)           \
            CHECK_INT_EQ((got)[i_], want_[i_]);                                  \
    } while (0)

static void test_prefs(void)
{
    tappa_error err;
    int64_t b[4];
    /* Equal preferences share the pool (C - W) L = 992 * 4 evenly. */
    const double equal[4] = { 1, 1, 1, 1 };
    CHECK_INT_EQ(tappa_budgets_from_prefs(equal, 4, 1024, 32, 4096, b, &err), TAPPA_OK);
    CHECK_BUDGETS(b, 992, 992, 992, 992);
    /* N <= C + W: nothing is compressed, every layer keeps N - W. */
    CHECK_INT_EQ(tappa_budgets_from_prefs(equal, 4, 1024, 32, 1056, b, &err), TAPPA_OK);
    CHECK_BUDGETS(b, 1024, 1024, 1024, 1024);
    /* One layer takes the whole pool: capped at N - W = 1968, the excess 2000
     * split over the other three (666 each, remainder 2 to the lowest). */
    const double one[4] = { 1, 0, 0, 0 };
    CHECK_INT_EQ(tappa_budgets_from_prefs(one, 4, 1024, 32, 2000, b, &err), TAPPA_OK);
    CHECK_BUDGETS(b, 1968, 667, 667, 666);
    /* Truncation leaves 569 of 570: the 1 goes to the lowest layer below the cap. */
    const double halves[3] = { 2, 1, 1 };
    CHECK_INT_EQ(tappa_budgets_from_prefs(halves, 3, 200, 10, 300, b, &err), TAPPA_OK);
    CHECK_BUDGETS(b, 286, 142, 142);
    /* Capped layer: 427 -> 290, excess 137 over two layers (68 + 1, 68), then
     * the truncation's missing 1 to the lowest layer below the cap. */
    const double capped[3] = { 6, 1, 1 };
    CHECK_INT_EQ(tappa_budgets_from_prefs(capped, 3, 200, 10, 300, b, &err), TAPPA_OK);
    CHECK_BUDGETS(b, 290, 141, 139);
    /* Bad input: one line naming the problem. */
    const double zero[2] = { 0, 0 }, negative[2] = { 1, -1 };
    CHECK_INT_EQ(tappa_budgets_from_prefs(zero, 2, 200, 10, 3000, b, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "all preferences are 0");
    CHECK_INT_EQ(tappa_budgets_from_prefs(negative, 2, 200, 10, 3000, b, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_INT_EQ(tappa_budgets_from_prefs(equal, 4, 32, 32, 3000, b, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_INT_EQ(tappa_budgets_from_prefs(equal, 4, 1024, 32, 10, b, &err), TAPPA_ERR_INVALID_ARG);
}

static void test_baselines(void)
{
    tappa_error err;
    int64_t b[4];
    CHECK_INT_EQ(tappa_budgets_uniform(4, 1024, 32, 8000, b, &err), TAPPA_OK);
    CHECK_BUDGETS(b, 992, 992, 992, 992);
    CHECK_INT_EQ(tappa_budgets_uniform(4, 1024, 32, 1040, b, &err), TAPPA_OK);
    CHECK_BUDGETS(b, 1008, 1008, 1008, 1008);
    /* min = 992 div 20 = 49, max = 1984 - 49 = 1935, step (1935 - 49) div 3 = 628. */
    CHECK_INT_EQ(tappa_budgets_pyramid(4, 1024, 32, 8000, 20, b, &err), TAPPA_OK);
    CHECK_BUDGETS(b, 1935, 1307, 679, 51);
    /* max above N - W = 1468: max = 1468, min = 1984 - 1468 = 516, step 317. */
    CHECK_INT_EQ(tappa_budgets_pyramid(4, 1024, 32, 1500, 20, b, &err), TAPPA_OK);
    CHECK_BUDGETS(b, 1468, 1151, 834, 517);
}

int main(void)
{
    test_prefs();
    test_baselines();
    return check_exit("test_budget");
}
