#version 450
// Split-K attention for one new token per query head (decode), pass 1.
// A workgroup takes CHUNK keys of one KV head for all G query heads that share
// it, so K and V are read once. Invocations form NG = WG / 16 groups of 16
// lanes; a group takes every NG-th key, each lane DPL = D / 16 dims of it.
// The lane dot products are summed across the group (subgroup shuffles in the
// TAPPA_SUBGROUP variant, shared memory otherwise), and each group keeps its
// own online softmax, written as one partial (m, l, o) per query head; the
// reduce pass (attention_reduce.comp) merges the partials.
// q: (G, d) from q_base; k, v: this piece's keys, (n, d) from k_base / v_base.
// part_m, part_l: (all query heads, parts); part_o: (all query heads, parts, d).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#ifdef TAPPA_SUBGROUP
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

layout(constant_id = 1) const uint D = 128;     // multiple of 16, <= 256
layout(constant_id = 2) const uint G = 1;       // query heads per KV head, <= 16
layout(constant_id = 3) const uint CHUNK = 256; // keys per workgroup, multiple of NG
const uint T = 16;
const uint NG = gl_WorkGroupSize.x / T;
const uint DPL = D / T;

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { STORE_T k[]; };
layout(binding = 2) readonly buffer V { STORE_T v[]; };
layout(binding = 3) writeonly buffer PartM { float part_m[]; };
layout(binding = 4) writeonly buffer PartL { float part_l[]; };
layout(binding = 5) writeonly buffer PartO { float part_o[]; };

layout(push_constant) uniform Push {
    uint q_base, k_base, v_base;
    uint head0;      // global index of the first of the G query heads
    uint n;          // keys in this piece
    uint part_base;  // first partial of this piece, per head
    uint parts;      // partials per head (row stride of part_m / part_l)
    float scale;
} pc;

#ifndef TAPPA_SUBGROUP
shared float red[gl_WorkGroupSize.x * G];
#endif

void main()
{
    uint l = gl_LocalInvocationID.x;
    uint grp = l / T, lane = l % T;
    uint chunk = linear_group();
    uint begin = chunk * CHUNK;
    uint end = min(begin + CHUNK, pc.n);

    float qr[G * DPL];
    [[unroll]] for (uint h = 0; h < G; h++)
        [[unroll]] for (uint i = 0; i < DPL; i++)
            qr[h * DPL + i] = q[pc.q_base + h * D + lane * DPL + i] * pc.scale;
    float m[G], lsum[G], acc[G * DPL];
    [[unroll]] for (uint h = 0; h < G; h++) {
        m[h] = -1.0 / 0.0;
        lsum[h] = 0.0;
        [[unroll]] for (uint i = 0; i < DPL; i++) acc[h * DPL + i] = 0.0;
    }

    // The loop count is the same for every group, so the barriers of the
    // shared-memory reduction stay in uniform control flow.
    for (uint base = begin; base < end; base += NG) {
        uint j = base + grp;
        bool ok = j < end;
        uint kj = pc.k_base + (ok ? j : begin) * D + lane * DPL;
        float kf[DPL];
        [[unroll]] for (uint i = 0; i < DPL; i++) kf[i] = float(k[kj + i]);
        float s[G];
        [[unroll]] for (uint h = 0; h < G; h++) {
            float p = 0.0;
            [[unroll]] for (uint i = 0; i < DPL; i++) p += qr[h * DPL + i] * kf[i];
#ifdef TAPPA_SUBGROUP
            p += subgroupShuffleXor(p, 8);
            p += subgroupShuffleXor(p, 4);
            p += subgroupShuffleXor(p, 2);
            p += subgroupShuffleXor(p, 1);
            s[h] = p;
#else
            red[l * G + h] = p;
#endif
        }
#ifndef TAPPA_SUBGROUP
        barrier();
        [[unroll]] for (uint h = 0; h < G; h++) {
            float p = 0.0;
            for (uint x = 0; x < T; x++) p += red[(grp * T + x) * G + h];
            s[h] = p;
        }
        barrier();
#endif
        if (ok) {
            uint vj = pc.v_base + j * D + lane * DPL;
            float vf[DPL];
            [[unroll]] for (uint i = 0; i < DPL; i++) vf[i] = float(v[vj + i]);
            [[unroll]] for (uint h = 0; h < G; h++) {
                float m_new = max(m[h], s[h]);
                float alpha = exp(m[h] - m_new); // m = -inf at first: exp(-inf) = 0
                float p = exp(s[h] - m_new);
                lsum[h] = lsum[h] * alpha + p;
                [[unroll]] for (uint i = 0; i < DPL; i++)
                    acc[h * DPL + i] = acc[h * DPL + i] * alpha + p * vf[i];
                m[h] = m_new;
            }
        }
    }
    uint part = pc.part_base + chunk * NG + grp;
    [[unroll]] for (uint h = 0; h < G; h++) {
        if (lane == 0) {
            part_m[(pc.head0 + h) * pc.parts + part] = m[h];
            part_l[(pc.head0 + h) * pc.parts + part] = lsum[h];
        }
        [[unroll]] for (uint i = 0; i < DPL; i++)
            part_o[((pc.head0 + h) * pc.parts + part) * D + lane * DPL + i] = acc[h * DPL + i];
    }
}
