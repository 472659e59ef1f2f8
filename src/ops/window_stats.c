/* window_stats: mean and unbiased variance over the last W queries of each
 * head's causal softmax attention weights, per key (SPEC.md steps 1-2). */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_window_stats(const double *q, const double *k, double *mean, double *var, size_t hq,
                            size_t hkv, size_t n, size_t d, size_t window)
{
    size_t group = hq / hkv;
    double scale = 1.0 / sqrt((double)d);
    double *a = malloc(window * n * sizeof *a + 1); /* (window, n) weights of one head */
    if (!a) return;
    for (size_t h = 0; h < hq; h++) {
        const double *kh = k + (h / group) * n * d; /* (n, d) */
        for (size_t w = 0; w < window; w++) {
            const double *qw = q + (h * n + n - window + w) * d; /* (d) */
            size_t last = n - window + w;                        /* causal: keys 0..last */
            double m = -INFINITY, s = 0;
            for (size_t j = 0; j < n; j++) {
                double acc = 0;
                for (size_t c = 0; c < d; c++) acc += qw[c] * kh[j * d + c];
                a[w * n + j] = acc * scale;
                if (j <= last && a[w * n + j] > m) m = a[w * n + j];
            }
            for (size_t j = 0; j <= last; j++) s += exp(a[w * n + j] - m);
            for (size_t j = 0; j < n; j++) a[w * n + j] = j <= last ? exp(a[w * n + j] - m) / s : 0;
        }
        for (size_t j = 0; j < n; j++) {
            double mu = 0, ss = 0;
            for (size_t w = 0; w < window; w++) mu += a[w * n + j];
            mu /= (double)window;
            for (size_t w = 0; w < window; w++) ss += (a[w * n + j] - mu) * (a[w * n + j] - mu);
            mean[h * n + j] = mu;
            var[h * n + j] = window > 1 ? ss / (double)(window - 1) : 0;
        }
    }
    free(a);
}

tappa_status window_stats_record(const tappa_tensor *q, const tappa_tensor *k, int64_t window,
                                 tappa_tensor *lse, tappa_tensor *mean, tappa_tensor *var,
                                 tappa_error *err)
{
    tvk_device *dev = q->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    uint32_t hq = (uint32_t)q->shape[0], hkv = (uint32_t)k->shape[0];
    uint32_t n = (uint32_t)q->shape[1], d = (uint32_t)q->shape[2];
    uint32_t spec0[2] = { wg, 0 }, spec1[2] = { wg, 1 };
    /* lse pass: keys / wg dot products of d; stats pass: window dot products. */
    uint64_t loops = ((uint64_t)n + wg - 1) / wg * (d + 1);
    if ((uint64_t)window * (d + 1) > loops) loops = (uint64_t)window * (d + 1);
    tappa_status st = op_check_loops(dev, loops + 16, "window_stats", err);
    if (st) return st;
    tvk_pipeline *lse_pass, *stats_pass;
    st = tvk_pipeline_get(dev, SHADER(window_stats), 5, spec0, 2, &lse_pass, err);
    if (!st) st = tvk_pipeline_get(dev, SHADER(window_stats), 5, spec1, 2, &stats_pass, err);
    size_t head = (size_t)n * d;
    for (uint32_t h = 0; h < hq && !st; h++) {
        size_t qs, qo, ks, ko, ms, mo, vs, vo;
        st = op_locate(q, h * head, head, &qs, &qo, err);
        if (!st) st = op_locate(k, (h / (hq / hkv)) * head, head, &ks, &ko, err);
        if (!st) st = op_locate(mean, (size_t)h * n, n, &ms, &mo, err);
        if (!st) st = op_locate(var, (size_t)h * n, n, &vs, &vo, err);
        if (st) break;
        tvk_binding b[5] = { tensor_binding(q, qs), tensor_binding(k, ks), tensor_binding(lse, 0),
                             tensor_binding(mean, ms), tensor_binding(var, vs) };
        struct {
            uint32_t q_base, k_base, out_base, n, d, window;
            float scale;
        } push = { (uint32_t)qo, (uint32_t)ko, (uint32_t)mo, n, d, (uint32_t)window,
                   (float)(1.0 / sqrt((double)d)) };
        /* mean and var share a shape, hence a split: one out_base serves both. */
        uint32_t gx, gy;
        tvk_grid(dev, (uint64_t)window, &gx, &gy);
        st = tvk_dispatch(dev, lse_pass, b, &push, sizeof push, gx, gy, 1, err);
        if (st) break;
        tvk_barrier(dev);
        tvk_grid(dev, ((uint64_t)n + wg - 1) / wg, &gx, &gy);
        st = tvk_dispatch(dev, stats_pass, b, &push, sizeof push, gx, gy, 1, err);
        tvk_barrier(dev); /* the next head reuses lse */
    }
    return st;
}

typedef struct ws_args {
    const tappa_tensor *q, *k;
    int64_t window;
    tappa_tensor *lse, *mean, *var;
} ws_args;

static tappa_status record_args(void *args, tappa_error *err)
{
    ws_args *a = args;
    return window_stats_record(a->q, a->k, a->window, a->lse, a->mean, a->var, err);
}

tappa_status tappa_window_stats(const tappa_tensor *q, const tappa_tensor *k, int64_t window,
                                tappa_tensor *mean, tappa_tensor *var, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    if (k->ctx != ctx || mean->ctx != ctx || var->ctx != ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "window_stats: tensors belong to different contexts");
    if (q->ndim != 3 || k->ndim != 3 || q->dtype != TAPPA_F32 || k->dtype != TAPPA_F32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "window_stats: q [Hq,N,D] and k [Hkv,N,D] f32");
    int64_t hq = q->shape[0], hkv = k->shape[0], n = q->shape[1], d = q->shape[2];
    if (hkv < 1 || hq % hkv || k->shape[1] != n || k->shape[2] != d)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "window_stats: k must be [Hkv, N, D] with Hq %% Hkv == 0");
    if (window < 2 || window > n)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "window_stats: need 2 <= window (%lld) <= N (%lld)",
                          (long long)window, (long long)n);
    for (int i = 0; i < 2; i++) {
        const tappa_tensor *o = i ? var : mean;
        if (o->dtype != TAPPA_F32 || o->ndim != 2 || o->shape[0] != hq || o->shape[1] != n)
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "window_stats: mean and var must be [Hq, N] f32");
    }
    if (q->numel > UINT32_MAX || k->numel > UINT32_MAX)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "window_stats: more than 2^32 elements");
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *qv = NULL, *kv = NULL, *mv = malloc((size_t)(hq * n) * sizeof *mv),
                    *vv = malloc((size_t)(hq * n) * sizeof *vv);
        tappa_status st = op_to_double(q, &qv, err);
        if (!st) st = op_to_double(k, &kv, err);
        if (!st && (!mv || !vv)) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "window_stats: out of memory");
        if (!st) {
            tappa_ref_window_stats(qv, kv, mv, vv, (size_t)hq, (size_t)hkv, (size_t)n, (size_t)d,
                                   (size_t)window);
            op_from_double(mean, mv, err);
            op_from_double(var, vv, err);
        }
        free(qv);
        free(kv);
        free(mv);
        free(vv);
        return st;
    }
    tappa_tensor *lse;
    tappa_status st = tappa_tensor_create(ctx, TAPPA_F32, 1, &window, &lse, err);
    if (st) return st;
    ws_args args = { q, k, window, lse, mean, var };
    st = op_submit(ctx->vk, record_args, &args, err);
    tappa_tensor_destroy(&lse);
    return st;
}
