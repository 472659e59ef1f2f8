/* matvec on cooperative matrices (tensor cores): a prompt chunk's 2..8
 * tokens against f16 weights, on devices with VK_NV_cooperative_matrix
 * (matvec_coopmat.comp). */
#include "ops_internal.h"

#ifndef MATVEC_CM_WG
#define MATVEC_CM_WG 128 /* 4 subgroups of 32 split a block's columns */
#endif
/* W tiles per subgroup and block (-DMATVEC_CM_UNROLL=8 to try more loads in
 * flight where shared memory holds the wider block). */
#ifndef MATVEC_CM_UNROLL
#define MATVEC_CM_UNROLL 4
#endif
_Static_assert(MATVEC_CM_UNROLL % 2 == 0, "matvec_coopmat.comp stages x in whole uvec4s per invocation: N UNROLL / 16");
#define MATVEC_CM_MAX_T 8

/* Tokens per tile (N): 8 on 16 x 8 x 16 tiles (M x N x K: W's 16 rows
 * against 8 tokens over 16 columns), else 16 on 16 x 16 x 16 ones, with
 * tokens 8..15 zero. */
static uint32_t tile_tokens(const tappa_device_info *info) { return info->coopmat_f16_16x8x16 ? 8 : 16; }

/* Shared memory of matvec_coopmat.comp: two blocks of X^T (N tokens of BK
 * f16 columns, each padded by 16 bytes) and each subgroup's C (16 x N f32). */
static uint64_t shared_bytes(uint32_t n)
{
    uint32_t subgroups = MATVEC_CM_WG / 32, bk = 16 * MATVEC_CM_UNROLL * subgroups;
    return 2ull * n * (bk / 8 + 1) * 16 + subgroups * 16ull * n * 4;
}

bool matvec_coopmat_fits(const tvk_device *dev, const tappa_tensor *w, uint32_t tokens)
{
    const tappa_device_info *info = &dev->info;
    bool pin;
    if (!dev->coopmat || !(info->coopmat_f16_16x8x16 || info->coopmat_f16_16x16x16) || !info->shader_float16 ||
        !info->subgroup_basic || !info->subgroup_in_compute || tokens < 2 || tokens > MATVEC_CM_MAX_T ||
        tvk_subgroup_for(info, 32, 32, MATVEC_CM_WG, &pin) != 32 ||
        shared_bytes(tile_tokens(info)) > info->max_shared_memory_bytes)
        return false;
    /* Whole 16-column tiles, and 16 rows in every segment for the tail tile
     * to start inside. */
    size_t words = (size_t)w->shape[1];
    if (words % 8) return false;
    for (size_t i = 0; i < w->n_segments; i++)
        if (w->segments[i].count / words < 16) return false;
    return true;
}

tappa_status matvec_coopmat_record(const tappa_tensor *w, const tappa_tensor *x, uint32_t tokens,
                                   const tappa_tensor *bias, bool accumulate, tappa_tensor *y, uint32_t head_dim,
                                   uint32_t y_stride, tappa_error *err)
{
    tvk_device *dev = w->ctx->vk;
    uint32_t rows = (uint32_t)w->shape[0], words = (uint32_t)w->shape[1], cols = 2 * words;
    bool pin;
    uint32_t size = tvk_subgroup_for(&dev->info, 32, 32, MATVEC_CM_WG, &pin);
    uint32_t spec[3] = { MATVEC_CM_WG, tile_tokens(&dev->info), MATVEC_CM_UNROLL };
    tvk_pipeline *p;
    tappa_status st = tvk_pipeline_get_sized(dev, SHADER(matvec_coopmat), 4, spec, 3, pin ? size : 0, &p, err);
    /* x and bias are read from element 0 of their first segments, where
     * op_locate puts element 0 (offset 0); y from its offset. */
    size_t xs, ys, yo, bs = 0, zero;
    if (!st) st = op_locate(x, 0, (size_t)tokens * cols, &xs, &zero, err);
    if (!st) st = op_locate(y, 0, y->numel, &ys, &yo, err);
    if (!st && bias) st = op_locate(bias, 0, rows, &bs, &zero, err);
    /* One dispatch per weight segment (whole rows), a workgroup per 16 rows. */
    for (size_t i = 0; i < w->n_segments && !st; i++) {
        const tensor_segment *s = &w->segments[i];
        uint32_t row0 = (uint32_t)(s->first / words), seg_rows = (uint32_t)(s->count / words);
        tvk_binding b[4] = { tensor_binding(w, i), tensor_binding(x, xs), tensor_binding(bias ? bias : x, bs),
                             tensor_binding(y, ys) };
        uint32_t push[9] = { seg_rows, row0, cols, tokens, y_stride ? y_stride : rows, (uint32_t)yo,
                             accumulate, bias != NULL, head_dim };
        uint32_t gx, gy;
        tvk_grid(dev, (seg_rows + 15) / 16, &gx, &gy);
        st = tvk_dispatch(dev, p, b, push, sizeof push, gx, gy, 1, err);
        if (!st) dev->coopmat_dispatches++;
    }
    return st;
}
