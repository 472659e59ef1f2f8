/* block_influence: ShortGPT's 1 - cos between the hidden states entering and
 * leaving a layer, per token (the layer-pruning signal TAPPA combines with
 * q-similarity). */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_block_influence(const double *a, const double *b, size_t n, size_t dm, double *out)
{
    for (size_t t = 0; t < n; t++) {
        const double *x = a + t * dm, *y = b + t * dm; /* (dm) each */
        double dot = 0, xx = 0, yy = 0;
        for (size_t i = 0; i < dm; i++) {
            dot += x[i] * y[i];
            xx += x[i] * x[i];
            yy += y[i] * y[i];
        }
        double cosine = dot / (sqrt(xx) * sqrt(yy));
        out[t] = 1.0 - (isnan(cosine) ? 0.5 : cosine);
    }
}

typedef struct bi_args {
    const tappa_tensor *h_in, *h_out;
    tappa_tensor *out;
} bi_args;

tappa_status block_influence_record(const tappa_tensor *h_in, const tappa_tensor *h_out,
                                    tappa_tensor *out, tappa_error *err)
{
    tvk_device *dev = h_in->ctx->vk;
    uint32_t wg = op_workgroup_size(dev), dm = (uint32_t)h_in->shape[1];
    tappa_status st = op_check_loops(dev, 2ull * ((dm + wg - 1) / wg) + 32, "block_influence", err);
    tvk_pipeline *p;
    if (!st)
        st = h_in->dtype == TAPPA_F16 ? tvk_pipeline_get(dev, SHADER(block_influence_f16), 3, &wg, 1, &p, err)
                                      : tvk_pipeline_get(dev, SHADER(block_influence_f32), 3, &wg, 1, &p, err);
    /* Segments hold whole rows; both inputs have the same shape and dtype, so
     * the rows of one segment of h_in lie in one segment of h_out too. */
    for (size_t i = 0; i < h_in->n_segments && !st; i++) {
        const tensor_segment *s = &h_in->segments[i];
        size_t row0 = s->first / dm, rows = s->count / dm, bs, bo, os, oo;
        st = op_locate(h_out, s->first, s->count, &bs, &bo, err);
        if (!st) st = op_locate(out, row0, rows, &os, &oo, err);
        if (st) break;
        tvk_binding b[3] = { tensor_binding(h_in, i), tensor_binding(h_out, bs), tensor_binding(out, os) };
        uint32_t push[5] = { (uint32_t)rows, dm, 0, (uint32_t)bo, (uint32_t)oo };
        uint32_t gx, gy;
        tvk_grid(dev, rows, &gx, &gy);
        st = tvk_dispatch(dev, p, b, push, sizeof push, gx, gy, 1, err);
    }
    return st;
}

static tappa_status record(void *p, tappa_error *err)
{
    bi_args *a = p;
    return block_influence_record(a->h_in, a->h_out, a->out, err);
}

tappa_status tappa_block_influence(const tappa_tensor *h_in, const tappa_tensor *h_out,
                                   tappa_tensor *out, tappa_error *err)
{
    tappa_context *ctx = h_in->ctx;
    if (h_out->ctx != ctx || out->ctx != ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "block_influence: tensors belong to different contexts");
    if (h_in->ndim != 2 || h_in->dtype == TAPPA_I32 || h_out->ndim != 2 || h_out->dtype != h_in->dtype ||
        h_out->shape[0] != h_in->shape[0] || h_out->shape[1] != h_in->shape[1])
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "block_influence: h_in and h_out must be [N, d_model] of one shape and dtype (f32 or f16)");
    if (h_in->shape[1] < 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "block_influence: d_model must be at least 1");
    if (out->dtype != TAPPA_F32 || out->ndim != 1 || out->numel != (size_t)h_in->shape[0])
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "block_influence: out must be [N] f32");
    if (h_in->numel > UINT32_MAX)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "block_influence: more than 2^32 elements");
    size_t n = (size_t)h_in->shape[0], dm = (size_t)h_in->shape[1];
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *a = NULL, *b = NULL, *o = malloc((n + 1) * sizeof *o);
        tappa_status st = o ? op_to_double(h_in, &a, err)
                            : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "block_influence: out of host memory");
        if (!st) st = op_to_double(h_out, &b, err);
        if (!st) {
            tappa_ref_block_influence(a, b, n, dm, o);
            st = op_from_double(out, o, err);
        }
        free(a);
        free(b);
        free(o);
        return st;
    }
    if (n == 0) return TAPPA_OK;
    if (h_in->dtype == TAPPA_F16 && !ctx->vk->info.storage_16bit)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "block_influence: %s lacks 16-bit storage for f16",
                          ctx->name);
    bi_args args = { h_in, h_out, out };
    return op_submit(ctx->vk, record, &args, err);
}
