#version 450
// Append t positions of every KV head to a layer's cache, K and V in one
// dispatch: cache_k[(h * capacity + at + i) * d + j] = k[(h * stride + i) * d + j],
// the same for V, copied as 32-bit words (f32, or f16 pairs). One dispatch
// instead of one copy command per head and tensor: a decode step appends 2 KB
// per head, where each copy command costs the GPU's front end more than the
// bytes (H200, Llama-3-8B: 16 copies took 25 us a layer).
// k, v: (heads, stride, row) words from their bindings' start; cache_k,
// cache_v: (heads, capacity, row) words from dst_base; row = d in words.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer K { uint k[]; };
layout(binding = 1) readonly buffer V { uint v[]; };
layout(binding = 2) writeonly buffer CacheK { uint cache_k[]; };
layout(binding = 3) writeonly buffer CacheV { uint cache_v[]; };

layout(push_constant) uniform Push {
    uint per_head;        // words appended per head: t * row
    uint heads;
    uint src_head_stride;
    uint dst_base, dst_head_stride;
} pc;

void main()
{
    uint i = linear_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= pc.per_head * pc.heads) return;
    uint h = i / pc.per_head, e = i % pc.per_head;
    uint from = h * pc.src_head_stride + e, to = pc.dst_base + h * pc.dst_head_stride + e;
    cache_k[to] = k[from];
    cache_v[to] = v[from];
}
