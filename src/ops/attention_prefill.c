/* attention_prefill: many queries per head, K/V tiles through shared memory. */
#include <math.h>

#include "ops_internal.h"

#define PREFILL_WG 128  /* 16 invocations per row group */
#ifndef PREFILL_CM_WG
#define PREFILL_CM_WG 128 /* tensor-core path: 4 subgroups of 32 (-D to try others) */
#endif

/* Rows per workgroup (BR), rows per invocation (RT) and keys per tile (BC). */
typedef struct prefill_config {
    uint32_t br, rt, bc;
} prefill_config;

/* Shared memory of one workgroup (attention_prefill.comp). */
static uint64_t shared_bytes(uint32_t d, uint32_t br, uint32_t bc)
{
    return 4ull * (br * d + bc * (d + 1) + br * bc);
}

/* The most rows per invocation whose tiles fit shared memory: 4 rows (32 per
 * workgroup) or 2 (16) cut the shared-memory reads per multiply-add by 4 or
 * 2; the 16 KiB minimum gets 8 rows, one per invocation. Then the widest key
 * tile that fits: fewer barriers per key. */
static prefill_config choose(const tappa_device_info *info, uint32_t d)
{
    static const prefill_config configs[] = { { 32, 4, 32 }, { 16, 2, 32 }, { 8, 1, 16 } };
    prefill_config c = configs[2];
    for (size_t i = 0; i < 3; i++)
        if (shared_bytes(d, configs[i].br, configs[i].bc) <= info->max_shared_memory_bytes) {
            c = configs[i];
            break;
        }
    while (c.bc < 64 && shared_bytes(d, c.br, 2 * c.bc) <= info->max_shared_memory_bytes) c.bc *= 2;
    return c;
}

/* Keys one pass may take so that no invocation runs more loop iterations than
 * the driver allows (the loops of attention_prefill.comp per key tile), with
 * half the limit kept as margin. No limit: every key in one pass. */
static uint32_t keys_per_pass(const tappa_device_info *info, uint32_t nk, uint32_t d,
                              prefill_config c)
{
    if (!info->loop_iteration_limit) return nk;
    uint32_t per_tile = 2 * c.bc * d / PREFILL_WG + d + (c.rt + 1) * c.bc + 8;
    uint32_t budget = info->loop_iteration_limit / 2 - c.br * d / PREFILL_WG;
    uint32_t tiles = budget / per_tile;
    return tiles > 1 ? tiles * c.bc : c.bc;
}

tappa_status attention_prefill_prepare(tappa_context *ctx, const tappa_tensor *q,
                                       const tappa_tensor *k, tappa_error *err)
{
    const tappa_device_info *info = &ctx->vk->info;
    uint32_t d = (uint32_t)q->shape[2], nk = (uint32_t)k->shape[1];
    if (ctx->vk->coopmat && k->dtype == TAPPA_F16) {
        tappa_status st = coopmat_layout_probe(ctx->vk, err);
        if (st) return st;
    }
    if (keys_per_pass(info, nk, d, choose(info, d)) >= nk) return TAPPA_OK;
    int64_t elems = q->shape[0] * q->shape[1] * 2;
    if (ctx->prefill_ml && ctx->prefill_ml->numel >= (size_t)elems) return TAPPA_OK;
    tappa_tensor_destroy(&ctx->prefill_ml);
    return tappa_tensor_create(ctx, TAPPA_F32, 1, &elems, &ctx->prefill_ml, err);
}

typedef struct pass {
    uint32_t k_begin, k_end;
    bool first, last;
} pass;

/* One pass over keys [k_begin, k_end) for every query head. */
static tappa_status record_pass(tvk_device *dev, const tvk_pipeline *p, prefill_config cfg,
                                const tappa_tensor *q, const tappa_tensor *k,
                                const tappa_tensor *v, bool causal, tappa_tensor *out,
                                tappa_tensor *lse, const tappa_tensor *ml, pass ps,
                                tappa_error *err)
{
    uint32_t hq = (uint32_t)q->shape[0], nq = (uint32_t)q->shape[1], d = (uint32_t)q->shape[2];
    uint32_t hkv = (uint32_t)k->shape[0], nk = (uint32_t)k->shape[1];
    size_t q_head = (size_t)nq * d, kv_head = (size_t)nk * d;
    tappa_status st = TAPPA_OK;
    for (uint32_t h = 0; h < hq && !st; h++) {
        uint32_t kvh = h / (hq / hkv);
        size_t qs, qo, ks, ko, vs, vo, os, oo, ls, lo, ms, mo;
        st = op_locate(q, h * q_head, q_head, &qs, &qo, err);
        if (!st) st = op_locate(k, kvh * kv_head, kv_head, &ks, &ko, err);
        if (!st) st = op_locate(v, kvh * kv_head, kv_head, &vs, &vo, err);
        if (!st) st = op_locate(out, h * q_head, q_head, &os, &oo, err);
        if (!st) st = op_locate(lse, (size_t)h * nq, nq, &ls, &lo, err);
        if (!st) st = op_locate(ml, ml == lse ? 0 : (size_t)h * nq * 2, ml == lse ? 1 : 2 * nq, &ms, &mo, err);
        if (st) break;
        tvk_binding b[6] = { tensor_binding(q, qs), tensor_binding(k, ks), tensor_binding(v, vs),
                             tensor_binding(out, os), tensor_binding(lse, ls), tensor_binding(ml, ms) };
        struct {
            uint32_t q_base, k_base, v_base, o_base, lse_base, nq, nk, causal;
            float scale;
            uint32_t k_begin, k_end, first, last, ml_base;
        } push = { (uint32_t)qo, (uint32_t)ko, (uint32_t)vo, (uint32_t)oo, (uint32_t)lo, nq, nk,
                   causal, (float)(1.0 / sqrt((double)d)), ps.k_begin, ps.k_end, ps.first,
                   ps.last, (uint32_t)mo };
        uint32_t gx, gy;
        tvk_grid(dev, (nq + cfg.br - 1) / cfg.br, &gx, &gy);
        st = tvk_dispatch(dev, p, b, &push, sizeof push, gx, gy, 1, err);
    }
    return st;
}

/* Shared memory of attention_prefill_coopmat.comp: K and V tiles of bc
 * padded rows and the tile of element numbers. */
static uint64_t coopmat_shared(uint32_t d, uint32_t bc)
{
    return 2ull * bc * (d + 8) * 2 + 256 * 4;
}

/* Keys per tile of the tensor-core path: 64 where they fit shared memory
 * (half the barriers per key), else 32. */
static uint32_t coopmat_keys(const tappa_device_info *info, uint32_t d)
{
    return coopmat_shared(d, 64) <= info->max_shared_memory_bytes ? 64 : 32;
}

/* Row tiles per subgroup: two for head dims up to 128 (each K and V tile
 * loaded from shared memory then serves two products: 16K causal prefill on
 * the H200 went from 147 to 173 TFLOP/s, though the driver spills a few of
 * the 255 registers), else one: two would need 256 accumulator registers
 * a lane at head dim 256. */
static uint32_t coopmat_row_tiles(uint32_t d)
{
    return d <= 128 ? 2 : 1;
}

/* Whether the tensor-core path takes this prefill: a device that runs the
 * tensor-core attention kernels on f16 K/V (coopmat_attention_usable; the
 * layout probed by attention_prefill_prepare), head dims that are multiples
 * of 16, and 16-byte aligned rows. */
static bool use_coopmat(const tvk_device *dev, const tappa_tensor *q, const tappa_tensor *k,
                        const tappa_tensor *v, const tappa_tensor *out)
{
    uint32_t d = (uint32_t)q->shape[2];
    return coopmat_attention_usable(dev, k->dtype) && d % 16 == 0 && d <= 256 &&
           coopmat_shared(d, 32) <= dev->info.max_shared_memory_bytes && op_aligned_rows(q) && op_aligned_rows(k) &&
           op_aligned_rows(v) && op_aligned_rows(out);
}

/* The tensor-core path: one dispatch over every head and row block where
 * each tensor is one binding, else one dispatch per query head. */
static tappa_status record_coopmat(tvk_device *dev, const tappa_tensor *q, const tappa_tensor *k,
                                   const tappa_tensor *v, bool causal, tappa_tensor *out, tappa_tensor *lse,
                                   tappa_error *err)
{
    uint32_t hq = (uint32_t)q->shape[0], nq = (uint32_t)q->shape[1], d = (uint32_t)q->shape[2];
    uint32_t hkv = (uint32_t)k->shape[0], nk = (uint32_t)k->shape[1];
    uint32_t wg = PREFILL_CM_WG;
    const coopmat_layout *cl = &dev->coopmat_layout;
    uint32_t rt = coopmat_row_tiles(d);
    uint32_t spec[7] = { wg, d, coopmat_keys(&dev->info, d), cl->row_lanes, cl->slots, cl->cols, rt };
    tvk_pipeline *p;
    tappa_status st = tvk_pipeline_get(dev, SHADER(attention_prefill_coopmat), 5, spec, 7, &p, err);
    bool whole = tappa_tensor_segments(q) == 1 && tappa_tensor_segments(k) == 1 && tappa_tensor_segments(v) == 1 &&
                 tappa_tensor_segments(out) == 1 && tappa_tensor_segments(lse) == 1;
    uint32_t rows = wg / 32 * 16 * rt; /* 16 rows per row tile, rt tiles per subgroup of 32 */
    uint32_t blocks = (nq + rows - 1) / rows;
    size_t q_head = (size_t)nq * d, kv_head = (size_t)nk * d;
    for (uint32_t h = 0; h < (whole ? 1 : hq) && !st; h++) {
        uint32_t heads = whole ? hq : 1;
        size_t qs, qo, ks, ko, vs, vo, os, oo, ls, lo;
        st = op_locate(q, h * q_head, heads * q_head, &qs, &qo, err);
        if (!st) st = op_locate(k, h / (hq / hkv) * kv_head, (whole ? hkv : 1) * kv_head, &ks, &ko, err);
        if (!st) st = op_locate(v, h / (hq / hkv) * kv_head, (whole ? hkv : 1) * kv_head, &vs, &vo, err);
        if (!st) st = op_locate(out, h * q_head, heads * q_head, &os, &oo, err);
        if (!st) st = op_locate(lse, (size_t)h * nq, (size_t)heads * nq, &ls, &lo, err);
        if (st) break;
        tvk_binding b[5] = { tensor_binding(q, qs), tensor_binding(k, ks), tensor_binding(v, vs),
                             tensor_binding(out, os), tensor_binding(lse, ls) };
        struct {
            uint32_t q_base, k_base, v_base, o_base, lse_base, nq, nk, causal;
            float scale;
            uint32_t blocks, group, heads;
        } push = { (uint32_t)qo, (uint32_t)ko, (uint32_t)vo, (uint32_t)oo, (uint32_t)lo, nq, nk, causal,
                   (float)(1.0 / sqrt((double)d)), blocks, whole ? hq / hkv : 1, heads };
        uint32_t gx, gy;
        tvk_grid(dev, (uint64_t)blocks * heads, &gx, &gy);
        st = tvk_dispatch(dev, p, b, &push, sizeof push, gx, gy, 1, err);
        dev->coopmat_dispatches++;
    }
    return st;
}

tappa_status attention_prefill_record(const tappa_tensor *q, const tappa_tensor *k,
                                      const tappa_tensor *v, bool causal, tappa_tensor *out,
                                      tappa_tensor *lse, tappa_error *err)
{
    tvk_device *dev = q->ctx->vk;
    if (use_coopmat(dev, q, k, v, out)) return record_coopmat(dev, q, k, v, causal, out, lse, err);
    uint32_t d = (uint32_t)q->shape[2], nk = (uint32_t)k->shape[1];
    prefill_config cfg = choose(&dev->info, d);
    if (shared_bytes(d, cfg.br, cfg.bc) > dev->info.max_shared_memory_bytes)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "attention: head dim %u needs %llu bytes of shared memory, %s has %u", d,
                          (unsigned long long)shared_bytes(d, cfg.br, cfg.bc), q->ctx->name,
                          dev->info.max_shared_memory_bytes);
    uint32_t spec[5] = { PREFILL_WG, d, cfg.br, cfg.bc, cfg.rt };
    tvk_pipeline *p;
    tappa_status st = k->dtype == TAPPA_F16
                          ? tvk_pipeline_get(dev, SHADER(attention_prefill_f16), 6, spec, 5, &p, err)
                          : tvk_pipeline_get(dev, SHADER(attention_prefill_f32), 6, spec, 5, &p, err);
    uint32_t per_pass = keys_per_pass(&dev->info, nk, d, cfg);
    /* One pass needs no carried state: lse stands in for the unused binding. */
    const tappa_tensor *ml = per_pass < nk ? q->ctx->prefill_ml : lse;
    for (uint32_t k_begin = 0; k_begin < nk && !st; k_begin += per_pass) {
        if (k_begin) tvk_barrier(dev); /* the next pass reads o and ml */
        pass ps = { k_begin, nk - k_begin > per_pass ? k_begin + per_pass : nk, k_begin == 0,
                    nk - k_begin <= per_pass };
        st = record_pass(dev, p, cfg, q, k, v, causal, out, lse, ml, ps, err);
    }
    return st;
}
