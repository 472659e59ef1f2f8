#version 450
// KV compaction (SPEC.md step 5): row i < b of a head's output is the prompt
// row keep[i], row b + w the window row n - W + w, so the kept positions stay
// in positional order with the window last. Rows are copied as 32-bit words,
// one invocation per word, which serves f32 and f16 alike.
// One dispatch per head and per pair of source / destination pieces (a head
// may span several bindings on devices with small ones): src holds the head's
// rows [src_lo, src_hi) from src_base, dst its output rows [dst_lo, dst_hi)
// from dst_base; rows outside both are another dispatch's.
// keep: (b) from keep_base; src, dst: rows of `words` words.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Src { uint src[]; };
layout(binding = 1) readonly buffer Keep { int keep[]; };
layout(binding = 2) writeonly buffer Dst { uint dst[]; };

layout(push_constant) uniform Push {
    uint words, b, n, window, keep_base;
    uint src_base, src_lo, src_hi;
    uint dst_base, dst_lo, dst_hi;
} pc;

void main()
{
    uint x = linear_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint slot = pc.dst_lo + x / pc.words, c = x % pc.words;
    if (slot >= pc.dst_hi) return;
    uint row = slot < pc.b ? uint(keep[pc.keep_base + slot]) : pc.n - pc.window + (slot - pc.b);
    if (row < pc.src_lo || row >= pc.src_hi) return;
    dst[pc.dst_base + (slot - pc.dst_lo) * pc.words + c] = src[pc.src_base + (row - pc.src_lo) * pc.words + c];
}
