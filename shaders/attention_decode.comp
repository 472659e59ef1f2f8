#version 450
// Split-K attention for one new token per query head (decode), pass 1.
// A workgroup takes CHUNK keys of one KV head for all G query heads that share
// it, so K and V are read once. Invocations form NG = WG / 16 groups of 16
// lanes; a group takes every NG-th key, each lane DPL = D / 16 dims of it
// (one 16-byte load per lane for f16 at D = 128), U keys per iteration. The
// lane dot products are
// summed across the group (subgroup shuffles in the TAPPA_SUBGROUP variant,
// shared memory otherwise); each group keeps an online softmax, the groups
// are merged in shared memory at the end, and the workgroup writes one partial
// (m, l, o) per query head for attention_reduce.comp to merge.
// q: (G, d) from q_base; k, v: this piece's keys, (n, d) from k_base / v_base.
// part_m, part_l: (all query heads, parts); part_o: (all query heads, parts, d).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#ifdef TAPPA_SUBGROUP
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

layout(constant_id = 1) const uint D = 128;     // multiple of 16, <= 256
layout(constant_id = 2) const uint G = 1;       // query heads per KV head, <= 16
layout(constant_id = 3) const uint CHUNK = 256; // keys per workgroup, multiple of NG * U
layout(constant_id = 4) const uint U = 4;       // keys per group per loop iteration
const uint T = 16;
const uint NG = gl_WorkGroupSize.x / T;
const uint DPL = D / T;
const bool VEC8 = DPL == 8;                     // one 16-byte (f16) or two (f32) loads per lane
const uint MAX_DPL = 16;                        // D <= 256; arrays sized by it are only used up to DPL

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { STORE_T k[]; };
layout(binding = 2) readonly buffer V { STORE_T v[]; };
#ifdef TAPPA_F16
layout(binding = 1) readonly buffer K8 { uvec4 k8[]; };
layout(binding = 2) readonly buffer V8 { uvec4 v8[]; };
#else
layout(binding = 1) readonly buffer K8 { vec4 k4[]; };
layout(binding = 2) readonly buffer V8 { vec4 v4[]; };
#endif
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
shared float group_m[NG * G];
shared float group_l[NG * G];
shared float sum_o[G * D];

// DPL dims of row `row` starting at element base (a multiple of 8 when VEC8).
#ifdef TAPPA_F16
void load_row(bool is_v, uint base, out float x[MAX_DPL])
{
    if (VEC8) {
        uvec4 w = is_v ? v8[base / 8] : k8[base / 8];
        vec2 a = unpackHalf2x16(w.x), b = unpackHalf2x16(w.y);
        vec2 c = unpackHalf2x16(w.z), d = unpackHalf2x16(w.w);
        x[0] = a.x; x[1] = a.y; x[2] = b.x; x[3] = b.y;
        x[4] = c.x; x[5] = c.y; x[6] = d.x; x[7] = d.y;
    } else {
        [[unroll]] for (uint i = 0; i < DPL; i++) x[i] = float(is_v ? v[base + i] : k[base + i]);
    }
}
#else
void load_row(bool is_v, uint base, out float x[MAX_DPL])
{
    if (VEC8) {
        vec4 a = is_v ? v4[base / 4] : k4[base / 4];
        vec4 b = is_v ? v4[base / 4 + 1] : k4[base / 4 + 1];
        x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w;
        x[4] = b.x; x[5] = b.y; x[6] = b.z; x[7] = b.w;
    } else {
        [[unroll]] for (uint i = 0; i < DPL; i++) x[i] = is_v ? v[base + i] : k[base + i];
    }
}
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

    // U keys per group per iteration, all their K and V rows loaded before any
    // is used: the loads of one group overlap instead of waiting one by one.
    // The loop count is the same for every group, so the barriers of the
    // shared-memory reduction stay in uniform control flow.
    for (uint base = begin; base < end; base += NG * U) {
        float kf[U][MAX_DPL], vf[U][MAX_DPL];
        [[unroll]] for (uint u = 0; u < U; u++) {
            uint j = min(base + grp + u * NG, end - 1); // past the end: a valid row, masked below
            load_row(false, pc.k_base + j * D + lane * DPL, kf[u]);
            load_row(true, pc.v_base + j * D + lane * DPL, vf[u]);
        }
        float s[U][G];
        [[unroll]] for (uint u = 0; u < U; u++) {
            [[unroll]] for (uint h = 0; h < G; h++) {
                float p = 0.0;
                [[unroll]] for (uint i = 0; i < DPL; i++) p += qr[h * DPL + i] * kf[u][i];
#ifdef TAPPA_SUBGROUP
                p += subgroupShuffleXor(p, 8);
                p += subgroupShuffleXor(p, 4);
                p += subgroupShuffleXor(p, 2);
                p += subgroupShuffleXor(p, 1);
                s[u][h] = p;
#else
                red[l * G + h] = p;
#endif
            }
#ifndef TAPPA_SUBGROUP
            barrier();
            [[unroll]] for (uint h = 0; h < G; h++) {
                float p = 0.0;
                for (uint x = 0; x < T; x++) p += red[(grp * T + x) * G + h];
                s[u][h] = p;
            }
            barrier();
#endif
            if (base + grp + u * NG >= end) [[unroll]] for (uint h = 0; h < G; h++) s[u][h] = -1.0 / 0.0;
        }
        // One online-softmax step for the U keys together: one rescale of the
        // running sums per iteration, not one per key.
        [[unroll]] for (uint h = 0; h < G; h++) {
            float m_new = m[h];
            [[unroll]] for (uint u = 0; u < U; u++) m_new = max(m_new, s[u][h]);
            if (m_new == -1.0 / 0.0) continue; // no key of this iteration is valid
            float alpha = exp(m[h] - m_new);   // m = -inf at first: exp(-inf) = 0
            lsum[h] *= alpha;
            [[unroll]] for (uint i = 0; i < DPL; i++) acc[h * DPL + i] *= alpha;
            [[unroll]] for (uint u = 0; u < U; u++) {
                float p = exp(s[u][h] - m_new);  // masked keys: exp(-inf) = 0
                lsum[h] += p;
                [[unroll]] for (uint i = 0; i < DPL; i++) acc[h * DPL + i] += p * vf[u][i];
            }
            m[h] = m_new;
        }
    }

    // Merge the NG group states: common max, rescaled sums, and the outputs
    // added into shared memory one group at a time (no float atomics needed).
    if (lane == 0)
        [[unroll]] for (uint h = 0; h < G; h++) {
            group_m[grp * G + h] = m[h];
            group_l[grp * G + h] = lsum[h];
        }
    barrier();
    float scale_own[G];
    [[unroll]] for (uint h = 0; h < G; h++) {
        float mm = -1.0 / 0.0;
        for (uint g = 0; g < NG; g++) mm = max(mm, group_m[g * G + h]);
        // A group that saw no key has m = -inf and contributes nothing.
        scale_own[h] = m[h] == -1.0 / 0.0 ? 0.0 : exp(m[h] - mm);
        if (l == 0) {
            float ll = 0.0;
            for (uint g = 0; g < NG; g++) {
                float gm = group_m[g * G + h];
                if (gm != -1.0 / 0.0) ll += group_l[g * G + h] * exp(gm - mm);
            }
            part_m[(pc.head0 + h) * pc.parts + pc.part_base + chunk] = mm;
            part_l[(pc.head0 + h) * pc.parts + pc.part_base + chunk] = ll;
        }
    }
    for (uint g = 0; g < NG; g++) {
        if (grp == g)
            [[unroll]] for (uint h = 0; h < G; h++)
                [[unroll]] for (uint i = 0; i < DPL; i++) {
                    uint c = h * D + lane * DPL + i;
                    float x = acc[h * DPL + i] * scale_own[h];
                    sum_o[c] = g == 0 ? x : sum_o[c] + x;
                }
        barrier();
    }
    uint part = pc.part_base + chunk;
    for (uint c = l; c < G * D; c += gl_WorkGroupSize.x)
        part_o[((pc.head0 + c / D) * pc.parts + part) * D + c % D] = sum_o[c];
}
