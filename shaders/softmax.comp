#version 450
// Numerically stable softmax over each row: one workgroup per row. Pass one
// keeps a running (max, sum of exp) per invocation and merges them with a
// shared-memory tree, so the row is read twice and written once; no subgroup
// operations, so it runs on any subgroup size. x, y: (rows, cols) of this segment.
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
shared float red_m[WG];
shared float red_s[WG];

// Merge two partial (max, sum) pairs; a side that saw nothing has max -inf
// and sum 0 and must not produce exp(-inf - -inf) = NaN.
void merge(inout float m, inout float s, float m2, float s2)
{
    float mm = max(m, m2);
    if (mm == -1.0 / 0.0) return;
    s = s * exp(m - mm) + s2 * exp(m2 - mm);
    m = mm;
}

void main()
{
    uint row = linear_group();
    if (row >= pc.rows) return; // whole workgroup leaves together: barriers stay uniform
    uint base = row * pc.cols;
    uint l = gl_LocalInvocationID.x;
    float m = -1.0 / 0.0, s = 0.0;
    for (uint c = l; c < pc.cols; c += WG) {
        float v = float(x[base + c]);
        // One exp per element: rescale the sum only when the max moves.
        if (v > m) {
            s = s * exp(m - v) + 1.0;
            m = v;
        } else {
            s += exp(v - m);
        }
    }
    red_m[l] = m;
    red_s[l] = s;
    barrier();
    [[unroll]] for (uint stride = WG / 2; stride > 0; stride >>= 1) {
        if (l < stride) {
            float mm = red_m[l], ss = red_s[l];
            merge(mm, ss, red_m[l + stride], red_s[l + stride]);
            red_m[l] = mm;
            red_s[l] = ss;
        }
        barrier();
    }
    float row_max = red_m[0];
    float inv = 1.0 / red_s[0];
    for (uint c = l; c < pc.cols; c += WG) y[base + c] = TO_STORE(exp(float(x[base + c]) - row_max) * inv);
}
