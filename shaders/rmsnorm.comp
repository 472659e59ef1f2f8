#version 450
// RMSNorm of each row as transformers computes it: y = x / sqrt(mean(x^2) +
// eps) * weight. One workgroup per row; a tree reduction of the squares.
// Each invocation asks for UNROLL elements before it uses any: a decode step
// normalises one row, so the whole pass is one workgroup's memory latencies
// (H200, 4096 wide, as a decode step's stage: 15.2 us with one load in
// flight, 12.4 with 8).
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
layout(constant_id = 1) const uint UNROLL = 8;
shared float red[WG];

void main()
{
    uint row = linear_group();
    if (row >= pc.rows) return;
    uint l = gl_LocalInvocationID.x, xb = pc.x_base + row * pc.n, yb = pc.y_base + row * pc.n;
    float s = 0.0;
    for (uint i0 = l; i0 < pc.n; i0 += WG * UNROLL) {
        float v[UNROLL];
        [[unroll]] for (uint u = 0; u < UNROLL; u++) v[u] = i0 + u * WG < pc.n ? x[xb + i0 + u * WG] : 0.0;
        [[unroll]] for (uint u = 0; u < UNROLL; u++) s += v[u] * v[u];
    }
    red[l] = s;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (l < h) red[l] += red[l + h];
        barrier();
    }
    float scale = inversesqrt(red[0] / float(pc.n) + pc.eps);
    for (uint i0 = l; i0 < pc.n; i0 += WG * UNROLL) {
        float v[UNROLL], g[UNROLL];
        [[unroll]] for (uint u = 0; u < UNROLL; u++) {
            uint i = min(i0 + u * WG, pc.n - 1);
            v[u] = x[xb + i];
            g[u] = weight[i];
        }
        [[unroll]] for (uint u = 0; u < UNROLL; u++)
            if (i0 + u * WG < pc.n) y[yb + i0 + u * WG] = v[u] * scale * g[u];
    }
}
