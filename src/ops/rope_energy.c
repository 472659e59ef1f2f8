/* rope_energy: each rotary pair's share of what it can add to a head's
 * scores, sum over t of |q_j(t)| |k_j(t)| (tappa patterns' RoPE picture). */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_rope_energy(const double *q, const double *k, size_t hq, size_t hkv, size_t n, size_t d,
                           bool interleaved, double *out)
{
    size_t pairs = d / 2;
    for (size_t h = 0; h < hq; h++) {
        const double *qh = q + h * n * d, *kh = k + (h / (hq / hkv)) * n * d;
        double *o = out + h * pairs, total = 0;
        for (size_t j = 0; j < pairs; j++) {
            size_t a = interleaved ? 2 * j : j, b = interleaved ? 2 * j + 1 : j + pairs;
            double s = 0;
            for (size_t t = 0; t < n; t++)
                s += hypot(qh[t * d + a], qh[t * d + b]) * hypot(kh[t * d + a], kh[t * d + b]);
            o[j] = s;
            total += s;
        }
        for (size_t j = 0; j < pairs; j++) o[j] = total > 0 ? o[j] / total : 0;
    }
}

typedef struct energy_args {
    const tappa_tensor *q, *k;
    bool interleaved;
    tappa_tensor *out;
} energy_args;

tappa_status rope_energy_record(const tappa_tensor *q, const tappa_tensor *k, bool interleaved, tappa_tensor *out,
                                tappa_error *err)
{
    tvk_device *dev = q->ctx->vk;
    uint32_t hq = (uint32_t)q->shape[0], n = (uint32_t)q->shape[1], d = (uint32_t)q->shape[2];
    uint32_t hkv = (uint32_t)k->shape[0], wg = op_workgroup_size(dev);
    tappa_status st = op_check_loops(dev, (uint64_t)n * ((d / 2 + wg - 1) / wg) + 16, "rope_energy", err);
    uint32_t spec[2] = { wg, interleaved };
    tvk_pipeline *pl;
    if (!st)
        st = k->dtype == TAPPA_F16 ? tvk_pipeline_get(dev, SHADER(rope_energy_f16), 3, spec, 2, &pl, err)
                                      : tvk_pipeline_get(dev, SHADER(rope_energy_f32), 3, spec, 2, &pl, err);
    for (uint32_t h = 0; h < hq && !st; h++) {
        size_t qs, qo, ks, ko, os, oo;
        st = op_locate(q, (size_t)h * n * d, (size_t)n * d, &qs, &qo, err);
        if (!st) st = op_locate(k, (size_t)(h / (hq / hkv)) * n * d, (size_t)n * d, &ks, &ko, err);
        if (!st) st = op_locate(out, (size_t)h * (d / 2), d / 2, &os, &oo, err);
        if (st) break;
        tvk_binding b[3] = { tensor_binding(q, qs), tensor_binding(k, ks), tensor_binding(out, os) };
        uint32_t push[5] = { (uint32_t)qo, (uint32_t)ko, (uint32_t)oo, n, d };
        st = tvk_dispatch(dev, pl, b, push, sizeof push, 1, 1, 1, err);
    }
    return st;
}

static tappa_status record(void *p, tappa_error *err)
{
    energy_args *a = p;
    return rope_energy_record(a->q, a->k, a->interleaved, a->out, err);
}

tappa_status tappa_rope_energy(const tappa_tensor *q, const tappa_tensor *k, tappa_rope_layout layout,
                               tappa_tensor *out, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    if (k->ctx != ctx || out->ctx != ctx || q->dtype != TAPPA_F32 || out->dtype != TAPPA_F32 ||
        (k->dtype != TAPPA_F32 && k->dtype != TAPPA_F16) || q->ndim != 3 || k->ndim != 3)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "rope_energy: q [Hq, N, D] f32, k [Hkv, N, D] f32/f16, out f32");
    int64_t hq = q->shape[0], n = q->shape[1], d = q->shape[2], hkv = k->shape[0];
    if (hkv < 1 || hq % hkv || k->shape[1] != n || k->shape[2] != d || d % 2 || d > 256 ||
        out->numel != (size_t)(hq * (d / 2)))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "rope_energy: q [%lld, %lld, %lld] and k [%lld, %lld, %lld] do not match (Hq a multiple of "
                          "Hkv, D even and <= 256), out [Hq, D/2]",
                          (long long)hq, (long long)n, (long long)d, (long long)hkv, (long long)k->shape[1],
                          (long long)k->shape[2]);
    bool interleaved = layout == TAPPA_ROPE_INTERLEAVED;
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *qv = NULL, *kv = NULL, *ov = malloc((size_t)(hq * (d / 2)) * sizeof *ov);
        tappa_status st = ov ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "rope_energy: out of host memory");
        if (!st) st = op_to_double(q, &qv, err);
        if (!st) st = op_to_double(k, &kv, err);
        if (!st) {
            tappa_ref_rope_energy(qv, kv, (size_t)hq, (size_t)hkv, (size_t)n, (size_t)d, interleaved, ov);
            op_from_double(out, ov, err);
        }
        free(qv);
        free(kv);
        free(ov);
        return st;
    }
    energy_args args = { q, k, interleaved, out };
    return op_submit(ctx->vk, record, &args, err);
}
