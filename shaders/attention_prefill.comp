#version 450
// Attention for many queries (prefill): one query head per dispatch, BR query
// rows per workgroup, T = 16 invocations per row. Keys and values stream
// through shared memory in tiles of BC rows (one buffer, reused for K then V);
// each row keeps an online softmax (running max m and sum l), so the (Nq, Nk)
// score matrix never exists. Causal: query i sits at position nk - nq + i.
// Keys are taken in [k_begin, k_end): a driver that caps loop iterations per
// invocation (llvmpipe) gets several passes, the state (unnormalised o, m, l)
// carried between them in o and ml.
// q, o: (nq, d) rows of this head from q_base / o_base; k, v: (nk, d) rows of
// its KV head from k_base / v_base; lse: (nq) from lse_base; ml: (nq, 2).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint D = 128;   // head dim, multiple of 16, <= 256
layout(constant_id = 2) const uint BR = 8;    // query rows per workgroup; WG = 16 * BR
layout(constant_id = 3) const uint BC = 16;   // keys per tile, multiple of 16
const uint T = 16;
const uint DPT = D / T;                       // output dims per invocation
const uint KPT = BC / T;                      // keys per invocation per tile
const uint KROW = D + 1;                      // padded shared row: no bank conflicts

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { STORE_T k[]; };
layout(binding = 2) readonly buffer V { STORE_T v[]; };
layout(binding = 3) buffer O { float o[]; };
layout(binding = 4) writeonly buffer Lse { float lse[]; };
layout(binding = 5) buffer Ml { float ml[]; };

layout(push_constant) uniform Push {
    uint q_base, k_base, v_base, o_base, lse_base;
    uint nq, nk;
    uint causal;
    float scale;
    uint k_begin, k_end;
    uint first, last;   // first pass: start empty; last pass: normalise and write lse
    uint ml_base;
} pc;

shared float qs[BR * D];      // this workgroup's query rows, pre-scaled
shared float kv[BC * KROW];   // the K tile, then the V tile
shared float ps[BR * BC];     // scores, then probabilities

void main()
{
    uint l = gl_LocalInvocationID.x;
    uint r = l / T, t = l % T;
    uint row0 = linear_group() * BR;
    uint row = row0 + r;
    bool row_ok = row < pc.nq;

    for (uint i = l; i < BR * D; i += BR * T) {
        uint rr = row0 + i / D;
        qs[i] = rr < pc.nq ? q[pc.q_base + rr * D + i % D] * pc.scale : 0.0;
    }
    // Keys this row may see, and the most any row of the workgroup may see.
    uint offset = pc.nk - pc.nq;
    uint limit = pc.causal != 0 ? min(offset + row + 1, pc.nk) : pc.nk;
    uint last_row = min(row0 + BR, pc.nq) - 1;
    uint wg_limit = pc.causal != 0 ? min(offset + last_row + 1, pc.nk) : pc.nk;

    float m = -1.0 / 0.0, lsum = 0.0;
    float acc[DPT];
    [[unroll]] for (uint i = 0; i < DPT; i++) acc[i] = 0.0;
    if (pc.first == 0 && row_ok) {
        m = ml[pc.ml_base + 2 * row];
        lsum = ml[pc.ml_base + 2 * row + 1];
        [[unroll]] for (uint i = 0; i < DPT; i++) acc[i] = o[pc.o_base + row * D + t + i * T];
    }
    uint k_hi = min(pc.k_end, wg_limit);
    limit = min(limit, pc.k_end);

    for (uint k0 = pc.k_begin; k0 < k_hi; k0 += BC) {
        barrier(); // the previous tile's V reads are done
        for (uint i = l; i < BC * D; i += BR * T) {
            uint key = k0 + i / D;
            kv[(i / D) * KROW + i % D] = key < pc.nk ? float(k[pc.k_base + key * D + i % D]) : 0.0;
        }
        barrier();
        [[unroll]] for (uint kk = 0; kk < KPT; kk++) {
            uint j = t + kk * T;
            float s = 0.0;
            for (uint c = 0; c < D; c++) s += qs[r * D + c] * kv[j * KROW + c];
            ps[r * BC + j] = (row_ok && k0 + j < limit) ? s : -1.0 / 0.0;
        }
        barrier();
        float tile_max = -1.0 / 0.0;
        for (uint j = 0; j < BC; j++) tile_max = max(tile_max, ps[r * BC + j]);
        float m_new = max(m, tile_max);
        // A row with nothing visible yet keeps m = -inf: weight everything 0.
        float alpha = m_new == -1.0 / 0.0 ? 1.0 : exp(m - m_new);
        barrier(); // every invocation has read the scores of its row
        [[unroll]] for (uint kk = 0; kk < KPT; kk++) {
            uint j = t + kk * T;
            float s = ps[r * BC + j];
            ps[r * BC + j] = s == -1.0 / 0.0 ? 0.0 : exp(s - m_new);
        }
        for (uint i = l; i < BC * D; i += BR * T) {
            uint key = k0 + i / D;
            kv[(i / D) * KROW + i % D] = key < pc.nk ? float(v[pc.v_base + key * D + i % D]) : 0.0;
        }
        barrier();
        float tile_sum = 0.0;
        [[unroll]] for (uint i = 0; i < DPT; i++) acc[i] *= alpha;
        for (uint j = 0; j < BC; j++) {
            float p = ps[r * BC + j];
            tile_sum += p;
            [[unroll]] for (uint i = 0; i < DPT; i++) acc[i] += p * kv[j * KROW + t + i * T];
        }
        lsum = lsum * alpha + tile_sum;
        m = m_new;
    }
    if (!row_ok) return;
    if (pc.last == 0) {
        [[unroll]] for (uint i = 0; i < DPT; i++) o[pc.o_base + row * D + t + i * T] = acc[i];
        if (t == 0) {
            ml[pc.ml_base + 2 * row] = m;
            ml[pc.ml_base + 2 * row + 1] = lsum;
        }
        return;
    }
    float inv = lsum > 0.0 ? 1.0 / lsum : 0.0;
    [[unroll]] for (uint i = 0; i < DPT; i++) o[pc.o_base + row * D + t + i * T] = acc[i] * inv;
    if (t == 0) lse[pc.lse_base + row] = m + log(lsum);
}
