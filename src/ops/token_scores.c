/* token_scores: pooled, group-averaged token importance (SPEC.md step 2). */
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_token_scores(const double *a, const double *b, double a_scale, double gamma,
                            size_t hq, size_t hkv, size_t n, size_t window, size_t kernel,
                            double *out)
{
    size_t g = hq / hkv, keys = n - window, half = kernel / 2;
    for (size_t kvh = 0; kvh < hkv; kvh++)
        for (size_t j = 0; j < keys; j++) {
            double sum = 0;
            for (size_t x = 0; x < g; x++) {
                const double *ar = a + (kvh * g + x) * n, *br = b + (kvh * g + x) * n; /* (n) */
                for (size_t jj = j >= half ? j - half : 0; jj <= j + half && jj < keys; jj++)
                    sum += a_scale * ar[jj] + gamma * br[jj];
            }
            out[kvh * keys + j] = sum / (double)(kernel * g);
        }
}

typedef struct ts_args {
    const tappa_tensor *a, *b;
    double a_scale, gamma;
    int64_t window, kernel;
    tappa_tensor *out;
} ts_args;

tappa_status token_scores_record(const tappa_tensor *a, const tappa_tensor *b, double a_scale,
                                 double gamma, int64_t window, int64_t kernel, tappa_tensor *out,
                                 tappa_error *err)
{
    tvk_device *dev = a->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    uint32_t hq = (uint32_t)a->shape[0], n = (uint32_t)a->shape[1], hkv = (uint32_t)out->shape[0];
    uint32_t g = hq / hkv, keys = n - (uint32_t)window;
    tappa_status st = op_check_loops(dev, (uint64_t)g * (uint64_t)kernel + 8, "token_scores", err);
    tvk_pipeline *p;
    if (!st) st = tvk_pipeline_get(dev, SHADER(token_scores), 3, &wg, 1, &p, err);
    for (uint32_t kvh = 0; kvh < hkv && !st; kvh++) {
        /* One KV head's g query-head rows, and its row of scores. */
        size_t as, ao, bs, bo, os, oo;
        st = op_locate(a, (size_t)kvh * g * n, (size_t)g * n, &as, &ao, err);
        if (!st) st = op_locate(b, (size_t)kvh * g * n, (size_t)g * n, &bs, &bo, err);
        if (!st) st = op_locate(out, (size_t)kvh * keys, keys, &os, &oo, err);
        if (st) break;
        tvk_binding bind[3] = { tensor_binding(a, as), tensor_binding(b, bs), tensor_binding(out, os) };
        struct {
            uint32_t g, n, keys;
            float a_scale, gamma;
            uint32_t kernel, a_base, b_base, out_base;
        } push = { g, n, keys, (float)a_scale, (float)gamma, (uint32_t)kernel, (uint32_t)ao,
                   (uint32_t)bo, (uint32_t)oo };
        uint32_t gx, gy;
        tvk_grid(dev, ((uint64_t)keys + wg - 1) / wg, &gx, &gy);
        st = tvk_dispatch(dev, p, bind, &push, sizeof push, gx, gy, 1, err);
    }
    return st;
}

static tappa_status record(void *p, tappa_error *err)
{
    ts_args *t = p;
    return token_scores_record(t->a, t->b, t->a_scale, t->gamma, t->window, t->kernel, t->out, err);
}

tappa_status tappa_token_scores(const tappa_tensor *a, const tappa_tensor *b, double a_scale,
                                double gamma, int64_t window, int64_t kernel, tappa_tensor *out,
                                tappa_error *err)
{
    tappa_context *ctx = a->ctx;
    tappa_status st = tensor_check_same(a, b, "token_scores (a vs b)", err);
    if (st) return st;
    if (out->ctx != ctx || a->dtype != TAPPA_F32 || a->ndim != 2 || out->dtype != TAPPA_F32 || out->ndim != 2)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "token_scores: a, b [Hq, N] and out [Hkv, N - W], f32");
    int64_t hq = a->shape[0], n = a->shape[1], hkv = out->shape[0];
    if (window < 0 || window >= n || out->shape[1] != n - window)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "token_scores: out must be [Hkv, N - W] with 0 <= W < N");
    if (hkv < 1 || hq % hkv)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "token_scores: %lld query heads are not a multiple of %lld KV heads",
                          (long long)hq, (long long)hkv);
    if (kernel < 1 || kernel % 2 == 0 || kernel > 63)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "token_scores: the pooling kernel must be odd, 1..63");
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *av = NULL, *bv = NULL, *ov = malloc(out->numel * sizeof *ov + 1);
        st = op_to_double(a, &av, err);
        if (!st) st = op_to_double(b, &bv, err);
        if (!st && !ov) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "token_scores: out of host memory");
        if (!st) {
            tappa_ref_token_scores(av, bv, a_scale, gamma, (size_t)hq, (size_t)hkv, (size_t)n,
                                   (size_t)window, (size_t)kernel, ov);
            op_from_double(out, ov, err);
        }
        free(av);
        free(bv);
        free(ov);
        return st;
    }
    ts_args args = { a, b, a_scale, gamma, window, kernel, out };
    return op_submit(ctx->vk, record, &args, err);
}
