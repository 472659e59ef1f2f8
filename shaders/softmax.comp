#version 450
// Numerically stable softmax over each row: one workgroup per row, three
// strided passes (max, sum of exp, write) with shared-memory tree reductions,
// so it runs on any subgroup size. x, y: (rows, cols) of this segment.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer X { STORE_T x[]; };
layout(binding = 1) writeonly buffer Y { STORE_T y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint cols;
} pc;

// Workgroup size (power of two) from specialization constant 0.
#define WG gl_WorkGroupSize.x
shared float red[WG];

float reduce(float v, bool is_max)
{
    uint l = gl_LocalInvocationID.x;
    red[l] = v;
    barrier();
    [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
        if (l < s) red[l] = is_max ? max(red[l], red[l + s]) : red[l] + red[l + s];
        barrier();
    }
    float r = red[0];
    barrier(); // red is reused by the next reduction
    return r;
}

void main()
{
    uint row = linear_group();
    if (row >= pc.rows) return; // whole workgroup leaves together: barriers stay uniform
    uint base = row * pc.cols;
    uint l = gl_LocalInvocationID.x;
    float m = -1.0 / 0.0;
    for (uint c = l; c < pc.cols; c += WG) m = max(m, float(x[base + c]));
    m = reduce(m, true);
    float s = 0.0;
    for (uint c = l; c < pc.cols; c += WG) s += exp(float(x[base + c]) - m);
    s = reduce(s, false);
    float inv = 1.0 / s;
    for (uint c = l; c < pc.cols; c += WG) y[base + c] = TO_STORE(exp(float(x[base + c]) - m) * inv);
}
