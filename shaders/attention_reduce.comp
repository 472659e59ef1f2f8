#version 450
// Split-K attention, pass 2: merge the partials (m, l, o) of each query head
// into its output row and log-sum-exp. One workgroup per query head, one
// invocation per output dim. A partial that saw no key has m = -inf, l = 0.
// part_m, part_l: (heads, parts); part_o: (heads, parts, d); o: (heads, d).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer PartM { float part_m[]; };
layout(binding = 1) readonly buffer PartL { float part_l[]; };
layout(binding = 2) readonly buffer PartO { float part_o[]; };
layout(binding = 3) writeonly buffer O { float o[]; };
layout(binding = 4) writeonly buffer Lse { float lse[]; };

layout(push_constant) uniform Push {
    uint heads, parts, d;
    uint o_base, lse_base;
} pc;

void main()
{
    uint h = linear_group();
    if (h >= pc.heads) return;
    float m = -1.0 / 0.0;
    for (uint p = 0; p < pc.parts; p++) m = max(m, part_m[h * pc.parts + p]);
    float lsum = 0.0;
    for (uint p = 0; p < pc.parts; p++) {
        float pm = part_m[h * pc.parts + p];
        if (pm != -1.0 / 0.0) lsum += part_l[h * pc.parts + p] * exp(pm - m);
    }
    for (uint c = gl_LocalInvocationID.x; c < pc.d; c += gl_WorkGroupSize.x) {
        float acc = 0.0;
        for (uint p = 0; p < pc.parts; p++) {
            float pm = part_m[h * pc.parts + p];
            if (pm != -1.0 / 0.0) acc += part_o[(h * pc.parts + p) * pc.d + c] * exp(pm - m);
        }
        o[pc.o_base + h * pc.d + c] = acc / lsum;
    }
    if (gl_LocalInvocationID.x == 0) lse[pc.lse_base + h] = m + log(lsum);
}
