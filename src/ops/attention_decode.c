/* attention_decode: one query per head against a long context, split-K. Pass 1
 * (attention_decode.comp) spreads the keys of every KV head over many
 * workgroups, each writing partial softmax states; pass 2
 * (attention_reduce.comp) merges them per query head. */
#include <math.h>

#include "ops_internal.h"

#define DECODE_WG 128
#define DECODE_GROUPS (DECODE_WG / 16)   /* NG: key groups per workgroup */
#ifndef DECODE_UNROLL
#define DECODE_UNROLL 4                  /* U: keys per group per loop iteration */
#endif
#define DECODE_TARGET_WGS 512            /* enough workgroups to fill a large GPU */
/* Short contexts: fewer, fuller workgroups beat many near-empty ones (H100,
 * 4K context: 23.6 us with 128-key chunks, 28.4 us with 64). */
#define DECODE_MIN_CHUNK 128
#define DECODE_MAX_PARTS 2048            /* partial weights held in attention_reduce.comp */


/* Partials per query head for chunks of c keys: the most any KV head needs. */
static uint32_t count_parts(const tappa_tensor *k, int64_t n, uint32_t c, bool *ragged)
{
    uint32_t parts = 0;
    *ragged = false;
    for (uint32_t h = 0; h < (uint32_t)k->shape[0]; h++) {
        op_piece pieces[OP_MAX_PIECES];
        size_t np = op_head_pieces(k, h, (size_t)n, pieces, OP_MAX_PIECES);
        uint32_t total = 0;
        for (size_t i = 0; i < np; i++) total += (pieces[i].rows + c - 1) / c; /* one partial per workgroup */
        if (h > 0 && total != parts) *ragged = true;
        if (total > parts) parts = total;
    }
    return parts;
}

/* Keys per workgroup, and partials per query head. Enough workgroups to fill
 * a large GPU; on drivers that cap loop iterations per invocation, chunks
 * short enough for the pass-1 loop (about 16 G + 4 iterations per key of a
 * group) and few enough partials for the reduce loops; and partials that fit
 * one binding (longer chunks where bindings are small). */
static void plan(const tappa_tensor *k, const tappa_tensor *q, int64_t n, uint32_t *chunk,
                 uint32_t *parts, bool *ragged)
{
    uint32_t hkv = (uint32_t)k->shape[0], g = (uint32_t)(q->shape[0] / k->shape[0]);
    uint64_t part_bytes = 4ull * (uint64_t)q->shape[0] * (uint64_t)q->shape[2];
    uint32_t limit = k->ctx->vk->info.loop_iteration_limit;
    uint64_t c = ((uint64_t)n * hkv + DECODE_TARGET_WGS - 1) / DECODE_TARGET_WGS;
    if (limit) {
        uint64_t most = (uint64_t)DECODE_GROUPS * (limit / 2) / (16 * g + 4);
        uint64_t fewest = (uint64_t)n * 3 / (limit / 2) + 1;
        c = c > most ? most : c < fewest ? fewest : c;
    }
    const uint64_t step = DECODE_GROUPS * DECODE_UNROLL;
    c = (c + step - 1) / step * step;
    c = c < DECODE_MIN_CHUNK ? DECODE_MIN_CHUNK : c > 8192 ? 8192 : c;
    *parts = count_parts(k, n, (uint32_t)c, ragged);
    while (((uint64_t)*parts * part_bytes > k->ctx->max_binding_bytes || *parts > DECODE_MAX_PARTS) &&
           c < 8192) {
        c *= 2;
        *parts = count_parts(k, n, (uint32_t)c, ragged);
    }
    *chunk = (uint32_t)c;
}

static tappa_status ensure(tappa_context *ctx, tappa_tensor **t, int64_t elems, tappa_error *err)
{
    if (*t && (*t)->numel >= (size_t)elems) return TAPPA_OK;
    tappa_tensor_destroy(t);
    return tappa_tensor_create(ctx, TAPPA_F32, 1, &elems, t, err);
}

tappa_status attention_decode_prepare(tappa_context *ctx, const tappa_tensor *q,
                                      const tappa_tensor *k, int64_t n, tappa_error *err)
{
    uint32_t chunk, parts;
    bool ragged;
    plan(k, q, n, &chunk, &parts, &ragged);
    int64_t hq = q->shape[0], d = q->shape[2];
    if ((uint64_t)hq * parts * d * 4 > ctx->max_binding_bytes || parts > DECODE_MAX_PARTS)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "attention: decode partials exceed one binding");
    tappa_status st = op_check_loops(ctx->vk, 3ull * parts + d, "attention (decode reduce)", err);
    if (st) return st;
    st = ensure(ctx, &ctx->decode_m, hq * parts, err);
    if (!st) st = ensure(ctx, &ctx->decode_l, hq * parts, err);
    if (!st) st = ensure(ctx, &ctx->decode_o, hq * parts * d, err);
    return st;
}

tappa_status attention_decode_record(const tappa_tensor *q, const tappa_tensor *k,
                                     const tappa_tensor *v, int64_t n, tappa_tensor *out,
                                     tappa_tensor *lse, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    tvk_device *dev = ctx->vk;
    uint32_t hq = (uint32_t)q->shape[0], d = (uint32_t)q->shape[2], hkv = (uint32_t)k->shape[0];
    uint32_t g = hq / hkv;
    if (g > 16) return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "attention: decode supports at most 16 query heads per KV head");
    uint32_t chunk, parts;
    bool ragged;
    plan(k, q, n, &chunk, &parts, &ragged);
    const tappa_device_info *info = &dev->info;
    bool sg = info->subgroup_shuffle && info->subgroup_in_compute && info->subgroup_min_size >= 16;
    uint32_t spec[5] = { DECODE_WG, d, g, chunk, DECODE_UNROLL };
    tvk_pipeline *p1, *p2;
    tappa_status st;
    if (k->dtype == TAPPA_F16)
        st = sg ? tvk_pipeline_get(dev, SHADER(attention_decode_f16_sg), 6, spec, 5, &p1, err)
                : tvk_pipeline_get(dev, SHADER(attention_decode_f16), 6, spec, 5, &p1, err);
    else
        st = sg ? tvk_pipeline_get(dev, SHADER(attention_decode_f32_sg), 6, spec, 5, &p1, err)
                : tvk_pipeline_get(dev, SHADER(attention_decode_f32), 6, spec, 5, &p1, err);
    uint32_t wg = DECODE_WG;
    if (!st) st = tvk_pipeline_get(dev, SHADER(attention_reduce), 5, &wg, 1, &p2, err);
    if (st) return st;
    tvk_binding part_m = tensor_binding(ctx->decode_m, 0), part_l = tensor_binding(ctx->decode_l, 0);
    tvk_binding part_o = tensor_binding(ctx->decode_o, 0);
    if (ragged) {
        /* Heads split differently leave unused partials: mark them empty (m = -inf). */
        dev->vk.vkCmdFillBuffer(dev->cmd, ctx->decode_m->segments[0].buf.buffer, 0, VK_WHOLE_SIZE, 0xff800000u);
        tvk_barrier(dev);
    }
    size_t qs, qo;
    st = op_locate(q, 0, q->numel, &qs, &qo, err);
    float scale = (float)(1.0 / sqrt((double)d));
    for (uint32_t kvh = 0; kvh < hkv && !st; kvh++) {
        op_piece kp[OP_MAX_PIECES], vp[OP_MAX_PIECES];
        size_t np = op_head_pieces(k, kvh, (size_t)n, kp, OP_MAX_PIECES);
        op_head_pieces(v, kvh, (size_t)n, vp, OP_MAX_PIECES); /* same shape and dtype: same split */
        uint32_t part_base = 0;
        for (size_t i = 0; i < np && !st; i++) {
            tvk_binding b[6] = { tensor_binding(q, qs), tensor_binding(k, kp[i].seg),
                                 tensor_binding(v, vp[i].seg), part_m, part_l, part_o };
            struct {
                uint32_t q_base, k_base, v_base, head0, n, part_base, parts;
                float scale;
            } push = { (uint32_t)(qo + (size_t)kvh * g * d), (uint32_t)kp[i].offset,
                       (uint32_t)vp[i].offset, kvh * g, kp[i].rows, part_base, parts, scale };
            uint32_t chunks = (kp[i].rows + chunk - 1) / chunk, gx, gy;
            tvk_grid(dev, chunks, &gx, &gy);
            st = tvk_dispatch(dev, p1, b, &push, sizeof push, gx, gy, 1, err);
            part_base += chunks;
        }
    }
    if (st) return st;
    tvk_barrier(dev);
    size_t os, oo, ls, lo;
    st = op_locate(out, 0, out->numel, &os, &oo, err);
    if (!st) st = op_locate(lse, 0, hq, &ls, &lo, err);
    if (st) return st;
    tvk_binding b[5] = { part_m, part_l, part_o, tensor_binding(out, os), tensor_binding(lse, ls) };
    uint32_t push[5] = { hq, parts, d, (uint32_t)oo, (uint32_t)lo };
    uint32_t gx, gy;
    tvk_grid(dev, hq, &gx, &gy);
    return tvk_dispatch(dev, p2, b, push, sizeof push, gx, gy, 1, err);
}
