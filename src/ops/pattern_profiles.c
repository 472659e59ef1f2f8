/* pattern_profiles: what tappa patterns reads from a head's sampled attention
 * rows - mass per key, mass per offset, and how well each row is predicted
 * by the one before. */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_pattern_profiles(const double *rows, size_t heads, size_t s, size_t n, double *col, double *off,
                                double *pred)
{
    size_t row0 = n - s;
    for (size_t h = 0; h < heads; h++) {
        const double *a = rows + h * s * n;
        double *c = col + h * n, *o = off + h * n, *pr = pred + h * s;
        for (size_t j = 0; j < n; j++) c[j] = o[j] = 0;
        for (size_t r = 0; r < s; r++) {
            size_t p = row0 + r;
            for (size_t j = 0; j < n; j++) c[j] += a[r * n + j];
            for (size_t j = 0; j <= p; j++) o[j] += a[r * n + p - j];
        }
        for (size_t j = 0; j < n; j++) {
            c[j] /= (double)s;
            o[j] /= (double)s;
        }
        pr[0] = 0;
        for (size_t r = 1; r < s; r++) {
            const double *x = a + r * n, *y = x - n;
            size_t p = row0 + r;
            double xx = 0, yy = 0, xy = 0, xy1 = 0;
            for (size_t j = 0; j <= p; j++) {
                xx += x[j] * x[j];
                if (j < p) yy += y[j] * y[j], xy += x[j] * y[j];
                if (j > 0) xy1 += x[j] * y[j - 1];
            }
            double norm = sqrt(xx * yy);
            pr[r] = norm > 0 ? fmax(xy, xy1) / norm : 0;
        }
    }
}

typedef struct profile_args {
    const tappa_tensor *rows;
    tappa_tensor *col, *off, *pred;
} profile_args;

tappa_status pattern_profiles_record(const tappa_tensor *rows, tappa_tensor *col, tappa_tensor *off,
                                     tappa_tensor *pred, tappa_error *err)
{
    tvk_device *dev = rows->ctx->vk;
    uint32_t heads = (uint32_t)rows->shape[0], s = (uint32_t)rows->shape[1], n = (uint32_t)rows->shape[2];
    uint32_t wg = op_workgroup_size(dev);
    tappa_status st = op_check_loops(dev, (uint64_t)s + (n + wg - 1) / wg + 16, "pattern_profiles", err);
    tvk_pipeline *profiles, *predictability;
    uint32_t spec[2] = { wg, 0 };
    if (!st) st = tvk_pipeline_get(dev, SHADER(pattern_profiles), 4, spec, 2, &profiles, err);
    spec[1] = 1;
    if (!st) st = tvk_pipeline_get(dev, SHADER(pattern_profiles), 4, spec, 2, &predictability, err);
    for (uint32_t h = 0; h < heads && !st; h++) {
        size_t as, ao, cs, co, os, oo, ps, po;
        st = op_locate(rows, (size_t)h * s * n, (size_t)s * n, &as, &ao, err);
        if (!st) st = op_locate(col, (size_t)h * n, n, &cs, &co, err);
        if (!st) st = op_locate(off, (size_t)h * n, n, &os, &oo, err);
        if (!st) st = op_locate(pred, (size_t)h * s, s, &ps, &po, err);
        if (st) break;
        tvk_binding b[4] = { tensor_binding(rows, as), tensor_binding(col, cs), tensor_binding(off, os),
                             tensor_binding(pred, ps) };
        uint32_t push[6] = { s, n, (uint32_t)ao, (uint32_t)co, (uint32_t)oo, (uint32_t)po }, gx, gy;
        tvk_grid(dev, (n + wg - 1) / wg, &gx, &gy);
        st = tvk_dispatch(dev, profiles, b, push, sizeof push, gx, gy, 1, err);
        tvk_grid(dev, s - 1, &gx, &gy);
        if (!st) st = tvk_dispatch(dev, predictability, b, push, sizeof push, gx, gy, 1, err);
    }
    return st;
}

static tappa_status record(void *p, tappa_error *err)
{
    profile_args *a = p;
    return pattern_profiles_record(a->rows, a->col, a->off, a->pred, err);
}

tappa_status tappa_pattern_profiles(const tappa_tensor *rows, tappa_tensor *col, tappa_tensor *off, tappa_tensor *pred,
                                    tappa_error *err)
{
    tappa_context *ctx = rows->ctx;
    const tappa_tensor *all[4] = { rows, col, off, pred };
    for (int i = 0; i < 4; i++)
        if (all[i]->ctx != ctx || all[i]->dtype != TAPPA_F32)
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "pattern_profiles: every tensor f32, on one context");
    int64_t h = rows->ndim == 3 ? rows->shape[0] : 0, s = rows->ndim == 3 ? rows->shape[1] : 0;
    int64_t n = rows->ndim == 3 ? rows->shape[2] : 0;
    if (h < 1 || s < 2 || n < s || col->numel != (size_t)(h * n) || off->numel != (size_t)(h * n) ||
        pred->numel != (size_t)(h * s))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "pattern_profiles: rows [H, S, N] with 2 <= S <= N, col and off [H, N], pred [H, S]");
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *rv = NULL, *cv = malloc((size_t)(h * n) * sizeof *cv), *ov = malloc((size_t)(h * n) * sizeof *ov);
        double *pv = malloc((size_t)(h * s) * sizeof *pv);
        tappa_status st = cv && ov && pv ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "pattern_profiles: out of host memory");
        if (!st) st = op_to_double(rows, &rv, err);
        if (!st) {
            tappa_ref_pattern_profiles(rv, (size_t)h, (size_t)s, (size_t)n, cv, ov, pv);
            op_from_double(col, cv, err);
            op_from_double(off, ov, err);
            op_from_double(pred, pv, err);
        }
        free(rv);
        free(cv);
        free(ov);
        free(pv);
        return st;
    }
    profile_args args = { rows, col, off, pred };
    return op_submit(ctx->vk, record, &args, err);
}
