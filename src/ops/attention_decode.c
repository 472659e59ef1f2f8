/* attention_decode: one query per head against a long context, split-K in one
 * dispatch (attention_decode.comp, or attention_decode_coopmat.comp on tensor
 * cores for f16 caches where the device has them): the keys of every KV head
 * are spread over many workgroups, each writing partial softmax states, and
 * the last workgroup of each KV head to finish merges them. A cache split
 * over several bindings takes one dispatch per KV-head piece instead. */
#include <math.h>

#include "ops_internal.h"

/* U: keys per group per loop iteration, and whether the next iteration's
 * rows are fetched before this one's are used, per cache dtype (each can be
 * overridden at build time, -DDECODE_UNROLL_F16=2 etc., to try others).
 * H200, Hq 32 / Hkv 8 / D 128, 32K and 128K context: f32 with prefetch and
 * U 2: 78.1 / 257.8 us, with U 4: 98.6 / 315.0 us (the prefetched rows cost
 * registers); f16 without prefetch and U 4: 49.8 / 144.9 us, with prefetch
 * 68.4 / 207.4 us (f16 spends twice the arithmetic per byte). */
#ifndef DECODE_UNROLL_F16
#define DECODE_UNROLL_F16 4
#endif
#ifndef DECODE_PREFETCH_F16
#define DECODE_PREFETCH_F16 0
#endif
#ifndef DECODE_UNROLL_F32
#define DECODE_UNROLL_F32 2
#endif
#ifndef DECODE_PREFETCH_F32
#define DECODE_PREFETCH_F32 1
#endif
/* Partials loaded at once per invocation in the portable kernel's merge,
 * and folded as one batch. 16 was timed only on the tensor-core kernel,
 * which now has its own (DECODE_CM_MERGE_UNROLL): 16 against 8 gave 14.3 /
 * 43.5 / 138.6 us against 14.5 / 43.6 / 139.1 at 4K / 32K / 128K (H200, f16,
 * Hq 32 / Hkv 8 / D 128). */
#ifndef DECODE_MERGE_UNROLL
#define DECODE_MERGE_UNROLL 16
#endif
/* Short contexts: fewer, fuller workgroups beat many near-empty ones (H100,
 * 4K context: 23.6 us with 128-key chunks, 28.4 us with 64). */
#define DECODE_MIN_CHUNK 128
#define DECODE_MAX_PARTS 2048            /* partials per query head */


/* Partials per query head for chunks of c keys: the most any KV head needs. */
static uint32_t count_parts(const tappa_tensor *k, int64_t n, uint32_t c)
{
    uint32_t parts = 0;
    for (uint32_t h = 0; h < (uint32_t)k->shape[0]; h++) {
        op_piece pieces[OP_MAX_PIECES];
        size_t np = op_head_pieces(k, h, (size_t)n, pieces, OP_MAX_PIECES);
        uint32_t total = 0;
        for (size_t i = 0; i < np; i++) total += (pieces[i].rows + c - 1) / c; /* one partial per workgroup */
        if (total > parts) parts = total;
    }
    return parts;
}

/* Invocations per workgroup (a multiple of 16; NG = wg / 16 key groups) and
 * the workgroups a decode aims at: 256 and 264 (two on each of 132 SMs at up
 * to 128 registers) where the shader's shared memory fits, else 128 and 512.
 * Fewer, larger workgroups leave fewer partials for the merge (H200, f16,
 * Hq 32 / Hkv 8 / D 128, 32K: 45.3 us against 48.7 with 512 of 128). */
typedef struct decode_layout {
    bool cm;         /* the tensor-core kernel */
    uint32_t wg, target;
    uint32_t step;   /* keys per workgroup per iteration at the largest U: chunks are multiples */
    uint32_t stage;  /* floats of the shared stage the subgroups sum their outputs through */
    bool sg;         /* the subgroup variant: 16-lane groups reduced by shuffles */
    uint32_t pinned; /* the subgroup size it is pinned at, 0: the device's */
} decode_layout;

/* Floats of the shared stage: two passes for 4 heads of 128 dims and 8
 * subgroups (H200, f16, same shapes: 1K 9.6 us and 32K 44.6 us, against 11.0-12.0
 * and 45.5 with the subgroups' sums added one subgroup after another). */
#define DECODE_STAGE 2048

/* The shader's shared arrays: group maxima, the subgroups' sums per head,
 * the stage, the merge's per-invocation states and, without shuffles, the
 * dot products. */
static uint64_t decode_shared(uint32_t wg, uint32_t stage, uint32_t g, bool sg)
{
    return 4ull * (2 * (wg / 16) * g + stage + 2 * wg + 1) + 16ull * wg + (sg ? 0 : 4ull * wg * g);
}

/* The first size whose shared memory fits with the whole stage; where none
 * does, the smaller with the largest stage that fits (at least one column
 * per group: a pass per column at worst). */
static decode_layout layout_for(const tappa_device_info *info, uint32_t g)
{
    static const uint32_t sizes[2][2] = { { 256, 264 }, { 128, 512 } };
    decode_layout lay = { 0 };
    for (int i = 0; i < 2; i++) {
        lay.wg = sizes[i][0];
        lay.target = sizes[i][1];
        /* Any subgroup of 16 lanes or more, or one pinned at 16 or more
         * where sizes vary. */
        lay.sg = info->subgroup_shuffle && info->subgroup_in_compute;
        lay.pinned = 0;
        if (lay.sg && info->subgroup_min_size < 16) {
            bool pin = false;
            uint32_t size = tvk_subgroup_for(info, 16, lay.wg, lay.wg, &pin);
            lay.sg = size != 0;
            lay.pinned = pin ? size : 0;
        }
        lay.stage = DECODE_STAGE;
        lay.step = lay.wg / 16 * 4;
        if (decode_shared(lay.wg, lay.stage, g, lay.sg) <= info->max_shared_memory_bytes) return lay;
    }
    while (lay.stage > lay.wg / 16 && decode_shared(lay.wg, lay.stage, g, lay.sg) > info->max_shared_memory_bytes)
        lay.stage /= 2;
    return lay; /* may still not fit: the record step says so */
}

/* The tensor-core kernel: workgroups of 4 subgroups of 32, aiming at 264
 * of them: two on each of 132 SMs at the 230 registers a lane the driver
 * allocates (H200, f16, Hq 32 / Hkv 8 / D 128: 32K 43.2 us and 128K 137.6
 * with 264; 48.9 and 142.8 with 528, 56.4 and 174.5 with 396, whose second
 * wave is uneven). */
#define DECODE_CM_WG 128
#ifndef DECODE_CM_TARGET
#define DECODE_CM_TARGET 264
#endif
/* Its merge loads all of a KV head's partials in one batch where there are
 * up to 33: 264 workgroups over 8 KV heads make 32 or 33 a head, which
 * batches of 16 read in three round trips at 128K (H200, f16, Hq 32 / Hkv 8
 * / D 128: 13.6 / 42.7 / 136.0 us at 4K / 32K / 128K against 13.9 / 42.9 /
 * 137.0). The portable kernel keeps DECODE_MERGE_UNROLL: its registers set
 * its occupancy. */
#ifndef DECODE_CM_MERGE_UNROLL
#define DECODE_CM_MERGE_UNROLL 33
#endif

/* Its shared memory: per subgroup a K and a V tile of 16 padded rows (the
 * stage of the subgroups' sums reuses them), the Q tile, the tile of element
 * numbers, the merge's per-invocation states, and the subgroups' row maxima
 * and sums. */
static uint64_t coopmat_shared(uint32_t d)
{
    uint64_t row = 16ull * (d / 8 + 1); /* bytes of a padded f16 row */
    return 2ull * DECODE_CM_WG / 32 * 16 * row + 16 * row + 4 * 256 + 24ull * DECODE_CM_WG + 4 +
           8ull * DECODE_CM_WG / 32 * 16;
}

/* Whether the tensor-core kernel takes this decode: a device that runs the
 * tensor-core attention kernels on f16 K/V (coopmat_attention_usable; the
 * layout probed by attention_decode_prepare), f16 K (and V, the same layout)
 * with 16-byte aligned rows, and head dims that are multiples of 16 up to 128
 * (the output tiles take D / 2 registers a lane). */
static bool use_coopmat(const tvk_device *dev, const tappa_tensor *q, const tappa_tensor *k)
{
    uint32_t d = (uint32_t)q->shape[2];
    return coopmat_attention_usable(dev, k->dtype) && d % 16 == 0 && d <= 128 &&
           coopmat_shared(d) <= dev->info.max_shared_memory_bytes && op_aligned_rows(k);
}

static decode_layout coopmat_layout_for(void)
{
    decode_layout lay = { .cm = true, .wg = DECODE_CM_WG, .target = DECODE_CM_TARGET, .step = DECODE_CM_WG / 32 * 16 };
    return lay;
}

/* Keys per workgroup before plan() lengthens chunks to fit the partials in
 * one binding: enough workgroups to fill a large GPU and, on drivers that cap
 * loop iterations per invocation, chunks short enough for the key loop (about
 * 16 G + 4 iterations per key of a group) and few enough partials for the
 * merge loops. */
static uint64_t first_chunk(const decode_layout *lay, uint32_t hkv, uint32_t g, int64_t n, uint32_t limit)
{
    uint64_t c = ((uint64_t)n * hkv + lay->target - 1) / lay->target;
    if (limit) {
        uint64_t most = (uint64_t)(lay->wg / 16) * (limit / 2) / (16 * g + 4);
        uint64_t fewest = (uint64_t)n * 3 / (limit / 2) + 1;
        c = c > most ? most : c < fewest ? fewest : c;
    }
    c = (c + lay->step - 1) / lay->step * lay->step;
    return c < DECODE_MIN_CHUNK ? DECODE_MIN_CHUNK : c > 8192 ? 8192 : c;
}

/* The workgroup layout, and keys per workgroup and partials per query head
 * for n keys: first_chunk(), doubled while the partials would not fit one
 * binding. */
static void plan(const tappa_tensor *k, const tappa_tensor *q, int64_t n, bool cm, decode_layout *lay,
                 uint32_t *chunk, uint32_t *parts)
{
    uint32_t hkv = (uint32_t)k->shape[0], g = (uint32_t)(q->shape[0] / k->shape[0]);
    uint64_t part_bytes = 4ull * (uint64_t)q->shape[0] * (uint64_t)q->shape[2];
    *lay = cm ? coopmat_layout_for() : layout_for(&k->ctx->vk->info, g);
    uint64_t c = first_chunk(lay, hkv, g, n, k->ctx->vk->info.loop_iteration_limit);
    *parts = count_parts(k, n, (uint32_t)c);
    while (((uint64_t)*parts * part_bytes > k->ctx->max_binding_bytes || *parts > DECODE_MAX_PARTS) &&
           c < 8192) {
        c *= 2;
        *parts = count_parts(k, n, (uint32_t)c);
    }
    *chunk = (uint32_t)c;
}

/* The most partials per query head that any n <= cap can need: the chunk
 * does not grow monotonically with n (it is rounded to whole steps), so a
 * shorter context can need more partials than the longest. A head split
 * into np pieces needs at most ceil(n / c) + np - 1, and plan() only ever
 * lengthens c from first_chunk(). */
static uint32_t most_parts(const tappa_tensor *k, const tappa_tensor *q, int64_t cap, bool cm)
{
    uint32_t hkv = (uint32_t)k->shape[0], g = (uint32_t)(q->shape[0] / k->shape[0]);
    uint32_t limit = k->ctx->vk->info.loop_iteration_limit;
    decode_layout lay = cm ? coopmat_layout_for() : layout_for(&k->ctx->vk->info, g);
    size_t np = 1;
    for (uint32_t h = 0; h < hkv; h++) {
        op_piece pieces[OP_MAX_PIECES];
        size_t n_h = op_head_pieces(k, h, (size_t)cap, pieces, OP_MAX_PIECES);
        if (n_h > np) np = n_h;
    }
    uint64_t most = 0;
    for (int64_t n = 1; n <= cap; n++) {
        uint64_t c = first_chunk(&lay, hkv, g, n, limit), p = ((uint64_t)n + c - 1) / c;
        if (p > most) most = p;
    }
    most += np - 1;
    return most > UINT32_MAX ? UINT32_MAX : (uint32_t)most;
}

/* The counters of a decode with hkv KV heads: an arrival counter per head,
 * then the tensor-core kernel's tile counters, one per piece of each head. */
static size_t decode_counters(uint32_t hkv)
{
    return (size_t)hkv * (1 + OP_MAX_PIECES);
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
    if (ctx->vk->coopmat && k->dtype == TAPPA_F16) {
        tappa_status st = coopmat_layout_probe(ctx->vk, err);
        if (st) return st;
    }
    bool cm = use_coopmat(ctx->vk, q, k);
    uint32_t chunk, parts;
    decode_layout lay;
    plan(k, q, n, cm, &lay, &chunk, &parts);
    int64_t hq = q->shape[0], d = q->shape[2];
    uint64_t part_bytes = 4ull * (uint64_t)hq * (uint64_t)d;
    if ((uint64_t)parts * part_bytes > ctx->max_binding_bytes || parts > DECODE_MAX_PARTS)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "attention: decode partials exceed one binding");
    tappa_status st = op_check_loops(ctx->vk, 3ull * parts + d, "attention (decode merge)", err);
    if (st) return st;
    /* Room for every context up to n, within what one binding holds, for
     * either kernel: the V rows' alignment, or a caller turning the tensor
     * cores off, decides at record time. */
    uint64_t room = most_parts(k, q, n, false), fit = ctx->max_binding_bytes / part_bytes;
    if (cm) {
        uint64_t room_cm = most_parts(k, q, n, true);
        if (room_cm > room) room = room_cm;
    }
    if (room > fit) room = fit;
    if (room > DECODE_MAX_PARTS) room = DECODE_MAX_PARTS;
    if (room < parts) room = parts;
    st = ensure(ctx, &ctx->decode_ml, hq * (int64_t)room * 2, err);
    if (!st) st = ensure(ctx, &ctx->decode_o, hq * (int64_t)room * d, err);
    /* The counters start at zero; each call's last workgroup of a head sets
     * the head's back to zero. */
    int64_t counters = (int64_t)decode_counters((uint32_t)k->shape[0]);
    if (!st && (!ctx->decode_count || ctx->decode_count->numel < (size_t)counters)) {
        tappa_tensor_destroy(&ctx->decode_count);
        st = tappa_tensor_create(ctx, TAPPA_I32, 1, &counters, &ctx->decode_count, err);
        if (!st) st = tappa_tensor_fill_bits(ctx->decode_count, 0, err);
    }
    return st;
}

tappa_status attention_decode_record(const tappa_tensor *q, const tappa_tensor *k,
                                     const tappa_tensor *v, int64_t n, tappa_tensor *out,
                                     tappa_tensor *lse, tappa_error *err)
{
    return attention_decode_record_rows(q, 0, (size_t)q->shape[2], k, v, n, out, 0, lse, err);
}

tappa_status attention_decode_record_rows(const tappa_tensor *q, size_t q_first, size_t q_stride,
                                          const tappa_tensor *k, const tappa_tensor *v, int64_t n,
                                          tappa_tensor *out, size_t out_first, tappa_tensor *lse, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    tvk_device *dev = ctx->vk;
    uint32_t hq = (uint32_t)q->shape[0], d = (uint32_t)q->shape[2], hkv = (uint32_t)k->shape[0];
    uint32_t g = hq / hkv;
    if (g > 16) return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "attention: decode supports at most 16 query heads per KV head");
    bool cm = use_coopmat(dev, q, k) && op_aligned_rows(v);
    uint32_t chunk, parts;
    decode_layout lay;
    plan(k, q, n, cm, &lay, &chunk, &parts);
    if (!ctx->decode_ml || !ctx->decode_count || ctx->decode_ml->numel < (size_t)hq * parts * 2 ||
        ctx->decode_o->numel < (size_t)hq * parts * d || ctx->decode_count->numel < decode_counters(hkv))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "attention: decode of %lld keys needs %u partials per head; the scratch was prepared for "
                          "fewer (attention_decode_prepare with the longest context first)",
                          (long long)n, parts);
    const tappa_device_info *info = &dev->info;
    bool sg = lay.sg;
    uint64_t shared = decode_shared(lay.wg, lay.stage, g, sg);
    if (!cm && shared > info->max_shared_memory_bytes)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "attention: decode with %u query heads per KV head and head dim %u needs %llu bytes of "
                          "shared memory; %s has %u",
                          g, d, (unsigned long long)shared, info->name, info->max_shared_memory_bytes);
    bool f16 = k->dtype == TAPPA_F16;
    uint32_t spec[8] = { lay.wg, d, g, chunk, f16 ? DECODE_UNROLL_F16 : DECODE_UNROLL_F32,
                         f16 ? DECODE_PREFETCH_F16 : DECODE_PREFETCH_F32,
                         DECODE_MERGE_UNROLL, lay.stage };
    tvk_pipeline *p;
    tappa_status st;
    if (cm) {
        const coopmat_layout *cl = &dev->coopmat_layout;
        uint32_t cm_spec[8] = { lay.wg, d, g, chunk, cl->row_lanes, cl->slots, cl->cols, DECODE_CM_MERGE_UNROLL };
        st = tvk_pipeline_get(dev, SHADER(attention_decode_coopmat), 8, cm_spec, 8, &p, err);
    } else if (f16)
        st = sg ? tvk_pipeline_get_sized(dev, SHADER(attention_decode_f16_sg), 8, spec, 8, lay.pinned, &p, err)
                : tvk_pipeline_get(dev, SHADER(attention_decode_f16), 8, spec, 8, &p, err);
    else
        st = sg ? tvk_pipeline_get_sized(dev, SHADER(attention_decode_f32_sg), 8, spec, 8, lay.pinned, &p, err)
                : tvk_pipeline_get(dev, SHADER(attention_decode_f32), 8, spec, 8, &p, err);
    if (st) return st;
    size_t qs, qo, os, oo, ls, lo;
    st = op_locate(q, q_first, (hq - 1) * q_stride + d, &qs, &qo, err);
    if (!st) st = op_locate(out, out_first, (size_t)hq * d, &os, &oo, err);
    if (!st) st = op_locate(lse, 0, hq, &ls, &lo, err);
    if (st) return st;
    tvk_binding part_ml = tensor_binding(ctx->decode_ml, 0), part_o = tensor_binding(ctx->decode_o, 0);
    tvk_binding count = tensor_binding(ctx->decode_count, 0);
    float scale = (float)(1.0 / sqrt((double)d));
    struct {
        uint32_t q_base, k_base, v_base, head0, n, part_base, parts, head_parts, o_base, lse_base;
        float scale;
        uint32_t q_stride, q_head_stride, k_head_stride, v_head_stride;
        uint32_t tile_first, tile_head_stride, tile_piece, tile_pieces; /* the tensor-core kernel's tile counters */
    } push = { .parts = parts, .o_base = (uint32_t)oo, .lse_base = (uint32_t)lo, .scale = scale,
               .q_stride = (uint32_t)q_stride, .tile_first = hkv, .tile_head_stride = OP_MAX_PIECES,
               .tile_pieces = 1 };
    /* Every KV head one piece of the same segment (the cache fits one
     * binding): one dispatch for all heads, the head in gl_WorkGroupID.z (the
     * tensor-core kernel takes the heads in turn in launch order instead). */
    op_piece k0[OP_MAX_PIECES], v0[OP_MAX_PIECES];
    bool one = op_head_pieces(k, 0, (size_t)n, k0, OP_MAX_PIECES) == 1 &&
               op_head_pieces(v, 0, (size_t)n, v0, OP_MAX_PIECES) == 1;
    if (one && hkv > 1) {
        op_piece kl[OP_MAX_PIECES], vl[OP_MAX_PIECES];
        one = op_head_pieces(k, hkv - 1, (size_t)n, kl, OP_MAX_PIECES) == 1 &&
              op_head_pieces(v, hkv - 1, (size_t)n, vl, OP_MAX_PIECES) == 1 && kl[0].seg == k0[0].seg &&
              vl[0].seg == v0[0].seg;
    }
    if (one) {
        /* Heads are shape[1] rows apart in [Hkv][capacity][D]; the same segment
         * holds the first and last head, so every head between. */
        tvk_binding b[8] = { tensor_binding(q, qs), tensor_binding(k, k0[0].seg), tensor_binding(v, v0[0].seg),
                             part_ml, part_o, tensor_binding(out, os), tensor_binding(lse, ls), count };
        uint32_t chunks = (k0[0].rows + chunk - 1) / chunk, gx, gy;
        push.q_base = (uint32_t)qo;
        push.k_base = (uint32_t)k0[0].offset;
        push.v_base = (uint32_t)v0[0].offset;
        push.n = k0[0].rows;
        push.head_parts = chunks;
        push.q_head_stride = (uint32_t)(g * q_stride);
        push.k_head_stride = (uint32_t)(k->shape[1] * d);
        push.v_head_stride = (uint32_t)(v->shape[1] * d);
        tvk_grid(dev, chunks, &gx, &gy);
        st = tvk_dispatch(dev, p, b, &push, sizeof push, gx, gy, hkv, err);
        if (!st && cm) dev->coopmat_dispatches++;
        return st;
    }
    for (uint32_t kvh = 0; kvh < hkv && !st; kvh++) {
        op_piece kp[OP_MAX_PIECES], vp[OP_MAX_PIECES];
        size_t np = op_head_pieces(k, kvh, (size_t)n, kp, OP_MAX_PIECES);
        op_head_pieces(v, kvh, (size_t)n, vp, OP_MAX_PIECES); /* same shape and dtype: same split */
        uint32_t head_parts = 0;
        for (size_t i = 0; i < np; i++) head_parts += (kp[i].rows + chunk - 1) / chunk;
        uint32_t part_base = 0;
        for (size_t i = 0; i < np && !st; i++) {
            tvk_binding b[8] = { tensor_binding(q, qs), tensor_binding(k, kp[i].seg),
                                 tensor_binding(v, vp[i].seg), part_ml, part_o,
                                 tensor_binding(out, os), tensor_binding(lse, ls), count };
            push.q_base = (uint32_t)(qo + (size_t)kvh * g * q_stride);
            push.k_base = (uint32_t)kp[i].offset;
            push.v_base = (uint32_t)vp[i].offset;
            push.head0 = kvh * g;
            push.n = kp[i].rows;
            push.part_base = part_base;
            push.head_parts = head_parts;
            push.tile_first = hkv + kvh * OP_MAX_PIECES;
            push.tile_piece = (uint32_t)i;
            push.tile_pieces = (uint32_t)np;
            uint32_t chunks = (kp[i].rows + chunk - 1) / chunk, gx, gy;
            tvk_grid(dev, chunks, &gx, &gy);
            st = tvk_dispatch(dev, p, b, &push, sizeof push, gx, gy, 1, err);
            if (!st && cm) dev->coopmat_dispatches++;
            part_base += chunks;
        }
    }
    return st;
}
