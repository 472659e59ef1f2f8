#version 450
// Append t positions of every KV head to a layer's cache, K and V in one
// dispatch: cache_k[(h * capacity + at + i) * d + j] = k[(h * stride + i) * d + j],
// the same for V, copied as 32-bit words (f32, or f16 pairs). One dispatch
// instead of one copy command per head and tensor: a decode step appends 2 KB
// per head, where each copy command costs the GPU's front end more than the
// bytes (H200, Llama-3-8B: 16 copies took 25 us a layer).
// ROPE (f32 rows): K is rotated on its way in, as rope.comp rotates it (the
// same table and arithmetic), position t0 + i for row i; an invocation takes
// one rotated pair of K and the same two words of V. A decode step then
// needs no RoPE step for K, nor the barrier between it and the append.
// k, v: (heads, stride, row) words from their bindings' start; cache_k,
// cache_v: (heads, capacity, row) words from dst_base; row = d in words.
// table (ROPE): rope.comp's (256 + n_hi, d / 2) (cos, sin).
// PRESCALE (with ROPE): row i of K and V is first multiplied by the RMSNorm
// scale of row i of resid (rms_scale.glsl; resid: (t, embd) from
// resid_base), as rope.comp's PRESCALE: keys and values of products of the
// norm's weighted input.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "rope_angle.glsl"

layout(constant_id = 1) const bool ROPE = false;
layout(constant_id = 2) const bool PRESCALE = false;

layout(binding = 0) readonly buffer K { uint k[]; };
layout(binding = 1) readonly buffer V { uint v[]; };
layout(binding = 2) writeonly buffer CacheK { uint cache_k[]; };
layout(binding = 3) writeonly buffer CacheV { uint cache_v[]; };
layout(binding = 4) readonly buffer Table { vec2 table[]; };
layout(binding = 5) readonly buffer Resid { float resid[]; };

#define RMS_X resid
#include "rms_scale.glsl"

layout(push_constant) uniform Push {
    uint per_head;        // words appended per head: t * row (ROPE: pairs, t * d / 2)
    uint heads;
    uint src_head_stride;
    uint dst_base, dst_head_stride;
    uint half_d;          // ROPE: d / 2
    uint interleaved;     // ROPE: 0 pairs (j, j + d/2); 1 pairs (2j, 2j + 1)
    uint t0;              // ROPE: table position of row 0
    uint tokens, embd, resid_base; // PRESCALE: t <= RMS_MAX_ROWS
    float eps;
} pc;

void main()
{
    uint i0 = linear_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (!PRESCALE && i0 >= pc.per_head * pc.heads) return;
    uint i = min(i0, pc.per_head * pc.heads - 1); // PRESCALE past the end: a valid pair, not written
    uint h = i / pc.per_head, e = i % pc.per_head;
    uint from = h * pc.src_head_stride, to = pc.dst_base + h * pc.dst_head_stride;
    if (!ROPE) {
        cache_k[to + e] = k[from + e];
        cache_v[to + e] = v[from + e];
        return;
    }
    uint row = e / pc.half_d, j = e % pc.half_d, t = pc.t0 + row;
    vec2 cs = rope_angle(table[(t & 255u) * pc.half_d + j], table[(256u + (t >> 8)) * pc.half_d + j]);
    uint base = row * 2 * pc.half_d;
    uint a = pc.interleaved != 0 ? base + 2 * j : base + j;
    uint b = pc.interleaved != 0 ? a + 1 : a + pc.half_d;
    // Asked for before the row sums, so both wait on memory together.
    float x0 = uintBitsToFloat(k[from + a]), x1 = uintBitsToFloat(k[from + b]);
    float v0 = uintBitsToFloat(v[from + a]), v1 = uintBitsToFloat(v[from + b]);
    if (PRESCALE) {
        rms_scale_rows(pc.resid_base, pc.tokens, pc.embd, pc.eps);
        if (i0 >= pc.per_head * pc.heads) return;
        float sc = rms_row_scale[row];
        x0 *= sc;
        x1 *= sc;
        v0 *= sc;
        v1 *= sc;
    }
    cache_k[to + a] = floatBitsToUint(x0 * cs.x - x1 * cs.y);
    cache_k[to + b] = floatBitsToUint(x0 * cs.y + x1 * cs.x);
    cache_v[to + a] = floatBitsToUint(v0);
    cache_v[to + b] = floatBitsToUint(v1);
}
