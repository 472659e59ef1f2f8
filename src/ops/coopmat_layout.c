/* coopmat_layout: where a 16 x 16 f32 cooperative-matrix tile's elements lie
 * across a subgroup of 32, probed once per device for the kernels that work
 * on a tile's rows in registers (attention_prefill_coopmat.comp). */
#include "ops_internal.h"

#define LANES 32
#define PER_LANE 8 /* 256 elements over 32 lanes */

bool coopmat_layout_of(const uint32_t *probe, coopmat_layout *out)
{
    bool seen[256] = { false };
    uint32_t first_row[LANES], second_row[LANES], lanes_of_row[16] = { 0 };
    const uint32_t *lead = probe + 1;
    coopmat_layout c = { 0, 0, 0 };
    /* Lane 0's pattern and column steps; the lane loop below checks its
     * numbers, lane 0's first. */
    for (uint32_t i = 0; i < PER_LANE; i++) {
        if (lead[i] % 16 < lead[0] % 16) return false;
        if (lead[i] / 16 != lead[0] / 16) c.slots |= 1u << i;
        c.cols |= (lead[i] % 16 - lead[0] % 16) << (4 * i);
    }
    for (uint32_t lane = 0; lane < LANES; lane++) {
        const uint32_t *e = probe + lane * COOPMAT_PROBE_STRIDE;
        if (e[0] != PER_LANE) return false;
        first_row[lane] = second_row[lane] = e[1] / 16;
        for (uint32_t i = 0; i < PER_LANE; i++) {
            uint32_t n = e[1 + i], row = n / 16;
            if (n >= 256 || seen[n]) return false;
            seen[n] = true;
            bool second = (c.slots >> i) & 1;
            if (n % 16 != e[1] % 16 + ((c.cols >> (4 * i)) & 15)) return false; /* other column steps */
            if (second != (row != first_row[lane])) return false;                /* another pattern */
            if (second) {
                if (second_row[lane] != first_row[lane] && row != second_row[lane]) return false; /* a third row */
                second_row[lane] = row;
            }
        }
        lanes_of_row[first_row[lane]]++;
        if (second_row[lane] != first_row[lane]) lanes_of_row[second_row[lane]]++;
    }
    /* Every row in the same number of lanes, a power of two, forming an
     * aligned group whose lanes hold the same two rows. */
    c.row_lanes = lanes_of_row[0];
    if (!c.row_lanes || (c.row_lanes & (c.row_lanes - 1))) return false;
    for (uint32_t r = 0; r < 16; r++)
        if (lanes_of_row[r] != c.row_lanes) return false;
    for (uint32_t lane = 0; lane < LANES; lane++) {
        uint32_t base = lane & ~(c.row_lanes - 1);
        if (first_row[lane] != first_row[base] || second_row[lane] != second_row[base]) return false;
    }
    *out = c;
    return true;
}

typedef struct probe_args {
    tvk_device *dev;
    tvk_pipeline *p;
    tvk_buffer *buf;
} probe_args;

static tappa_status record_probe(void *args, tappa_error *err)
{
    probe_args *a = args;
    tvk_binding b = { a->buf, 0, a->buf->bytes };
    return tvk_dispatch(a->dev, a->p, &b, NULL, 0, 1, 1, 1, err);
}

tappa_status coopmat_layout_probe(tvk_device *dev, tappa_error *err)
{
    if (dev->coopmat_layout_probed) return TAPPA_OK;
    const tappa_device_info *info = &dev->info;
    if (!info->coopmat_f16_16x16x16 || info->subgroup_min_size != LANES || info->subgroup_max_size != LANES) {
        dev->coopmat_layout_probed = true;
        return TAPPA_OK;
    }
    uint32_t probe[LANES * COOPMAT_PROBE_STRIDE];
    tvk_buffer buf = { 0 };
    tvk_pipeline *p;
    tappa_status st = tvk_pipeline_get(dev, SHADER(coopmat_layout), 1, NULL, 0, &p, err);
    if (!st) st = tvk_buffer_create(dev, sizeof probe, true, &buf, err);
    if (!st) st = op_submit(dev, record_probe, &(probe_args){ dev, p, &buf }, err);
    if (!st) st = tvk_buffer_read(dev, &buf, 0, probe, sizeof probe, err);
    tvk_buffer_destroy(dev, &buf);
    if (st) return st;
    dev->coopmat_layout_probed = true;
    dev->coopmat_rows_in_registers = coopmat_layout_of(probe, &dev->coopmat_layout);
    return TAPPA_OK;
}

bool coopmat_attention_usable(const tvk_device *dev, tappa_dtype kv)
{
    const tappa_device_info *info = &dev->info;
    return dev->coopmat && dev->coopmat_rows_in_registers && info->shader_float16 && kv == TAPPA_F16 &&
           info->subgroup_shuffle && info->subgroup_vote && info->subgroup_in_compute;
}
