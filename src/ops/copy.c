/* copy: dst = src. The bandwidth yardstick of tappa-bench. */
#include <string.h>

#include "ops_internal.h"

tappa_status copy_record(const tappa_tensor *src, tappa_tensor *dst, tappa_error *err)
{
    tvk_device *dev = src->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    tvk_pipeline *p;
    tappa_status st = tvk_pipeline_get(dev, SHADER(copy), 2, &wg, 1, &p, err);
    for (size_t i = 0; i < src->n_segments && !st; i++) {
        tvk_binding b[2] = { tensor_binding(src, i), tensor_binding(dst, i) };
        uint32_t words = (uint32_t)(b[0].range / 4);
        uint32_t gx, gy;
        tvk_grid(dev, ((uint64_t)words + 4ull * wg - 1) / (4ull * wg), &gx, &gy);
        st = tvk_dispatch(dev, p, b, &words, sizeof words, gx, gy, 1, err);
    }
    return st;
}

static tappa_status record_args(void *args, tappa_error *err)
{
    const tappa_tensor **t = args;
    return copy_record(t[0], (tappa_tensor *)t[1], err);
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
