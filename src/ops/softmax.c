/* softmax: numerically stable row softmax over the last dimension. */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_softmax(const double *x, double *y, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const double *xr = x + r * cols; /* (cols) */
        double *yr = y + r * cols;
        double m = -INFINITY, s = 0;
        for (size_t c = 0; c < cols; c++) m = xr[c] > m ? xr[c] : m;
        for (size_t c = 0; c < cols; c++) s += exp(xr[c] - m);
        for (size_t c = 0; c < cols; c++) yr[c] = exp(xr[c] - m) / s;
    }
}

tappa_status softmax_record(const tappa_tensor *x, tappa_tensor *y, tappa_error *err)
{
    tvk_device *dev = x->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    tvk_pipeline *p;
    tappa_status st = x->dtype == TAPPA_F16
                          ? tvk_pipeline_get(dev, SHADER(softmax_f16), 2, &wg, 1, &p, err)
                          : tvk_pipeline_get(dev, SHADER(softmax_f32), 2, &wg, 1, &p, err);
    uint32_t cols = (uint32_t)x->shape[x->ndim - 1];
    if (!st) st = op_check_loops(dev, 2ull * (cols + wg - 1) / wg + 16, "softmax", err);
    for (size_t i = 0; i < x->n_segments && !st; i++) {
        tvk_binding b[2] = { tensor_binding(x, i), tensor_binding(y, i) };
        uint32_t push[2] = { (uint32_t)(x->segments[i].count / cols), cols };
        uint32_t gx, gy;
        tvk_grid(dev, push[0], &gx, &gy);
        st = tvk_dispatch(dev, p, b, push, sizeof push, gx, gy, 1, err);
    }
    return st;
}

static tappa_status record_args(void *args, tappa_error *err)
{
    const tappa_tensor **t = args;
    return softmax_record(t[0], (tappa_tensor *)t[1], err);
}

tappa_status tappa_softmax(const tappa_tensor *x, tappa_tensor *y, tappa_error *err)
{
    tappa_status st = tensor_check_same(x, y, "softmax", err);
    if (st) return st;
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "softmax: needs a last dimension >= 1");
    if (x->dtype == TAPPA_I32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "softmax: f32 or f16 tensors only");
    if (x->numel > UINT32_MAX)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "softmax: more than 2^32 elements");
    size_t cols = (size_t)x->shape[x->ndim - 1];
    if (x->ctx->backend == TAPPA_BACKEND_CPU) {
        double *v;
        st = op_to_double(x, &v, err);
        if (st) return st;
        tappa_ref_softmax(v, v, x->numel / cols, cols);
        st = op_from_double(y, v, err);
        free(v);
        return st;
    }
    if (x->dtype == TAPPA_F16 && !x->ctx->vk->info.storage_16bit)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "softmax: %s lacks 16-bit storage for f16",
                          x->ctx->name);
    const tappa_tensor *args[2] = { x, y };
    return op_submit(x->ctx->vk, record_args, args, err);
}
