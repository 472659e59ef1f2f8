/* Host arithmetic of tappa patterns: a head's scores from its rows'
 * profiles, the rank correlation across heads, and which RoPE pairing a
 * trace uses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tappa/patterns.h"

#define MAX_PROFILE 1024 /* offsets whose profile the periodic score reads */

void tappa_pattern_params_default(tappa_pattern_params *p)
{
    *p = (tappa_pattern_params){ .rows = 64, .window = 32, .top = 4, .threshold = 0.5 };
}

const char *tappa_pattern_class_name(tappa_pattern_class c)
{
    static const char *const names[] = { "vertical", "diagonal", "periodic", "irregular" };
    return c <= TAPPA_PATTERN_IRREGULAR ? names[c] : "irregular";
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* The sum of the k largest of x[0..n), x reordered. */
static double top_sum(double *x, int64_t n, int64_t k)
{
    qsort(x, (size_t)n, sizeof *x, cmp_desc);
    double s = 0;
    for (int64_t i = 0; i < k && i < n; i++) s += x[i];
    return s;
}

/* The largest local maximum at lag >= 2 of the normalised autocorrelation of
 * the profile's first differences, and its lag. Differencing drops the
 * smooth part (mass falling off with distance, which correlates with itself
 * at every lag) and keeps what repeats: a periodic profile peaks again at its
 * period, a spike, a smooth decay or noise has no later peak of note. */
static double profile_period(const double *prof, int64_t m, double *work, int64_t *period)
{
    *period = 0;
    int64_t nd = m - 1;
    if (nd < 5) return 0;
    double *x = work, *ac = work + MAX_PROFILE + 2; /* nd and nd / 2 + 2 values */
    double mean = 0, var = 0, best = 0;
    for (int64_t o = 0; o < nd; o++) mean += (x[o] = prof[o + 1] - prof[o]);
    mean /= (double)nd;
    for (int64_t o = 0; o < nd; o++) var += (x[o] - mean) * (x[o] - mean);
    if (var <= 0) return 0;
    int64_t lags = nd / 2;
    for (int64_t t = 0; t <= lags + 1 && t < nd; t++) {
        double c = 0;
        for (int64_t o = 0; o + t < nd; o++) c += (x[o] - mean) * (x[o + t] - mean);
        ac[t] = c / var;
    }
    for (int64_t t = 2; t <= lags && t + 1 < nd; t++)
        if (ac[t] > ac[t - 1] && ac[t] >= ac[t + 1] && ac[t] > best) {
            best = ac[t];
            *period = t;
        }
    return best > 1 ? 1 : best;
}

tappa_status tappa_pattern_scores(const float *col, const float *off, const float *pred, int64_t s, int64_t n,
                                  const tappa_pattern_params *p, tappa_head_pattern *out, tappa_error *err)
{
    double *c = malloc((size_t)n * sizeof *c), *o = malloc((size_t)n * sizeof *o);
    /* The autocorrelation's differences and lags, at most MAX_PROFILE each. */
    double *work = malloc(2 * (MAX_PROFILE + 2) * sizeof *work);
    if (!c || !o || !work) {
        free(c);
        free(o);
        free(work);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "patterns: out of host memory for the scores");
    }
    for (int64_t j = 0; j < n; j++) c[j] = col[j], o[j] = off[j];
    double pr = 0;
    for (int64_t r = 1; r < s; r++) pr += pred[r];
    out->predictability = s > 1 ? pr / (double)(s - 1) : 0;
    /* Offsets 0 .. n - s are seen by every row; the profile keeps those. */
    int64_t m = n - s + 1 < MAX_PROFILE ? n - s + 1 : MAX_PROFILE;
    out->periodic = profile_period(o, m, work, &out->period);
    out->vertical = top_sum(c, n, p->top);
    out->diagonal = top_sum(o, n, p->top);
    double best = out->vertical;
    out->cls = TAPPA_PATTERN_VERTICAL;
    if (out->diagonal > best) best = out->diagonal, out->cls = TAPPA_PATTERN_DIAGONAL;
    if (out->periodic > best) best = out->periodic, out->cls = TAPPA_PATTERN_PERIODIC;
    if (best < p->threshold) out->cls = TAPPA_PATTERN_IRREGULAR;
    free(c);
    free(o);
    free(work);
    return TAPPA_OK;
}

typedef struct ranked {
    double v;
    size_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return (x->v > y->v) - (x->v < y->v);
}

/* Average ranks (1-based) of x into r. */
static int ranks(const double *x, size_t n, double *r)
{
    ranked *t = malloc(n * sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < n; i++) t[i] = (ranked){ x[i], i };
    qsort(t, n, sizeof *t, cmp_ranked);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && t[j + 1].v == t[i].v) j++;
        for (size_t k = i; k <= j; k++) r[t[k].i] = 0.5 * (double)(i + j) + 1;
        i = j + 1;
    }
    free(t);
    return 0;
}

double tappa_spearman(const double *x, const double *y, size_t n)
{
    if (n < 2) return NAN;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || !isfinite(y[i])) return NAN;
    double *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry), out = NAN;
    if (rx && ry && !ranks(x, n, rx) && !ranks(y, n, ry)) {
        double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
        for (size_t i = 0; i < n; i++) mx += rx[i], my += ry[i];
        mx /= (double)n;
        my /= (double)n;
        for (size_t i = 0; i < n; i++) {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        if (sxx > 0 && syy > 0) out = sxy / sqrt(sxx * syy);
    }
    free(rx);
    free(ry);
    return out;
}

/* The two dims of rotary pair j. */
static void pair_dims(tappa_rope_layout layout, int64_t d, int64_t j, int64_t *a, int64_t *b)
{
    *a = layout == TAPPA_ROPE_INTERLEAVED ? 2 * j : j;
    *b = layout == TAPPA_ROPE_INTERLEAVED ? 2 * j + 1 : j + d / 2;
}

tappa_rope_layout tappa_rope_layout_of(const float *q_pre, const float *q, int64_t t, int64_t d)
{
    double miss[2] = { 0, 0 };
    for (int layout = 0; layout < 2; layout++)
        for (int64_t i = 0; i < t; i++)
            for (int64_t j = 0; j < d / 2; j++) {
                int64_t a, b;
                pair_dims((tappa_rope_layout)layout, d, j, &a, &b);
                const float *x = q_pre + i * d, *y = q + i * d;
                miss[layout] += fabs((double)x[a] * x[a] + (double)x[b] * x[b] - (double)y[a] * y[a] -
                                     (double)y[b] * y[b]);
            }
    return miss[TAPPA_ROPE_INTERLEAVED] < miss[TAPPA_ROPE_HALF] ? TAPPA_ROPE_INTERLEAVED : TAPPA_ROPE_HALF;
}
