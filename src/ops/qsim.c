/* qsim: TAPPA's query self-similarity of each head (SPEC.md). */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_qsim(const double *q, double *out, size_t heads, size_t t, size_t d,
                    tappa_qsim_mode mode, double sigma)
{
    if (mode >= TAPPA_QSIM_EUCLIDEAN) {
        qsim_pairwise_reference(q, out, heads, t, d, mode, sigma);
        return;
    }
    double *s = malloc((d ? d : 1) * sizeof *s); /* (d) sum of unit (or raw) queries */
    for (size_t h = 0; h < heads; h++) {
        if (t < 2 || !s) {
            out[h] = 0;
            continue;
        }
        for (size_t k = 0; k < d; k++) s[k] = 0;
        double unit_sq = 0;
        for (size_t i = 0; i < t; i++) {
            const double *qi = q + (h * t + i) * d; /* (d) */
            double mean = 0, sq = 0;
            if (mode == TAPPA_QSIM_PEARSON) {
                for (size_t k = 0; k < d; k++) mean += qi[k];
                mean /= (double)d;
            }
            for (size_t k = 0; k < d; k++) sq += (qi[k] - mean) * (qi[k] - mean);
            double norm = sqrt(sq);
            double inv = mode == TAPPA_QSIM_DOT ? 1.0 : 1.0 / (norm > 1e-8 ? norm : 1e-8);
            for (size_t k = 0; k < d; k++) s[k] += (qi[k] - mean) * inv;
            unit_sq += sq * inv * inv;
        }
        double s_sq = 0;
        for (size_t k = 0; k < d; k++) s_sq += s[k] * s[k];
        out[h] = (s_sq - unit_sq) / ((double)t * (double)(t - 1));
        if (mode == TAPPA_QSIM_PEARSON) out[h] /= (double)d; /* as the reference */
    }
    free(s);
}

tappa_status qsim_record(const tappa_tensor *q, tappa_tensor *out, tappa_qsim_mode mode,
                         tappa_error *err)
{
    tvk_device *dev = q->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    uint32_t t = (uint32_t)q->shape[1], d = (uint32_t)q->shape[2];
    /* qsim.comp stages tiles of 2048 floats and gives an invocation at most 8 dims. */
    uint32_t most = 8 * wg < 2048 ? 8 * wg : 2048;
    if (d > most)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "qsim: head dim %u above %u on %s", d, most,
                          q->ctx->name);
    size_t head_elems = (size_t)t * d;
    if (head_elems && q->unit % head_elems)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "qsim: one head (%u x %u) exceeds one binding on %s",
                          t, d, q->ctx->name);
    /* Per tile of R rows: the staging loop, two row-sum loops, the accumulation loop. */
    uint64_t rows = 2048 / d < wg ? 2048 / d : wg;
    uint64_t per_tile = (rows * d + wg - 1) / wg + 2 * (d / (wg / rows) + 1 + wg / rows) + 8 * rows;
    tappa_status st = op_check_loops(dev, ((uint64_t)t + rows - 1) / rows * per_tile + 64, "qsim", err);
    if (st) return st;
    tvk_pipeline *p;
    st = q->dtype == TAPPA_F16
                          ? tvk_pipeline_get(dev, SHADER(qsim_f16), 2, &wg, 1, &p, err)
                          : tvk_pipeline_get(dev, SHADER(qsim_f32), 2, &wg, 1, &p, err);
    for (size_t i = 0; i < q->n_segments && !st; i++) {
        tvk_binding b[2] = { tensor_binding(q, i), tensor_binding(out, 0) };
        uint32_t heads = head_elems ? (uint32_t)(q->segments[i].count / head_elems) : (uint32_t)q->shape[0];
        uint32_t push[5] = {
            heads,
            head_elems ? (uint32_t)(q->segments[i].first / head_elems) : 0,
            t,
            d,
            mode == TAPPA_QSIM_DOT ? 0u : mode == TAPPA_QSIM_COSINE ? 1u : 2u,
        };
        uint32_t gx, gy;
        tvk_grid(dev, heads, &gx, &gy);
        st = tvk_dispatch(dev, p, b, push, sizeof push, gx, gy, 1, err);
    }
    return st;
}

typedef struct qsim_args {
    const tappa_tensor *q;
    tappa_tensor *out;
    tappa_qsim_mode mode;
} qsim_args;

static tappa_status record_args(void *args, tappa_error *err)
{
    qsim_args *a = args;
    return qsim_record(a->q, a->out, a->mode, err);
}

static tappa_status qsim_run(const tappa_tensor *q, tappa_tensor *out, tappa_qsim_mode mode,
                             double sigma, tappa_error *err);

tappa_status tappa_qsim(const tappa_tensor *q, tappa_tensor *out, tappa_qsim_mode mode,
                        tappa_error *err)
{
    return qsim_run(q, out, mode, 1.0, err);
}

tappa_status tappa_qsim_rbf(const tappa_tensor *q, tappa_tensor *out, double sigma,
                            tappa_error *err)
{
    if (!(sigma > 0) || !isfinite(sigma))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "qsim: rbf sigma must be > 0, got %g", sigma);
    return qsim_run(q, out, TAPPA_QSIM_RBF, sigma, err);
}

static tappa_status qsim_run(const tappa_tensor *q, tappa_tensor *out, tappa_qsim_mode mode,
                             double sigma, tappa_error *err)
{
    if (q->ctx != out->ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "qsim: tensors belong to different contexts");
    if (q->ndim != 3 || q->dtype == TAPPA_I32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "qsim: q must be [H, T, D] f32 or f16");
    if (q->shape[2] < 1) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "qsim: head dim must be at least 1");
    if (out->dtype != TAPPA_F32 || out->numel != (size_t)q->shape[0])
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "qsim: out must be [H] f32");
    if ((int)mode < 0 || mode > TAPPA_QSIM_KL)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "qsim: unknown mode %d", (int)mode);
    if (q->numel > UINT32_MAX)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "qsim: more than 2^32 elements");
    if (q->ctx->backend == TAPPA_BACKEND_CPU) {
        double *v, *r = malloc((size_t)(q->shape[0] + 1) * sizeof *r);
        tappa_status st = op_to_double(q, &v, err);
        if (st || !r) {
            free(r);
            if (!st) free(v);
            return st ? st : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "qsim: out of host memory");
        }
        tappa_ref_qsim(v, r, (size_t)q->shape[0], (size_t)q->shape[1], (size_t)q->shape[2], mode, sigma);
        st = op_from_double(out, r, err);
        free(v);
        free(r);
        return st;
    }
    if (q->dtype == TAPPA_F16 && !q->ctx->vk->info.storage_16bit)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "qsim: %s lacks 16-bit storage for f16",
                          q->ctx->name);
    if (mode >= TAPPA_QSIM_EUCLIDEAN) return qsim_pairwise_run(q, out, mode, sigma, err);
    qsim_args args = { q, out, mode };
    return op_submit(q->ctx->vk, record_args, &args, err);
}
