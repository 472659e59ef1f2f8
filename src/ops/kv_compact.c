/* kv_compact: kept rows and the window of each head of K or V into the
 * per-layer cache layout, positional order (SPEC.md step 5). */
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

typedef struct compact_args {
    const tappa_tensor *src, *keep;
    int64_t window;
    tappa_tensor *dst;
} compact_args;

tappa_status kv_compact_record(const tappa_tensor *src, const tappa_tensor *keep, int64_t window,
                               tappa_tensor *dst, tappa_error *err)
{
    tvk_device *dev = src->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    uint32_t heads = (uint32_t)src->shape[0], n = (uint32_t)src->shape[1];
    uint32_t b = keep ? (uint32_t)keep->shape[1] : 0, rows = b + (uint32_t)window;
    uint32_t words = (uint32_t)(src->shape[2] * (int64_t)tappa_dtype_bytes(src->dtype) / 4);
    tvk_pipeline *p;
    tappa_status st = tvk_pipeline_get(dev, SHADER(kv_compact), 3, &wg, 1, &p, err);
    for (uint32_t h = 0; h < heads && !st; h++) {
        size_t ks = 0, ko = 0;
        if (keep) st = op_locate(keep, (size_t)h * b, b, &ks, &ko, err);
        if (st) break;
        op_piece sp[OP_MAX_PIECES], dp[OP_MAX_PIECES];
        size_t ns = op_head_pieces(src, h, n, sp, OP_MAX_PIECES);
        size_t nd = op_head_pieces(dst, h, rows, dp, OP_MAX_PIECES);
        size_t word_elems = 4 / tappa_dtype_bytes(src->dtype); /* elements per 32-bit word */
        for (size_t i = 0; i < nd && !st; i++)
            for (size_t j = 0; j < ns && !st; j++) {
                /* keep stands in for itself when absent: a valid binding never read. */
                tvk_binding bind[3] = { tensor_binding(src, sp[j].seg),
                                        keep ? tensor_binding(keep, ks) : tensor_binding(src, sp[j].seg),
                                        tensor_binding(dst, dp[i].seg) };
                uint32_t push[11] = { words, b, n, (uint32_t)window, (uint32_t)ko,
                                      (uint32_t)(sp[j].offset / word_elems), sp[j].row,
                                      sp[j].row + sp[j].rows, (uint32_t)(dp[i].offset / word_elems),
                                      dp[i].row, dp[i].row + dp[i].rows };
                uint32_t gx, gy;
                tvk_grid(dev, ((uint64_t)dp[i].rows * words + wg - 1) / wg, &gx, &gy);
                st = tvk_dispatch(dev, p, bind, push, sizeof push, gx, gy, 1, err);
            }
    }
    return st;
}

static tappa_status record(void *p, tappa_error *err)
{
    compact_args *a = p;
    return kv_compact_record(a->src, a->keep, a->window, a->dst, err);
}

tappa_status tappa_kv_compact(const tappa_tensor *src, const tappa_tensor *keep, int64_t window,
                              tappa_tensor *dst, tappa_error *err)
{
    tappa_context *ctx = src->ctx;
    if (dst->ctx != ctx || (keep && keep->ctx != ctx))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "kv_compact: tensors belong to different contexts");
    if (src->ndim != 3 || dst->ndim != 3 || src->dtype == TAPPA_I32 || dst->dtype != src->dtype ||
        dst->shape[0] != src->shape[0] || dst->shape[2] != src->shape[2])
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "kv_compact: src [H, N, D] and dst [H, capacity, D] of one float dtype");
    int64_t heads = src->shape[0], n = src->shape[1], d = src->shape[2];
    int64_t b = keep ? keep->shape[1] : 0;
    if (keep && (keep->dtype != TAPPA_I32 || keep->ndim != 2 || keep->shape[0] != heads))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "kv_compact: keep must be [%lld, b] i32",
                          (long long)heads);
    if (window < 0 || window > n || b > n - window)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "kv_compact: need 0 <= window (%lld) and b (%lld) + window <= N (%lld)",
                          (long long)window, (long long)b, (long long)n);
    if (b + window > dst->shape[1])
        return tappa_fail(err, TAPPA_ERR_LIMIT, "kv_compact: %lld rows do not fit a capacity of %lld",
                          (long long)(b + window), (long long)dst->shape[1]);
    if ((d * (int64_t)tappa_dtype_bytes(src->dtype)) % 4)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "kv_compact: rows of %lld %s elements are not whole 32-bit words",
                          (long long)d, tappa_dtype_name(src->dtype));
    /* Positions are checked here, on the host: a wrong one would read another head's rows. */
    int32_t *kv = NULL;
    if (keep) {
        kv = malloc(keep->numel * sizeof *kv + 1);
        if (!kv) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "kv_compact: out of host memory");
        tappa_status st = tappa_tensor_download(keep, kv, keep->numel * sizeof *kv, err);
        for (size_t i = 0; !st && i < keep->numel; i++)
            if (kv[i] < 0 || kv[i] >= n - window)
                st = tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                                "kv_compact: kept position %d outside the prompt's %lld non-window positions",
                                kv[i], (long long)(n - window));
        if (st) {
            free(kv);
            return st;
        }
    }
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        size_t row = (size_t)d * tappa_dtype_bytes(src->dtype), cap = (size_t)dst->shape[1];
        const char *s = src->host;
        char *o = dst->host;
        for (size_t h = 0; h < (size_t)heads; h++)
            for (size_t i = 0; i < (size_t)(b + window); i++) {
                size_t r = i < (size_t)b ? (size_t)kv[h * (size_t)b + i] : (size_t)(n - window) + i - (size_t)b;
                memcpy(o + (h * cap + i) * row, s + (h * (size_t)n + r) * row, row);
            }
        free(kv);
        return TAPPA_OK;
    }
    free(kv);
    compact_args args = { src, keep, window, dst };
    return op_submit(ctx->vk, record, &args, err);
}
