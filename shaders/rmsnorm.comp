#version 450
// RMSNorm of each row as transformers computes it: y = x / sqrt(mean(x^2) +
// eps) * weight. One workgroup per row; a tree reduction of the squares.
// x, y: (rows, n) from x_base / y_base; weight: (n).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer Weight { float weight[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows, n, x_base, y_base;
    float eps;
} pc;

#define WG gl_WorkGroupSize.x
shared float red[WG];

void main()
{
    uint row = linear_group();
    if (row >= pc.rows) return;
    uint l = gl_LocalInvocationID.x, xb = pc.x_base + row * pc.n, yb = pc.y_base + row * pc.n;
    float s = 0.0;
    for (uint i = l; i < pc.n; i += WG) s += x[xb + i] * x[xb + i];
    red[l] = s;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (l < h) red[l] += red[l + h];
        barrier();
    }
    float scale = inversesqrt(red[0] / float(pc.n) + pc.eps);
    for (uint i = l; i < pc.n; i += WG) y[yb + i] = x[xb + i] * scale * weight[i];
}
