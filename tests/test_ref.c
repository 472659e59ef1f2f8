/* The float64 references checked against properties that follow from the
 * maths (not from the code): softmax rows sum to one and ignore shifts, RoPE
 * is a rotation whose dot products depend only on relative position, the
 * O(T*D) q-similarity equals the O(T^2*D) pairwise mean, and window
 * statistics are means of probability rows. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "rng.h"
#include "tappa/tappa.h"

static void test_softmax(rng *r)
{
    enum { ROWS = 5, COLS = 37 };
    double x[ROWS * COLS], y[ROWS * COLS], xs[ROWS * COLS], ys[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++) {
        x[i] = rng_uniform(r, -30, 30);
        xs[i] = x[i] + 1000.0; /* stable softmax must not overflow */
    }
    tappa_ref_softmax(x, y, ROWS, COLS);
    tappa_ref_softmax(xs, ys, ROWS, COLS);
    for (int row = 0; row < ROWS; row++) {
        double s = 0;
        for (int c = 0; c < COLS; c++) {
            s += y[row * COLS + c];
            CHECK(y[row * COLS + c] > 0);
            CHECK_NEAR(y[row * COLS + c], ys[row * COLS + c], 1e-12);
        }
        CHECK_NEAR(s, 1.0, 1e-12);
    }
    double two[2] = { 0.0, log(2.0) }, out[2];
    tappa_ref_softmax(two, out, 1, 2);
    CHECK_NEAR(out[0], 1.0 / 3.0, 1e-15);
    CHECK_NEAR(out[1], 2.0 / 3.0, 1e-15);
}

static double dot(const double *a, const double *b, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) s += a[i] * b[i];
    return s;
}

static void test_rope(rng *r)
{
    enum { N = 9, D = 16 };
    double x[N * D], y[N * D], z[N * D];
    for (int i = 0; i < N * D; i++) x[i] = rng_normal(r);
    tappa_rope_params zero = { TAPPA_ROPE_HALF, 10000, 0, NULL, 1 };
    /* Position 0 is the identity; every row keeps its norm. */
    tappa_ref_rope(x, y, 1, N, D, &zero);
    for (int c = 0; c < D; c++) CHECK_NEAR(y[c], x[c], 1e-15);
    for (int t = 0; t < N; t++) CHECK_NEAR(dot(y + t * D, y + t * D, D), dot(x + t * D, x + t * D, D), 1e-12);

    for (int layout = 0; layout < 2; layout++) {
        /* Relative position: <R_m q, R_n k> depends on m - n only. */
        double q[D], k[D], qm[D], kn[D], qm2[D], kn2[D];
        for (int c = 0; c < D; c++) { q[c] = rng_normal(r); k[c] = rng_normal(r); }
        tappa_rope_params pm = { (tappa_rope_layout)layout, 500000, 1234, NULL, 1 };
        tappa_rope_params pn = { (tappa_rope_layout)layout, 500000, 1000, NULL, 1 };
        tappa_rope_params pm2 = { (tappa_rope_layout)layout, 500000, 100234, NULL, 1 };
        tappa_rope_params pn2 = { (tappa_rope_layout)layout, 500000, 100000, NULL, 1 };
        tappa_ref_rope(q, qm, 1, 1, D, &pm);
        tappa_ref_rope(k, kn, 1, 1, D, &pn);
        tappa_ref_rope(q, qm2, 1, 1, D, &pm2);
        tappa_ref_rope(k, kn2, 1, 1, D, &pn2);
        CHECK_NEAR(dot(qm, kn, D), dot(qm2, kn2, D), 1e-9);
        /* Rotations compose: offset a then offset b is offset a + b. */
        tappa_rope_params pa = { (tappa_rope_layout)layout, 10000, 5, NULL, 1 };
        tappa_rope_params pb = { (tappa_rope_layout)layout, 10000, 7, NULL, 1 };
        tappa_rope_params pab = { (tappa_rope_layout)layout, 10000, 12, NULL, 1 };
        tappa_ref_rope(x, y, 1, 1, D, &pa);
        tappa_ref_rope(y, z, 1, 1, D, &pb);
        tappa_ref_rope(x, y, 1, 1, D, &pab);
        for (int c = 0; c < D; c++) CHECK_NEAR(z[c], y[c], 1e-12);
    }
    /* The two layouts are the same rotation on permuted channels. */
    double xi[D], yh[D], yi[D];
    for (int i = 0; i < D / 2; i++) { xi[2 * i] = x[i]; xi[2 * i + 1] = x[i + D / 2]; }
    tappa_rope_params ph = { TAPPA_ROPE_HALF, 10000, 3, NULL, 1 };
    tappa_rope_params pi = { TAPPA_ROPE_INTERLEAVED, 10000, 3, NULL, 1 };
    tappa_ref_rope(x, yh, 1, 1, D, &ph);
    tappa_ref_rope(xi, yi, 1, 1, D, &pi);
    for (int i = 0; i < D / 2; i++) {
        CHECK_NEAR(yi[2 * i], yh[i], 1e-15);
        CHECK_NEAR(yi[2 * i + 1], yh[i + D / 2], 1e-15);
    }
}

static void test_qsim(rng *r)
{
    enum { H = 3, T = 11, D = 8 };
    double q[H * T * D], out[H];
    for (int i = 0; i < H * T * D; i++) q[i] = rng_normal(r) + (i % D == 0 ? 2.0 : 0.0);
    for (int mode = 0; mode < 3; mode++) {
        tappa_ref_qsim(q, out, H, T, D, (tappa_qsim_mode)mode, 1.0);
        for (int h = 0; h < H; h++) {
            /* Brute force: mean over ordered pairs i != j. */
            double sum = 0;
            for (int i = 0; i < T; i++)
                for (int j = 0; j < T; j++) {
                    if (i == j) continue;
                    const double *a = q + (h * T + i) * D, *b = q + (h * T + j) * D;
                    double ca[D], cb[D], ma = 0, mb = 0;
                    for (int k = 0; k < D; k++) { ma += a[k] / D; mb += b[k] / D; }
                    for (int k = 0; k < D; k++) { ca[k] = a[k] - ma; cb[k] = b[k] - mb; }
                    double v = dot(a, b, D);
                    if (mode == TAPPA_QSIM_COSINE) v /= sqrt(dot(a, a, D)) * sqrt(dot(b, b, D));
                    if (mode == TAPPA_QSIM_PEARSON)
                        v = dot(ca, cb, D) / (sqrt(dot(ca, ca, D)) * sqrt(dot(cb, cb, D))) / D;
                    sum += v;
                }
            CHECK_NEAR(out[h], sum / (T * (T - 1)), 1e-12);
        }
    }
    /* Identical queries are perfectly similar; one query gives 0 by definition. */
    double same[T * D];
    for (int i = 0; i < T * D; i++) same[i] = (i % D) + 1.0;
    tappa_ref_qsim(same, out, 1, T, D, TAPPA_QSIM_COSINE, 1.0);
    CHECK_NEAR(out[0], 1.0, 1e-12);
    tappa_ref_qsim(same, out, 1, 1, D, TAPPA_QSIM_COSINE, 1.0);
    CHECK_NEAR(out[0], 0.0, 0);
    /* Pairwise modes on identical queries: no distance, full rbf similarity. */
    for (int mode = TAPPA_QSIM_EUCLIDEAN; mode <= TAPPA_QSIM_KL; mode++) {
        tappa_ref_qsim(same, out, 1, T, D, (tappa_qsim_mode)mode, 1.0);
        CHECK_NEAR(out[0], mode == TAPPA_QSIM_RBF ? 1.0 : 0.0, 1e-7);
    }
    /* Mean squared pair distance = (2 T sum|q|^2 - 2 |sum q|^2) / (T (T - 1)): a
     * wide rbf approaches 1 - msd / (2 sigma^2), and euclidean^2 <= msd. */
    const double sigma = 1e3;
    double sum_sq = 0, s_vec[D] = { 0 };
    for (int i = 0; i < T; i++)
        for (int k = 0; k < D; k++) {
            sum_sq += q[i * D + k] * q[i * D + k];
            s_vec[k] += q[i * D + k];
        }
    double msd = (2.0 * T * sum_sq - 2.0 * dot(s_vec, s_vec, D)) / (T * (T - 1.0));
    tappa_ref_qsim(q, out, 1, T, D, TAPPA_QSIM_RBF, sigma);
    CHECK_NEAR(out[0], 1.0 - msd / (2 * sigma * sigma), 1e-9);
    tappa_ref_qsim(q, out, 1, T, D, TAPPA_QSIM_EUCLIDEAN, 1.0);
    CHECK(out[0] * out[0] <= msd + 1e-9);
}

static void test_window_stats(rng *r)
{
    enum { HQ = 4, HKV = 2, N = 20, D = 8, W = 6 };
    double q[HQ * N * D], k[HKV * N * D], mean[HQ * N], var[HQ * N], colsum[HQ * N];
    double mean2[HQ * N], var2[HQ * N];
    for (int i = 0; i < HQ * N * D; i++) q[i] = rng_normal(r);
    for (int i = 0; i < HKV * N * D; i++) k[i] = rng_normal(r);
    tappa_ref_window_stats(q, k, mean, var, colsum, NULL, HQ, HKV, N, D, W);
    tappa_ref_window_stats(q, k, mean2, var2, NULL, NULL, HQ, HKV, N, D, W);
    for (int i = 0; i < HQ * N; i++) {
        CHECK_NEAR(mean2[i], mean[i], 1e-15); /* the h2o sums change nothing else */
        CHECK_NEAR(var2[i], var[i], 1e-15);
    }
    for (int h = 0; h < HQ; h++) {
        /* Every query row sums to one, so the column sums of all N rows total N;
         * key 0 is seen by every query, key N-1 only by the last. */
        double total = 0;
        for (int j = 0; j < N; j++) total += colsum[h * N + j];
        CHECK_NEAR(total, (double)N, 1e-10);
        CHECK_NEAR(colsum[h * N + N - 1], W * mean[h * N + N - 1], 1e-12);
        double s = 0;
        for (int j = 0; j < N; j++) {
            s += mean[h * N + j];
            CHECK(var[h * N + j] >= 0);
        }
        CHECK_NEAR(s, 1.0, 1e-12); /* mean of W rows that each sum to one */
        /* Key N-1 is seen only by the last window query: its weight there is
         * W * mean, and the variance of (0, ..., 0, a) over W is a^2 / W. */
        double a = W * mean[h * N + N - 1];
        CHECK_NEAR(var[h * N + N - 1], a * a / W, 1e-12);
        /* The last window query's weight on key N-1 recomputed directly. */
        const double *ql = q + (h * N + N - 1) * D, *kh = k + (h / (HQ / HKV)) * N * D;
        double m = -INFINITY, z = 0;
        for (int j = 0; j < N; j++) m = fmax(m, dot(ql, kh + j * D, D) / sqrt(D));
        for (int j = 0; j < N; j++) z += exp(dot(ql, kh + j * D, D) / sqrt(D) - m);
        CHECK_NEAR(a, exp(dot(ql, kh + (N - 1) * D, D) / sqrt(D) - m) / z, 1e-12);
    }
}

static void test_token_scores(void)
{
    /* Constant a = 1, no variance: interior keys pool to 1, the first and last
     * two keys see zero padding (3/5, 4/5); the window (last 2) is not scored. */
    enum { HQ = 2, HKV = 1, N = 10, W = 2, KEYS = N - W };
    double a[HQ * N], b[HQ * N], out[HKV * KEYS];
    for (int i = 0; i < HQ * N; i++) { a[i] = 1; b[i] = 0.5; }
    tappa_ref_token_scores(a, b, 1.0, 0.0, HQ, HKV, N, W, 5, out);
    const double want[KEYS] = { 0.6, 0.8, 1, 1, 1, 1, 0.8, 0.6 };
    for (int j = 0; j < KEYS; j++) CHECK_NEAR(out[j], want[j], 1e-15);
    /* gamma adds gamma * b through the same pooling; heads are averaged. */
    for (int j = 0; j < N; j++) a[N + j] = 3; /* second query head */
    tappa_ref_token_scores(a, b, 1.0, 2.0, HQ, HKV, N, W, 5, out);
    CHECK_NEAR(out[4], (1 + 3) / 2.0 + 2.0 * 0.5, 1e-15);
}

/* Top-k: the k largest in ascending position order; equal scores go to the
 * lower position; k = m keeps every position. */
static void test_topk(rng *r)
{
    const double s[2 * 6] = { 0.1, 0.5, 0.3, 0.5, 0.9, 0.2,   /* row 0: ties at 0.5 */
                              1, 1, 1, 1, 1, 1 };            /* row 1: all equal */
    int32_t keep[2 * 3];
    tappa_ref_topk_positions(s, 2, 6, 3, keep);
    const int32_t want[2 * 3] = { 1, 3, 4, 0, 1, 2 };
    for (int i = 0; i < 6; i++) CHECK_INT_EQ(keep[i], want[i]);
    tappa_ref_topk_positions(s, 1, 6, 2, keep); /* 0.9 and the first 0.5 */
    CHECK_INT_EQ(keep[0], 1);
    CHECK_INT_EQ(keep[1], 4);
    /* Random rows: every kept score >= every dropped one, positions ascending. */
    enum { M = 200, K = 37 };
    double x[M];
    int32_t kept[K];
    for (int i = 0; i < M; i++) x[i] = rng_uniform(r, 0, 1);
    tappa_ref_topk_positions(x, 1, M, K, kept);
    bool in[M] = { false };
    for (int i = 0; i < K; i++) {
        in[kept[i]] = true;
        if (i) CHECK(kept[i] > kept[i - 1]);
    }
    double lo = 2, hi = -1;
    for (int i = 0; i < M; i++) {
        if (in[i]) lo = x[i] < lo ? x[i] : lo;
        else hi = x[i] > hi ? x[i] : hi;
    }
    CHECK(lo >= hi);
    int32_t all[M];
    tappa_ref_topk_positions(x, 1, M, M, all);
    for (int i = 0; i < M; i++) CHECK_INT_EQ(all[i], i);
}

/* Row sums of a prefix: cols 0 gives 0, cols = stride the whole row. */
static void test_row_sums(void)
{
    const double x[2 * 4] = { 1, 2, 3, 4, 10, 20, 30, 40 };
    double out[2];
    tappa_ref_row_sums(x, 2, 4, 3, out);
    CHECK_NEAR(out[0], 6, 0);
    CHECK_NEAR(out[1], 60, 0);
    tappa_ref_row_sums(x, 2, 4, 0, out);
    CHECK_NEAR(out[0], 0, 0);
    tappa_ref_row_sums(x, 2, 4, 4, out);
    CHECK_NEAR(out[1], 100, 0);
}

/* Block influence on rows with known cosines: same direction 0, orthogonal 1,
 * opposite 2, 60 degrees 0.5, and a zero row (NaN cosine) 0.5. */
static void test_block_influence(void)
{
    const double a[5 * 2] = { 1, 2, 1, 0, 3, -4, 1, 0, 0, 0 };
    const double b[5 * 2] = { 2, 4, 0, 5, -6, 8, 0.5, 0.8660254037844386, 1, 1 };
    double out[5];
    tappa_ref_block_influence(a, b, 5, 2, out);
    CHECK_NEAR(out[0], 0, 1e-15);
    CHECK_NEAR(out[1], 1, 1e-15);
    CHECK_NEAR(out[2], 2, 1e-15);
    CHECK_NEAR(out[3], 0.5, 1e-15);
    CHECK_NEAR(out[4], 0.5, 0);
}

int main(void)
{
    uint64_t seed = rng_fresh_seed();
    printf("test_ref: seed %llu\n", (unsigned long long)seed);
    rng r;
    rng_seed(&r, seed);
    test_softmax(&r);
    test_rope(&r);
    test_qsim(&r);
    test_window_stats(&r);
    test_token_scores();
    test_topk(&r);
    test_row_sums();
    test_block_influence();
    return check_exit("test_ref");
}
