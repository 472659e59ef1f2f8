#version 450
// Attention for many queries (prefill): one query head per dispatch, BR query
// rows per workgroup, 16 invocations per row group. An invocation owns RT rows
// (r, r + BR/RT, ...): each value read from shared memory then feeds RT
// multiply-adds, which is what bounds this kernel on the FP32 units. Keys and
// values stream through shared memory in tiles of BC rows (one buffer, reused
// for K then V); each row keeps an online softmax (running max m and sum l),
// so the (Nq, Nk) score matrix never exists. Causal: query i sits at position
// nk - nq + i. Keys are taken in [k_begin, k_end): a driver that caps loop
// iterations per invocation (llvmpipe) gets several passes, the state
// (unnormalised o, m, l) carried between them in o and ml.
// q, o: (nq, d) rows of this head from q_base / o_base; k, v: (nk, d) rows of
// its KV head from k_base / v_base; lse: (nq) from lse_base; ml: (nq, 2).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint D = 128;   // head dim, multiple of 16, <= 256
layout(constant_id = 2) const uint BR = 8;    // query rows per workgroup; WG = 16 * BR / RT
layout(constant_id = 3) const uint BC = 16;   // keys per tile, multiple of 16
layout(constant_id = 4) const uint RT = 1;    // rows per invocation: 1, 2 or 4
const uint T = 16;
const uint RG = BR / RT;                      // row groups
const uint DPT = D / T;                       // output dims per invocation
const uint KPT = BC / T;                      // keys per invocation per tile
const uint KROW = D + 1;                      // padded shared row: no bank conflicts
const uint MAX_RT = 4;
const uint MAX_DPT = 16;

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
    uint rg = l / T, t = l % T;
    uint row0 = linear_group() * BR;
    uint offset = pc.nk - pc.nq;

    for (uint i = l; i < BR * D; i += RG * T) {
        uint rr = row0 + i / D;
        qs[i] = rr < pc.nq ? q[pc.q_base + rr * D + i % D] * pc.scale : 0.0;
    }
    uint last_row = min(row0 + BR, pc.nq) - 1;
    uint wg_limit = pc.causal != 0 ? min(offset + last_row + 1, pc.nk) : pc.nk;
    uint k_hi = min(pc.k_end, wg_limit);

    // Per owned row x: local row r = rg + x * RG, its key limit and state.
    uint limit[MAX_RT];
    float m[MAX_RT], lsum[MAX_RT];
    float acc[MAX_RT][MAX_DPT];
    [[unroll]] for (uint x = 0; x < RT; x++) {
        uint row = row0 + rg + x * RG;
        limit[x] = row < pc.nq ? min(pc.causal != 0 ? min(offset + row + 1, pc.nk) : pc.nk, pc.k_end) : 0;
        m[x] = -1.0 / 0.0;
        lsum[x] = 0.0;
        [[unroll]] for (uint i = 0; i < DPT; i++) acc[x][i] = 0.0;
        if (pc.first == 0 && row < pc.nq) {
            m[x] = ml[pc.ml_base + 2 * row];
            lsum[x] = ml[pc.ml_base + 2 * row + 1];
            [[unroll]] for (uint i = 0; i < DPT; i++) acc[x][i] = o[pc.o_base + row * D + t + i * T];
        }
    }

    for (uint k0 = pc.k_begin; k0 < k_hi; k0 += BC) {
        barrier(); // the previous tile's V reads are done
        for (uint i = l; i < BC * D; i += RG * T) {
            uint key = k0 + i / D;
            kv[(i / D) * KROW + i % D] = key < pc.nk ? float(k[pc.k_base + key * D + i % D]) : 0.0;
        }
        barrier();
        // Scores: RT rows x KPT keys per invocation, each shared value used RT or KPT times.
        float s[MAX_RT][BC / T];
        [[unroll]] for (uint x = 0; x < RT; x++)
            [[unroll]] for (uint kk = 0; kk < KPT; kk++) s[x][kk] = 0.0;
        for (uint c = 0; c < D; c++) {
            float kc[BC / T];
            [[unroll]] for (uint kk = 0; kk < KPT; kk++) kc[kk] = kv[(t + kk * T) * KROW + c];
            [[unroll]] for (uint x = 0; x < RT; x++) {
                float qc = qs[(rg + x * RG) * D + c];
                [[unroll]] for (uint kk = 0; kk < KPT; kk++) s[x][kk] += qc * kc[kk];
            }
        }
        [[unroll]] for (uint x = 0; x < RT; x++)
            [[unroll]] for (uint kk = 0; kk < KPT; kk++) {
                uint j = t + kk * T;
                ps[(rg + x * RG) * BC + j] = k0 + j < limit[x] ? s[x][kk] : -1.0 / 0.0;
            }
        barrier();
        float alpha[MAX_RT], m_new[MAX_RT];
        [[unroll]] for (uint x = 0; x < RT; x++) {
            float tile_max = -1.0 / 0.0;
            for (uint j = 0; j < BC; j++) tile_max = max(tile_max, ps[(rg + x * RG) * BC + j]);
            m_new[x] = max(m[x], tile_max);
            // A row with nothing visible yet keeps m = -inf: weight everything 0.
            alpha[x] = m_new[x] == -1.0 / 0.0 ? 1.0 : exp(m[x] - m_new[x]);
        }
        barrier(); // every invocation has read the scores of its rows
        [[unroll]] for (uint x = 0; x < RT; x++)
            [[unroll]] for (uint kk = 0; kk < KPT; kk++) {
                uint at = (rg + x * RG) * BC + t + kk * T;
                float sc = ps[at];
                ps[at] = sc == -1.0 / 0.0 ? 0.0 : exp(sc - m_new[x]);
            }
        for (uint i = l; i < BC * D; i += RG * T) {
            uint key = k0 + i / D;
            kv[(i / D) * KROW + i % D] = key < pc.nk ? float(v[pc.v_base + key * D + i % D]) : 0.0;
        }
        barrier();
        float tile_sum[MAX_RT];
        [[unroll]] for (uint x = 0; x < RT; x++) {
            tile_sum[x] = 0.0;
            [[unroll]] for (uint i = 0; i < DPT; i++) acc[x][i] *= alpha[x];
        }
        for (uint j = 0; j < BC; j++) {
            float vj[MAX_DPT];
            [[unroll]] for (uint i = 0; i < DPT; i++) vj[i] = kv[j * KROW + t + i * T];
            [[unroll]] for (uint x = 0; x < RT; x++) {
                float p = ps[(rg + x * RG) * BC + j];
                tile_sum[x] += p;
                [[unroll]] for (uint i = 0; i < DPT; i++) acc[x][i] += p * vj[i];
            }
        }
        [[unroll]] for (uint x = 0; x < RT; x++) {
            lsum[x] = lsum[x] * alpha[x] + tile_sum[x];
            m[x] = m_new[x];
        }
    }

    [[unroll]] for (uint x = 0; x < RT; x++) {
        uint row = row0 + rg + x * RG;
        if (row >= pc.nq) continue;
        if (pc.last == 0) {
            [[unroll]] for (uint i = 0; i < DPT; i++) o[pc.o_base + row * D + t + i * T] = acc[x][i];
            if (t == 0) {
                ml[pc.ml_base + 2 * row] = m[x];
                ml[pc.ml_base + 2 * row + 1] = lsum[x];
            }
            continue;
        }
        float inv = lsum[x] > 0.0 ? 1.0 / lsum[x] : 0.0;
        [[unroll]] for (uint i = 0; i < DPT; i++) o[pc.o_base + row * D + t + i * T] = acc[x][i] * inv;
        if (t == 0) lse[pc.lse_base + row] = m[x] + log(lsum[x]);
    }
}
