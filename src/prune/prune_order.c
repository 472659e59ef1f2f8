/* The prune order of SPEC.md: min-max normalisation, BI' = BI_norm +
 * beta (1 - q_norm), layers sorted ascending with ties by index. The
 * arithmetic is written in the reference's order of operations, so a score
 * file gives the same doubles, and therefore the same order, here as there. */
#include <ctype.h>
#include <string.h>

#include "tappa/prune.h"

void tappa_minmax_normalize(const double *x, size_t n, double *out)
{
    double lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    for (size_t i = 0; i < n; i++) out[i] = hi == lo ? 0.0 : (x[i] - lo) / (hi - lo);
}

void tappa_prune_scores(const double *bi, const double *q, size_t n, double beta, double *bi_norm,
                        double *q_norm, double *score)
{
    tappa_minmax_normalize(bi, n, bi_norm);
    tappa_minmax_normalize(q, n, q_norm);
    for (size_t i = 0; i < n; i++) score[i] = bi_norm[i] + beta * (1.0 - q_norm[i]);
}

/* Layer a goes before layer b: lower score, or the same score and a lower index. */
static int before(const double *score, int32_t a, int32_t b)
{
    return score[a] < score[b] || (score[a] == score[b] && a < b);
}

static void sift_down(const double *score, int32_t *heap, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && before(score, heap[child], heap[child + 1])) child++;
        if (!before(score, heap[root], heap[child])) return;
        int32_t t = heap[root];
        heap[root] = heap[child];
        heap[child] = t;
    }
}

/* Heapsort on (score, index), a total order, so the result does not depend on
 * the sort's stability; O(n log n) without allocating. */
void tappa_prune_order(const double *score, size_t n, int32_t *order)
{
    for (size_t i = 0; i < n; i++) order[i] = (int32_t)i;
    for (size_t i = n / 2; i-- > 0;) sift_down(score, order, i, n);
    for (size_t end = n; end-- > 1;) {
        int32_t t = order[0];
        order[0] = order[end];
        order[end] = t;
        sift_down(score, order, 0, end);
    }
}

/* name without case or separators into out (size cap). */
static void squeeze(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    for (; *name && n + 1 < cap; name++)
        if (isalnum((unsigned char)*name)) out[n++] = (char)tolower((unsigned char)*name);
    out[n] = '\0';
}

double tappa_prune_default_beta(const char *model)
{
    static const struct { const char *model; double beta; } paper[] = {
        { "llama27b", 0.2 }, { "llama318b", 0.3 }, { "qwen257b", 0.1 },
    };
    if (!model) return -1;
    char key[64];
    squeeze(model, key, sizeof key);
    for (size_t i = 0; i < sizeof paper / sizeof paper[0]; i++)
        if (!strcmp(key, paper[i].model)) return paper[i].beta;
    return -1;
}
