/* topk: per-KV-head top-k positions for KV compression (SPEC.md step 5). */
#include <stdlib.h>

#include "ops_internal.h"

/* Order: higher score first, then lower position. */
typedef struct ranked {
    double score;
    int32_t pos;
} ranked;

static int by_rank(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

static int by_pos(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

void tappa_ref_topk_positions(const double *scores, size_t rows, size_t m, size_t k, int32_t *keep)
{
    ranked *r = malloc((m ? m : 1) * sizeof *r);
    if (!r) return;
    for (size_t h = 0; h < rows; h++) {
        for (size_t j = 0; j < m; j++) r[j] = (ranked){ scores[h * m + j], (int32_t)j };
        qsort(r, m, sizeof *r, by_rank);
        for (size_t i = 0; i < k; i++) keep[h * k + i] = r[i].pos;
        qsort(keep + h * k, k, sizeof *keep, by_pos);
    }
    free(r);
}

typedef struct topk_args {
    const tappa_tensor *scores;
    int64_t k;
    tappa_tensor *keep;
} topk_args;

tappa_status topk_record(const tappa_tensor *scores, int64_t k, tappa_tensor *keep, tappa_error *err)
{
    tvk_device *dev = scores->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    uint32_t rows = (uint32_t)scores->shape[0], m = (uint32_t)scores->shape[1];
    /* The longest loop: the output pass, a tile of wg positions with two
     * log2(wg)-step scans. */
    tappa_status st = op_check_loops(dev, ((uint64_t)m + wg - 1) / wg * 20 + 512, "topk", err);
    tvk_pipeline *p;
    if (!st) st = tvk_pipeline_get(dev, SHADER(topk), 2, &wg, 1, &p, err);
    for (uint32_t h = 0; h < rows && !st; h++) {
        size_t ss, so, ks, ko;
        st = op_locate(scores, (size_t)h * m, m, &ss, &so, err);
        if (!st) st = op_locate(keep, (size_t)h * (size_t)k, (size_t)k, &ks, &ko, err);
        if (st) break;
        tvk_binding b[2] = { tensor_binding(scores, ss), tensor_binding(keep, ks) };
        uint32_t push[4] = { m, (uint32_t)k, (uint32_t)so, (uint32_t)ko };
        st = tvk_dispatch(dev, p, b, push, sizeof push, 1, 1, 1, err);
    }
    return st;
}

static tappa_status record(void *p, tappa_error *err)
{
    topk_args *a = p;
    return topk_record(a->scores, a->k, a->keep, err);
}

tappa_status tappa_topk_positions(const tappa_tensor *scores, int64_t k, tappa_tensor *keep,
                                  tappa_error *err)
{
    tappa_context *ctx = scores->ctx;
    if (keep->ctx != ctx || scores->dtype != TAPPA_F32 || scores->ndim != 2 ||
        keep->dtype != TAPPA_I32 || keep->ndim != 2)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "topk: scores [Hkv, M] f32 and keep [Hkv, k] i32");
    int64_t rows = scores->shape[0], m = scores->shape[1];
    if (k < 1 || k > m || keep->shape[0] != rows || keep->shape[1] != k)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "topk: keep must be [%lld, k] with 1 <= k (%lld) <= M (%lld)",
                          (long long)rows, (long long)k, (long long)m);
    if (scores->numel > UINT32_MAX)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "topk: more than 2^32 scores");
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *sv = NULL;
        tappa_status st = op_to_double(scores, &sv, err);
        if (st) return st;
        tappa_ref_topk_positions(sv, (size_t)rows, (size_t)m, (size_t)k, keep->host);
        free(sv);
        return TAPPA_OK;
    }
    topk_args args = { scores, k, keep };
    return op_submit(ctx->vk, record, &args, err);
}
