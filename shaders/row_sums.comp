#version 450
// Sums of the first `cols` entries of each row of a (rows, stride) f32
// matrix: the cake preference's entropy and variance totals per head. One
// workgroup per row; each invocation sums a strided share, then a tree
// reduction in shared memory.
// x: (rows, stride) from x_base; out: (rows) from out_base.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer Out { float sums[]; };

layout(push_constant) uniform Push {
    uint cols, stride, x_base, out_base;
} pc;

#define WG gl_WorkGroupSize.x
shared float red[WG];

void main()
{
    uint l = gl_LocalInvocationID.x, row = linear_group();
    float s = 0.0;
    for (uint j = l; j < pc.cols; j += WG) s += x[pc.x_base + row * pc.stride + j];
    red[l] = s;
    barrier();
    for (uint h = WG / 2u; h > 0u; h >>= 1) {
        if (l < h) red[l] += red[l + h];
        barrier();
    }
    if (l == 0u) sums[pc.out_base + row] = red[0];
}
