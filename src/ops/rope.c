/* rope: rotary position embedding, rotate-half or interleaved pairs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

/* Angle per position of pair i: base^(-2i/d), divided by the pair's divisor
 * and the linear scale when given. */
static double inv_freq(const tappa_rope_params *p, size_t i, size_t d)
{
    double f = pow(p->base, -2.0 * (double)i / (double)d);
    if (p->freq_divisors) f /= p->freq_divisors[i];
    return p->scale > 0 ? f / p->scale : f;
}

void tappa_ref_rope(const double *x, double *y, size_t slices, size_t n, size_t d,
                    const tappa_rope_params *params)
{
    size_t half = d / 2;
    for (size_t sl = 0; sl < slices; sl++)
        for (size_t t = 0; t < n; t++) {
            const double *xr = x + (sl * n + t) * d; /* (d) */
            double *yr = y + (sl * n + t) * d;
            double pos = (double)(params->pos_offset + (int64_t)t);
            for (size_t i = 0; i < half; i++) {
                double a = pos * inv_freq(params, i, d);
                double c = cos(a), s = sin(a);
                size_t i0 = params->layout == TAPPA_ROPE_INTERLEAVED ? 2 * i : i;
                size_t i1 = params->layout == TAPPA_ROPE_INTERLEAVED ? 2 * i + 1 : i + half;
                double x0 = xr[i0], x1 = xr[i1];
                yr[i0] = x0 * c - x1 * s;
                yr[i1] = x0 * s + x1 * c;
            }
        }
}

tappa_status rope_table_create(tappa_context *ctx, int64_t n, int64_t d,
                               const tappa_rope_params *params, tappa_tensor **table,
                               tappa_error *err)
{
    int64_t n_hi = (n + 255) / 256;
    int64_t half = d / 2;
    int64_t shape[3] = { 256 + n_hi, half, 2 };
    tappa_status st = tappa_tensor_create(ctx, TAPPA_F32, 3, shape, table, err);
    if (st) return st;
    size_t count = (size_t)(shape[0] * half * 2);
    float *v = malloc(count * sizeof *v);
    if (!v) {
        tappa_tensor_destroy(table);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "rope: cannot allocate the angle table");
    }
    for (int64_t r = 0; r < shape[0]; r++) {
        double pos = r < 256 ? (double)r : (double)(params->pos_offset + 256 * (r - 256));
        for (int64_t i = 0; i < half; i++) {
            double a = pos * inv_freq(params, (size_t)i, (size_t)d);
            v[(r * half + i) * 2] = (float)cos(a);
            v[(r * half + i) * 2 + 1] = (float)sin(a);
        }
    }
    st = tappa_tensor_upload(*table, v, count * sizeof *v, err);
    free(v);
    if (st) tappa_tensor_destroy(table);
    return st;
}

tappa_status rope_check_params(const tappa_rope_params *params, const char *op, tappa_error *err)
{
    if (!(params->base > 1.0) || params->pos_offset < 0 || params->pos_offset > ((int64_t)1 << 40))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: RoPE base must be > 1 and 0 <= pos_offset <= 2^40", op);
    return TAPPA_OK;
}

tappa_status rope_record(const tappa_tensor *x, tappa_tensor *y, const tappa_tensor *table,
                         const tappa_rope_params *params, uint32_t table_pos, const rms_prescale *pre,
                         tappa_error *err)
{
    tvk_device *dev = x->ctx->vk;
    if (table->n_segments != 1)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "rope: angle table exceeds one binding");
    uint32_t spec[2] = { op_workgroup_size(dev), pre != NULL };
    tvk_pipeline *p;
    tappa_status st = x->dtype == TAPPA_F16
                          ? tvk_pipeline_get(dev, SHADER(rope_f16), 4, spec, 2, &p, err)
                          : tvk_pipeline_get(dev, SHADER(rope_f32), 4, spec, 2, &p, err);
    uint32_t d = (uint32_t)x->shape[x->ndim - 1];
    uint32_t n = (uint32_t)x->shape[x->ndim - 2];
    size_t rs = 0, ro = 0;
    uint32_t embd = pre ? (uint32_t)(pre->x->numel / (size_t)pre->x->shape[0]) : 0;
    if (!st && pre && (pre->tokens > RMS_PRESCALE_MAX_ROWS || pre->tokens > n))
        st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "rope: at most %d prescaled tokens, got %u", RMS_PRESCALE_MAX_ROWS,
                        pre->tokens);
    if (!st && pre) st = op_locate(pre->x, 0, (size_t)embd * pre->tokens, &rs, &ro, err);
    float eps = pre ? (float)pre->eps : 0.0f;
    for (size_t i = 0; i < x->n_segments && !st; i++) {
        tvk_binding b[4] = { tensor_binding(x, i), tensor_binding(y, i), tensor_binding(table, 0),
                             pre ? tensor_binding(pre->x, rs) : tensor_binding(table, 0) };
        uint32_t push[10] = {
            (uint32_t)(x->segments[i].count / 2),
            (uint32_t)(x->segments[i].first / d),
            n,
            d,
            params->layout == TAPPA_ROPE_INTERLEAVED,
            table_pos,
            pre ? pre->tokens : 0,
            embd,
            (uint32_t)ro,
            0,
        };
        memcpy(&push[9], &eps, sizeof eps);
        uint32_t gx, gy;
        tvk_grid(dev, (push[0] + (uint64_t)spec[0] - 1) / spec[0], &gx, &gy);
        st = tvk_dispatch(dev, p, b, push, sizeof push, gx, gy, 1, err);
    }
    return st;
}

typedef struct rope_args {
    const tappa_tensor *x;
    tappa_tensor *y;
    const tappa_tensor *table;
    const tappa_rope_params *params;
    const rms_prescale *pre;
} rope_args;

static tappa_status record_args(void *args, tappa_error *err)
{
    rope_args *a = args;
    return rope_record(a->x, a->y, a->table, a->params, 0, a->pre, err);
}

void tappa_ref_rope_prescaled(const double *x, double *y, size_t slices, size_t n, size_t d,
                              const tappa_rope_params *params, const double *resid, size_t embd, double eps)
{
    /* A rotation is linear: rotating, then scaling each row, is the same. */
    tappa_ref_rope(x, y, slices, n, d, params);
    for (size_t t = 0; t < n; t++) {
        double s = tappa_ref_rms_scale(resid + t * embd, embd, eps);
        for (size_t sl = 0; sl < slices; sl++)
            for (size_t j = 0; j < d; j++) y[(sl * n + t) * d + j] *= s;
    }
}

static tappa_status rope_run(const tappa_tensor *x, tappa_tensor *y, const tappa_rope_params *params,
                             const rms_prescale *pre, tappa_error *err)
{
    tappa_status st = tensor_check_same(x, y, "rope", err);
    if (st) return st;
    if (x->ndim < 2 || x->shape[x->ndim - 1] < 2 || x->shape[x->ndim - 1] % 2)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "rope: needs [..., N, D] with D even");
    if (x->dtype == TAPPA_I32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "rope: f32 or f16 tensors only");
    st = rope_check_params(params, "rope", err);
    if (st) return st;
    if (x->numel > UINT32_MAX)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "rope: more than 2^32 elements");
    size_t d = (size_t)x->shape[x->ndim - 1];
    size_t n = (size_t)x->shape[x->ndim - 2];
    if (x->ctx->backend == TAPPA_BACKEND_CPU) {
        double *v;
        st = op_to_double(x, &v, err);
        if (st) return st;
        double *out = malloc(x->numel * sizeof *out + 1);
        if (!out) {
            free(v);
            return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "rope: out of host memory");
        }
        double *r = NULL;
        if (pre) st = op_to_double(pre->x, &r, err);
        if (!st && pre)
            tappa_ref_rope_prescaled(v, out, x->numel / (n * d), n, d, params, r, pre->x->numel / n, pre->eps);
        else if (!st)
            tappa_ref_rope(v, out, x->numel / (n * d), n, d, params);
        if (!st) st = op_from_double(y, out, err);
        free(v);
        free(out);
        free(r);
        return st;
    }
    if (x->dtype == TAPPA_F16 && !x->ctx->vk->info.storage_16bit)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "rope: %s lacks 16-bit storage for f16",
                          x->ctx->name);
    tappa_tensor *table;
    st = rope_table_create(x->ctx, (int64_t)n, (int64_t)d, params, &table, err);
    if (st) return st;
    rope_args args = { x, y, table, params, pre };
    st = op_submit(x->ctx->vk, record_args, &args, err);
    tappa_tensor_destroy(&table);
    return st;
}

tappa_status tappa_rope(const tappa_tensor *x, tappa_tensor *y, const tappa_rope_params *params,
                        tappa_error *err)
{
    return rope_run(x, y, params, NULL, err);
}

tappa_status tappa_rope_prescaled(const tappa_tensor *x, tappa_tensor *y, const tappa_rope_params *params,
                                  const tappa_tensor *resid, double eps, tappa_error *err)
{
    if (x->ndim < 2 || resid->ctx != x->ctx || resid->dtype != TAPPA_F32 || x->dtype != TAPPA_F32 ||
        resid->ndim != 2 || resid->shape[0] != x->shape[x->ndim - 2] || resid->shape[0] > RMS_PRESCALE_MAX_ROWS ||
        !(eps >= 0))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "rope_prescaled: x [..., N, D] f32 with N <= %d, resid [N, embd] f32 of its context, eps >= 0",
                          RMS_PRESCALE_MAX_ROWS);
    rms_prescale pre = { resid, eps, (uint32_t)resid->shape[0] };
    return rope_run(x, y, params, &pre, err);
}
