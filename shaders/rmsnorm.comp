#version 450
// RMSNorm of each row as transformers computes it: y = x / sqrt(mean(x^2) +
// eps) * weight. `slices` workgroups per row: each sums the whole row's
// squares (a tree reduction, in the same order in every slice, so all agree
// to the bit) and writes its span of y. A decode step normalises one row: one
// workgroup would wait on memory twice over the whole row; slices share the
// writing, and each asks for its span of x and weight before the sum, so the
// step waits for memory about once (H200, 4096 wide, as a decode step's
// stage: 12.4 us in one workgroup, 5.5-6.3 in 16 slices).
// Each invocation asks for UNROLL elements before it uses any.
// x, y: (rows, n) from x_base / y_base; weight: (n).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer Weight { float weight[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows, n, x_base, y_base;
    float eps;
    uint slices; // workgroups per row
    uint span;   // elements of y per slice
} pc;

#define WG gl_WorkGroupSize.x
layout(constant_id = 1) const uint UNROLL = 8;
shared float red[WG];

void main()
{
    uint group = linear_group(), row = group / pc.slices, slice = group % pc.slices;
    if (row >= pc.rows) return;
    uint l = gl_LocalInvocationID.x, xb = pc.x_base + row * pc.n, yb = pc.y_base + row * pc.n;
    uint first = slice * pc.span, last = min(first + pc.span, pc.n);
    float v0[UNROLL], g0[UNROLL];
    [[unroll]] for (uint u = 0; u < UNROLL; u++) {
        uint i = min(first + l + u * WG, pc.n - 1);
        v0[u] = x[xb + i];
        g0[u] = weight[i];
    }
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
    for (uint i0 = first + l; i0 < last; i0 += WG * UNROLL) {
        float v[UNROLL], g[UNROLL];
        [[unroll]] for (uint u = 0; u < UNROLL; u++) {
            uint i = min(i0 + u * WG, pc.n - 1);
            v[u] = i0 == first + l ? v0[u] : x[xb + i];
            g[u] = i0 == first + l ? g0[u] : weight[i];
        }
        [[unroll]] for (uint u = 0; u < UNROLL; u++)
            if (i0 + u * WG < last) y[yb + i0 + u * WG] = v[u] * scale * g[u];
    }
}
