/* window_stats: per key, the mean and unbiased variance over the last W
 * queries of the causal softmax weights, and optionally the sum over all
 * queries (h2o), from Q, K and each row's log-sum-exp (SPEC.md steps 1-2). */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

#define QT 16 /* queries staged per tile in window_stats.comp */

/* Softmax weights of query row qi over keys 0..last of kh (n, d) into a. */
static void row_weights(const double *qi, const double *kh, size_t last, size_t d, double scale,
                        double *a)
{
    double m = -INFINITY, s = 0;
    for (size_t j = 0; j <= last; j++) {
        double acc = 0;
        for (size_t c = 0; c < d; c++) acc += qi[c] * kh[j * d + c];
        a[j] = acc * scale;
        if (a[j] > m) m = a[j];
    }
    for (size_t j = 0; j <= last; j++) s += (a[j] = exp(a[j] - m));
    for (size_t j = 0; j <= last; j++) a[j] /= s;
}

void tappa_ref_window_stats(const double *q, const double *k, double *mean, double *var,
                            double *colsum, double *entropy, size_t hq, size_t hkv, size_t n,
                            size_t d, size_t window)
{
    size_t group = hq / hkv;
    double scale = 1.0 / sqrt((double)d);
    double *a = malloc(n * sizeof *a + 1); /* (n) one query row's weights */
    if (!a) return;
    for (size_t h = 0; h < hq; h++) {
        const double *kh = k + (h / group) * n * d; /* (n, d) */
        double *mu = mean + h * n, *m2 = var + h * n, *cs = colsum ? colsum + h * n : NULL;
        double *en = entropy ? entropy + h * n : NULL;
        for (size_t j = 0; j < n; j++) mu[j] = m2[j] = 0;
        if (en) for (size_t j = 0; j < n; j++) en[j] = 0;
        if (cs) for (size_t j = 0; j < n; j++) cs[j] = 0;
        /* Query i sits at position i and sees keys 0..i. */
        for (size_t i = colsum ? 0 : n - window; i < n; i++) {
            row_weights(q + (h * n + i) * d, kh, i, d, scale, a);
            if (cs) for (size_t j = 0; j <= i; j++) cs[j] += a[j];
            if (i >= n - window)
                for (size_t j = 0; j <= i; j++) {
                    mu[j] += a[j] / (double)window;
                    if (en) en[j] -= a[j] * log(a[j] + 1e-10);
                }
        }
        /* Second sweep for the variance about the mean (two-pass, exact). */
        for (size_t i = n - window; i < n; i++) {
            row_weights(q + (h * n + i) * d, kh, i, d, scale, a);
            for (size_t j = 0; j < n; j++) {
                double v = j <= i ? a[j] : 0;
                m2[j] += (v - mu[j]) * (v - mu[j]);
            }
        }
        for (size_t j = 0; j < n; j++) m2[j] = window > 1 ? m2[j] / (double)(window - 1) : 0;
    }
    free(a);
}

typedef struct ws_args {
    const tappa_tensor *q, *k;
    int64_t window;
    tappa_tensor *lse;          /* given, or scratch that passes 3 and 0 fill */
    bool lse_given;
    tappa_tensor *part;         /* passes 3 and 0: lse partials, when lse is not given */
    tappa_tensor *mean, *var, *colsum, *entropy;
} ws_args;

/* Queries one colsum dispatch may take under the driver's loop limit (each
 * tile of QT queries: staging loops plus a loop over d), half kept as margin. */
static uint32_t colsum_queries_per_pass(const tvk_device *dev, uint32_t n, uint32_t d, uint32_t wg)
{
    uint32_t limit = dev->info.loop_iteration_limit;
    if (!limit) return n;
    uint32_t per_tile = QT * d / wg + d + QT + 4;
    uint32_t tiles = (limit / 2) / per_tile;
    return tiles > 1 ? tiles * QT : QT;
}

tappa_status window_stats_record(const tappa_tensor *q, const tappa_tensor *k, int64_t window,
                                 tappa_tensor *lse, bool lse_given, tappa_tensor *part,
                                 tappa_tensor *mean, tappa_tensor *var, tappa_tensor *colsum,
                                 tappa_tensor *entropy, tappa_error *err)
{
    const ws_args args = { q, k, window, lse, lse_given, part, mean, var, colsum, entropy }, *a = &args;
    tvk_device *dev = a->q->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    uint32_t hq = (uint32_t)a->q->shape[0], hkv = (uint32_t)a->k->shape[0];
    uint32_t n = (uint32_t)a->q->shape[1], d = (uint32_t)a->q->shape[2], w = (uint32_t)a->window;
    tappa_status st = op_check_loops(dev, ((uint64_t)n + wg - 1) / wg * (d + 1) + 16, "window_stats", err);
    if (!st) st = op_check_loops(dev, ((uint64_t)w + QT - 1) / QT * (QT * d / wg + d + QT + 4), "window_stats", err);
    tvk_pipeline *pass[4];
    for (uint32_t i = 0; i < 4 && !st; i++) {
        uint32_t spec[3] = { wg, i, d };
        st = a->k->dtype == TAPPA_F16
                 ? tvk_pipeline_get(dev, SHADER(window_stats_f16), 8, spec, 3, &pass[i], err)
                 : tvk_pipeline_get(dev, SHADER(window_stats_f32), 8, spec, 3, &pass[i], err);
    }
    uint32_t chunks = (n + wg - 1) / wg;
    if (!st && !a->lse_given && (!part || part->numel < 2ull * w * chunks))
        st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "window_stats: the lse partials need %u floats",
                        2 * w * chunks);
    uint32_t per_pass = colsum_queries_per_pass(dev, n, d, wg);
    size_t head = (size_t)n * d;
    /* colsum and entropy are optional: mean stands in for their bindings when absent. */
    tappa_tensor *colsum_binding = a->colsum ? a->colsum : a->mean;
    tappa_tensor *entropy_binding = a->entropy ? a->entropy : a->mean;
    for (uint32_t h = 0; h < hq && !st; h++) {
        size_t qs, qo, ks, ko, ls, lo, ms, mo, vs, vo, cs, co, es, eo;
        st = op_locate(a->q, h * head, head, &qs, &qo, err);
        if (!st) st = op_locate(a->k, (h / (hq / hkv)) * head, head, &ks, &ko, err);
        if (!st) st = op_locate(a->lse, (size_t)h * n, n, &ls, &lo, err);
        if (!st) st = op_locate(a->mean, (size_t)h * n, n, &ms, &mo, err);
        if (!st) st = op_locate(a->var, (size_t)h * n, n, &vs, &vo, err);
        if (!st) st = op_locate(colsum_binding, (size_t)h * n, n, &cs, &co, err);
        if (!st) st = op_locate(entropy_binding, (size_t)h * n, n, &es, &eo, err);
        if (st) break;
        /* mean, var, colsum and entropy share a shape, hence a split: one out_base serves all. */
        tvk_binding b[8] = { tensor_binding(a->q, qs), tensor_binding(a->k, ks),
                             tensor_binding(a->lse, ls), tensor_binding(a->mean, ms),
                             tensor_binding(a->var, vs), tensor_binding(colsum_binding, cs),
                             tensor_binding(entropy_binding, es),
                             part ? tensor_binding(part, 0) : tensor_binding(a->mean, ms) };
        struct {
            uint32_t q_base, k_base, lse_base, out_base, n, window;
            float scale;
            uint32_t q_begin, q_end, first, entropy;
        } push = { (uint32_t)qo, (uint32_t)ko, (uint32_t)lo, (uint32_t)mo, n, w,
                   (float)(1.0 / sqrt((double)d)), 0, 0, 1, a->entropy != NULL };
        uint32_t gx, gy;
        if (!a->lse_given) {
            tvk_grid(dev, chunks, &gx, &gy);
            st = tvk_dispatch(dev, pass[3], b, &push, sizeof push, gx, gy, 1, err);
            tvk_barrier(dev);
            tvk_grid(dev, w, &gx, &gy);
            if (!st) st = tvk_dispatch(dev, pass[0], b, &push, sizeof push, gx, gy, 1, err);
            tvk_barrier(dev);
        }
        tvk_grid(dev, ((uint64_t)n + wg - 1) / wg, &gx, &gy);
        if (!st) st = tvk_dispatch(dev, pass[1], b, &push, sizeof push, gx, gy, 1, err);
        for (uint32_t q0 = 0; a->colsum && q0 < n && !st; q0 += per_pass) {
            if (q0) tvk_barrier(dev); /* the next range adds to this one's sums */
            push.q_begin = q0;
            push.q_end = n - q0 > per_pass ? q0 + per_pass : n;
            push.first = q0 == 0;
            st = tvk_dispatch(dev, pass[2], b, &push, sizeof push, gx, gy, 1, err);
        }
    }
    return st;
}

static tappa_status record(void *p, tappa_error *err)
{
    ws_args *a = p;
    return window_stats_record(a->q, a->k, a->window, a->lse, a->lse_given, a->part, a->mean,
                               a->var, a->colsum, a->entropy, err);
}

static tappa_status check_out(const tappa_tensor *o, int64_t hq, int64_t n, tappa_context *ctx,
                              tappa_error *err)
{
    if (o->ctx != ctx || o->dtype != TAPPA_F32 || o->numel != (size_t)(hq * n))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "window_stats: lse, mean, var, colsum and entropy must be [Hq, N] f32");
    return TAPPA_OK;
}

tappa_status tappa_window_stats(const tappa_tensor *q, const tappa_tensor *k, int64_t window,
                                const tappa_tensor *lse, tappa_tensor *mean, tappa_tensor *var,
                                tappa_tensor *colsum, tappa_tensor *entropy, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    if (k->ctx != ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "window_stats: tensors belong to different contexts");
    if (q->ndim != 3 || k->ndim != 3 || q->dtype != TAPPA_F32 || k->dtype == TAPPA_I32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "window_stats: q [Hq,N,D] f32 and k [Hkv,N,D] f32 or f16");
    int64_t hq = q->shape[0], hkv = k->shape[0], n = q->shape[1], d = q->shape[2];
    if (hkv < 1 || hq % hkv || k->shape[1] != n || k->shape[2] != d)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "window_stats: k must be [Hkv, N, D] with Hq %% Hkv == 0");
    if (d < 1 || d > 256)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "window_stats: head dim %lld above 256", (long long)d);
    if (window < 2 || window > n)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "window_stats: need 2 <= window (%lld) <= N (%lld)",
                          (long long)window, (long long)n);
    tappa_status st = check_out(mean, hq, n, ctx, err);
    if (!st) st = check_out(var, hq, n, ctx, err);
    if (!st && lse) st = check_out(lse, hq, n, ctx, err);
    if (!st && colsum) st = check_out(colsum, hq, n, ctx, err);
    if (!st && entropy) st = check_out(entropy, hq, n, ctx, err);
    if (st) return st;
    if (colsum && !lse)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "window_stats: the h2o column sums need the prefill's lse of every row");
    if (q->numel > UINT32_MAX || k->numel > UINT32_MAX)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "window_stats: more than 2^32 elements");
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        size_t outs = (size_t)(hq * n);
        double *qv = NULL, *kv = NULL, *mv = malloc(outs * sizeof *mv), *vv = malloc(outs * sizeof *vv);
        double *cv = colsum ? malloc(outs * sizeof *cv) : NULL;
        double *ev = entropy ? malloc(outs * sizeof *ev) : NULL;
        st = op_to_double(q, &qv, err);
        if (!st) st = op_to_double(k, &kv, err);
        if (!st && (!mv || !vv || (colsum && !cv) || (entropy && !ev)))
            st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "window_stats: out of host memory");
        if (!st) {
            tappa_ref_window_stats(qv, kv, mv, vv, cv, ev, (size_t)hq, (size_t)hkv, (size_t)n,
                                   (size_t)d, (size_t)window);
            op_from_double(mean, mv, err);
            op_from_double(var, vv, err);
            if (colsum) op_from_double(colsum, cv, err);
            if (entropy) op_from_double(entropy, ev, err);
        }
        free(qv); free(kv); free(mv); free(vv); free(cv); free(ev);
        return st;
    }
    if (k->dtype == TAPPA_F16 && !ctx->vk->info.storage_16bit)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "window_stats: %s lacks 16-bit storage for f16 K",
                          ctx->name);
    ws_args args = { q, k, window, (tappa_tensor *)lse, lse != NULL, NULL, mean, var, colsum, entropy };
    if (!lse) {
        /* The window rows' lse, found split over chunks of keys: partials
         * (2, W, chunks) per head, reused head after head. */
        int64_t shape[2] = { hq, n };
        int64_t chunks = (n + op_workgroup_size(ctx->vk) - 1) / op_workgroup_size(ctx->vk);
        int64_t parts = 2 * window * chunks;
        st = tappa_tensor_create(ctx, TAPPA_F32, 2, shape, &args.lse, err);
        if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 1, &parts, &args.part, err);
    }
    if (!st) st = op_submit(ctx->vk, record, &args, err);
    if (!lse) {
        tappa_tensor_destroy(&args.lse);
        tappa_tensor_destroy(&args.part);
    }
    return st;
}
