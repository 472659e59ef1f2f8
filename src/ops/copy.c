/* copy: dst = src. The bandwidth yardstick of tappa-bench. */
#include <string.h>

#include "ops_internal.h"

tappa_status copy_record(const tappa_tensor *src, tappa_tensor *dst, uint32_t unroll,
                         tappa_error *err)
{
    tvk_device *dev = src->ctx->vk;
    uint32_t spec[2] = { op_workgroup_size(dev), unroll };
    tvk_pipeline *vec4, *words;
    tappa_status st = tvk_pipeline_get(dev, SHADER(copy), 2, spec, 2, &vec4, err);
    if (!st) st = tvk_pipeline_get(dev, SHADER(copy_words), 2, spec, 2, &words, err);
    for (size_t i = 0; i < src->n_segments && !st; i++) {
        tvk_binding b[2] = { tensor_binding(src, i), tensor_binding(dst, i) };
        uint32_t n_words = (uint32_t)(b[0].range / 4);
        /* Bulk as 16-byte elements, then the last < 4 words one by one. */
        uint32_t push[2] = { n_words / 4, 0 };
        uint32_t gx, gy;
        uint64_t per_group = (uint64_t)spec[0] * unroll;
        if (push[0]) {
            tvk_grid(dev, (push[0] + per_group - 1) / per_group, &gx, &gy);
            st = tvk_dispatch(dev, vec4, b, push, sizeof push, gx, gy, 1, err);
        }
        uint32_t tail[2] = { n_words % 4, n_words - n_words % 4 };
        if (!st && tail[0]) st = tvk_dispatch(dev, words, b, tail, sizeof tail, 1, 1, 1, err);
    }
    return st;
}

static tappa_status record_args(void *args, tappa_error *err)
{
    const tappa_tensor **t = args;
    return copy_record(t[0], (tappa_tensor *)t[1], COPY_UNROLL, err);
}

tappa_status tappa_copy(const tappa_tensor *src, tappa_tensor *dst, tappa_error *err)
{
    tappa_status st = tensor_check_same(src, dst, "copy", err);
    if (st) return st;
    if (src->dtype == TAPPA_F16)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "copy: f32 or i32 tensors only");
    if (src->ctx->backend == TAPPA_BACKEND_CPU) {
        memcpy(dst->host, src->host, src->bytes);
        return TAPPA_OK;
    }
    /* Same shape and dtype: both are split into identical segments. */
    const tappa_tensor *args[2] = { src, dst };
    return op_submit(src->ctx->vk, record_args, args, err);
}
