/* row_sums: sums of the first cols entries of each row (cake's totals). */
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_row_sums(const double *x, size_t rows, size_t stride, size_t cols, double *out)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0;
        for (size_t j = 0; j < cols; j++) s += x[r * stride + j];
        out[r] = s;
    }
}

typedef struct rs_args {
    const tappa_tensor *x;
    int64_t cols;
    tappa_tensor *out;
} rs_args;

tappa_status row_sums_record(const tappa_tensor *x, int64_t cols, tappa_tensor *out, tappa_error *err)
{
    tvk_device *dev = x->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    uint32_t rows = (uint32_t)x->shape[0], stride = (uint32_t)x->shape[1];
    tappa_status st = op_check_loops(dev, ((uint64_t)cols + wg - 1) / wg + 16, "row_sums", err);
    tvk_pipeline *p;
    if (!st) st = tvk_pipeline_get(dev, SHADER(row_sums), 2, &wg, 1, &p, err);
    /* A row at a time keeps every binding within one segment. */
    for (uint32_t r = 0; r < rows && !st; r++) {
        size_t xs, xo, os, oo;
        st = op_locate(x, (size_t)r * stride, stride, &xs, &xo, err);
        if (!st) st = op_locate(out, r, 1, &os, &oo, err);
        if (st) break;
        tvk_binding b[2] = { tensor_binding(x, xs), tensor_binding(out, os) };
        uint32_t push[4] = { (uint32_t)cols, stride, (uint32_t)xo, (uint32_t)oo };
        st = tvk_dispatch(dev, p, b, push, sizeof push, 1, 1, 1, err);
    }
    return st;
}

static tappa_status record(void *p, tappa_error *err)
{
    rs_args *a = p;
    return row_sums_record(a->x, a->cols, a->out, err);
}

tappa_status tappa_row_sums(const tappa_tensor *x, int64_t cols, tappa_tensor *out, tappa_error *err)
{
    tappa_context *ctx = x->ctx;
    if (out->ctx != ctx || x->dtype != TAPPA_F32 || x->ndim != 2 || out->dtype != TAPPA_F32 ||
        out->numel != (size_t)x->shape[0])
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "row_sums: x [R, C] f32 and out [R] f32");
    if (cols < 0 || cols > x->shape[1])
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "row_sums: cols %lld outside 0..%lld",
                          (long long)cols, (long long)x->shape[1]);
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *xv = NULL, *ov = malloc((size_t)x->shape[0] * sizeof *ov + 1);
        tappa_status st = op_to_double(x, &xv, err);
        if (!st && !ov) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "row_sums: out of host memory");
        if (!st) {
            tappa_ref_row_sums(xv, (size_t)x->shape[0], (size_t)x->shape[1], (size_t)cols, ov);
            op_from_double(out, ov, err);
        }
        free(xv);
        free(ov);
        return st;
    }
    rs_args args = { x, cols, out };
    return op_submit(ctx->vk, record, &args, err);
}
