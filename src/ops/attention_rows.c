/* attention_rows: the causal softmax weights of a few consecutive query rows
 * per head (tappa patterns' heatmaps, predictability and pattern scores). */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_attention_rows(const double *q, const double *k, double *out, size_t hq, size_t hkv,
                              size_t n, size_t d, size_t row0, size_t rows)
{
    double scale = 1.0 / sqrt((double)d);
    for (size_t h = 0; h < hq; h++) {
        const double *kh = k + (h / (hq / hkv)) * n * d;
        for (size_t r = 0; r < rows; r++) {
            size_t p = row0 + r;
            const double *qp = q + (h * n + p) * d;
            double *o = out + (h * rows + r) * n, mx = -INFINITY, sum = 0;
            for (size_t j = 0; j <= p; j++) {
                double s = 0;
                for (size_t i = 0; i < d; i++) s += qp[i] * kh[j * d + i];
                o[j] = s * scale;
                if (o[j] > mx) mx = o[j];
            }
            for (size_t j = 0; j <= p; j++) sum += (o[j] = exp(o[j] - mx));
            for (size_t j = 0; j < n; j++) o[j] = j <= p ? o[j] / sum : 0;
        }
    }
}

tappa_status attention_rows_record(const tappa_tensor *q, const tappa_tensor *k, int64_t row0,
                                   tappa_tensor *out, tappa_error *err)
{
    tvk_device *dev = q->ctx->vk;
    uint32_t hq = (uint32_t)q->shape[0], n = (uint32_t)q->shape[1], d = (uint32_t)q->shape[2];
    uint32_t hkv = (uint32_t)k->shape[0], rows = (uint32_t)out->shape[1];
    uint32_t wg = op_workgroup_size(dev);
    tappa_status st = op_check_loops(dev, ((uint64_t)n + wg - 1) / wg * (d + 2) + d, "attention_rows", err);
    tvk_pipeline *p;
    if (!st)
        st = k->dtype == TAPPA_F16 ? tvk_pipeline_get(dev, SHADER(attention_rows_f16), 3, &wg, 1, &p, err)
                                   : tvk_pipeline_get(dev, SHADER(attention_rows_f32), 3, &wg, 1, &p, err);
    for (uint32_t h = 0; h < hq && !st; h++) {
        size_t qs, qo, ks, ko, os, oo;
        st = op_locate(q, (size_t)h * n * d, (size_t)n * d, &qs, &qo, err);
        if (!st) st = op_locate(k, (size_t)(h / (hq / hkv)) * n * d, (size_t)n * d, &ks, &ko, err);
        if (!st) st = op_locate(out, (size_t)h * rows * n, (size_t)rows * n, &os, &oo, err);
        if (st) break;
        tvk_binding b[3] = { tensor_binding(q, qs), tensor_binding(k, ks), tensor_binding(out, os) };
        struct {
            uint32_t q_base, k_base, out_base, n, d, row0, rows;
            float scale;
        } push = { (uint32_t)qo, (uint32_t)ko, (uint32_t)oo, n, d, (uint32_t)row0, rows,
                   (float)(1.0 / sqrt((double)d)) };
        uint32_t gx, gy;
        tvk_grid(dev, rows, &gx, &gy);
        st = tvk_dispatch(dev, p, b, &push, sizeof push, gx, gy, 1, err);
    }
    return st;
}

typedef struct rows_args {
    const tappa_tensor *q, *k;
    int64_t row0;
    tappa_tensor *out;
} rows_args;

static tappa_status record(void *p, tappa_error *err)
{
    rows_args *a = p;
    return attention_rows_record(a->q, a->k, a->row0, a->out, err);
}

tappa_status tappa_attention_rows(const tappa_tensor *q, const tappa_tensor *k, int64_t row0,
                                  tappa_tensor *out, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    if (k->ctx != ctx || out->ctx != ctx || q->dtype != TAPPA_F32 || out->dtype != TAPPA_F32 ||
        (k->dtype != TAPPA_F32 && k->dtype != TAPPA_F16) || q->ndim != 3 || k->ndim != 3 || out->ndim != 3)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "attention_rows: q [Hq, N, D] f32, k [Hkv, N, D] f32/f16, out [Hq, rows, N] f32");
    int64_t hq = q->shape[0], n = q->shape[1], d = q->shape[2], hkv = k->shape[0], rows = out->shape[1];
    if (hkv < 1 || hq % hkv || k->shape[1] != n || k->shape[2] != d || out->shape[0] != hq ||
        out->shape[2] != n || d < 1 || d > 256)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "attention_rows: shapes q [%lld, %lld, %lld], k [%lld, %lld, %lld], out [%lld, %lld, "
                          "%lld] do not match (Hq a multiple of Hkv, D <= 256)",
                          (long long)hq, (long long)n, (long long)d, (long long)hkv, (long long)k->shape[1],
                          (long long)k->shape[2], (long long)out->shape[0], (long long)rows,
                          (long long)out->shape[2]);
    if (row0 < 0 || rows < 1 || row0 + rows > n)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention_rows: rows %lld..%lld outside the %lld queries",
                          (long long)row0, (long long)(row0 + rows - 1), (long long)n);
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *qv = NULL, *kv = NULL, *ov = malloc((size_t)(hq * rows * n) * sizeof *ov);
        tappa_status st = ov ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "attention_rows: out of host memory");
        if (!st) st = op_to_double(q, &qv, err);
        if (!st) st = op_to_double(k, &kv, err);
        if (!st) {
            tappa_ref_attention_rows(qv, kv, ov, (size_t)hq, (size_t)hkv, (size_t)n, (size_t)d, (size_t)row0,
                                     (size_t)rows);
            op_from_double(out, ov, err);
        }
        free(qv);
        free(kv);
        free(ov);
        return st;
    }
    rows_args args = { q, k, row0, out };
    return op_submit(ctx->vk, record, &args, err);
}
