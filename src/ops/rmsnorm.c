/* rmsnorm: a decoder's RMSNorm, x / sqrt(mean(x^2) + eps) * weight, per row. */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

double tappa_ref_rms_scale(const double *x, size_t n, double eps)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += x[i] * x[i];
    return 1.0 / sqrt(ss / (double)n + eps);
}

void tappa_ref_rmsnorm(const double *x, const double *weight, size_t rows, size_t n, double eps, double *y)
{
    for (size_t r = 0; r < rows; r++) {
        double scale = tappa_ref_rms_scale(x + r * n, n, eps);
        for (size_t i = 0; i < n; i++) y[r * n + i] = x[r * n + i] * scale * weight[i];
    }
}

typedef struct rn_args {
    const tappa_tensor *x, *weight;
    double eps;
    tappa_tensor *y;
} rn_args;

/* Loads in flight per invocation (rmsnorm.comp's UNROLL). H200,
 * Llama-3-8B, a norm stage of a decode step in one workgroup: 15.2 us with
 * 1, 12.4 with 8, 12.6 with 16; split over 16 workgroups (below), 5.5-6.3. */
#define RMSNORM_UNROLL 8
/* Rows with fewer workgroups than this are split into slices per row. */
#define RMSNORM_TARGET_WGS 128

tappa_status rmsnorm_record(const tappa_tensor *x, const tappa_tensor *weight, double eps, tappa_tensor *y,
                            tappa_error *err)
{
    tvk_device *dev = x->ctx->vk;
    uint32_t wg = op_workgroup_size(dev), n = (uint32_t)weight->numel, rows = (uint32_t)(x->numel / n);
    uint32_t spec[2] = { wg, RMSNORM_UNROLL };
    tappa_status st = op_check_loops(dev, 2ull * (n / (wg * RMSNORM_UNROLL) + 1) + 16, "rmsnorm", err);
    tvk_pipeline *p;
    size_t xs, xo, ws, wo, ys, yo;
    if (!st) st = tvk_pipeline_get(dev, SHADER(rmsnorm), 3, spec, 2, &p, err);
    if (!st) st = op_locate(x, 0, x->numel, &xs, &xo, err);
    if (!st) st = op_locate(weight, 0, n, &ws, &wo, err);
    if (!st) st = op_locate(y, 0, y->numel, &ys, &yo, err);
    if (!st && wo) st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "rmsnorm: the weight must start its buffer");
    if (st) return st;
    tvk_binding b[3] = { tensor_binding(x, xs), tensor_binding(weight, ws), tensor_binding(y, ys) };
    /* Few rows (a decode step's one): slices of at least one element per
     * invocation, enough of them to spread the row over the GPU. */
    uint32_t slices = rows >= RMSNORM_TARGET_WGS ? 1 : (RMSNORM_TARGET_WGS + rows - 1) / rows;
    uint32_t most = (n + wg - 1) / wg;
    if (slices > most) slices = most;
    struct {
        uint32_t rows, n, x_base, y_base;
        float eps;
        uint32_t slices, span;
    } push = { rows, n, (uint32_t)xo, (uint32_t)yo, (float)eps, slices, (n + slices - 1) / slices };
    uint32_t gx, gy;
    tvk_grid(dev, rows * slices, &gx, &gy);
    return tvk_dispatch(dev, p, b, &push, sizeof push, gx, gy, 1, err);
}

static tappa_status record(void *p, tappa_error *err)
{
    rn_args *a = p;
    return rmsnorm_record(a->x, a->weight, a->eps, a->y, err);
}

tappa_status tappa_rmsnorm(const tappa_tensor *x, const tappa_tensor *weight, double eps, tappa_tensor *y,
                           tappa_error *err)
{
    tappa_context *ctx = x->ctx;
    if (weight->ctx != ctx || y->ctx != ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "rmsnorm: tensors belong to different contexts");
    size_t n = weight->numel;
    if (x->dtype != TAPPA_F32 || weight->dtype != TAPPA_F32 || y->dtype != TAPPA_F32 || n == 0 || x->numel % n ||
        y->numel != x->numel || !(eps >= 0))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "rmsnorm: x and y [rows, n] f32, weight [n] f32, eps >= 0");
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *xv = NULL, *wv = NULL, *yv = malloc(x->numel * sizeof *yv + 1);
        tappa_status st = yv ? op_to_double(x, &xv, err) : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        if (!st) st = op_to_double(weight, &wv, err);
        if (!st) {
            tappa_ref_rmsnorm(xv, wv, x->numel / n, n, eps, yv);
            st = op_from_double(y, yv, err);
        }
        free(xv);
        free(wv);
        free(yv);
        return st;
    }
    rn_args args = { x, weight, eps, y };
    return op_submit(ctx->vk, record, &args, err);
}
