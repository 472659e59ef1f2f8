#version 450
// Copy kernel: dst = src, 16 bytes per invocation, the last few words one at a
// time. Used by tappa_copy and by tappa-bench to measure copy bandwidth.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Src4 { uvec4 src4[]; };
layout(binding = 0) readonly buffer Src1 { uint src1[]; };
layout(binding = 1) writeonly buffer Dst4 { uvec4 dst4[]; };
layout(binding = 1) writeonly buffer Dst1 { uint dst1[]; };

layout(push_constant) uniform Push {
    uint words;  // 32-bit words in this segment
} pc;

void main()
{
    uint i = linear_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (4 * i + 3 < pc.words) {
        dst4[i] = src4[i];
    } else {
        for (uint w = 4 * i; w < pc.words && w < 4 * i + 4; w++) dst1[w] = src1[w];
    }
}
