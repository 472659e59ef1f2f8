#version 450
// q-similarity of each head in the O(T*D) form of SPEC.md: with
// u_t = q_t / max(|q_t|, 1e-8) (cosine), u_t = q_t (dot), or q_t centred over
// its d entries then normalised (pearson), and s = sum_t u_t,
// qsim = (|s|^2 - sum_t |u_t|^2) / (T (T - 1)), divided by d for pearson. One workgroup per head: rows
// are taken WG at a time, each invocation finds one row's inverse norm, then
// each invocation adds the scaled rows into the dimensions it owns.
// q: (heads, t, d) of this segment (segments hold whole heads); out: (all heads).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Q { STORE_T q[]; };
layout(binding = 1) writeonly buffer Out { float qsim[]; };

layout(push_constant) uniform Push {
    uint heads;    // heads in this segment
    uint head0;    // global index of the first one
    uint t;
    uint d;
    uint mode;     // 0: dot, 1: cosine, 2: pearson
} pc;

#define WG gl_WorkGroupSize.x
#define MAX_D_PER_INVOCATION 4  // d <= 4 * WG; the host checks
shared float inv_norm[WG];
shared float row_mean[WG]; // pearson: each staged row's mean over its d entries
shared float red[WG];

float reduce_sum(float v)
{
    uint l = gl_LocalInvocationID.x;
    red[l] = v;
    barrier();
    [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
        if (l < s) red[l] += red[l + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main()
{
    uint h = linear_group();
    if (h >= pc.heads) return;
    uint l = gl_LocalInvocationID.x;
    uint head_base = h * pc.t * pc.d;
    float s_part[MAX_D_PER_INVOCATION] = float[](0.0, 0.0, 0.0, 0.0);
    float unit_sq = 0.0; // this invocation's share of sum_t |u_t|^2
    for (uint t0 = 0; t0 < pc.t; t0 += WG) {
        uint t = t0 + l;
        float inv = 0.0, mean = 0.0;
        if (t < pc.t) {
            if (pc.mode == 2) {
                for (uint k = 0; k < pc.d; k++) mean += float(q[head_base + t * pc.d + k]);
                mean /= float(pc.d);
            }
            float sq = 0.0;
            for (uint k = 0; k < pc.d; k++) {
                float v = float(q[head_base + t * pc.d + k]) - mean;
                sq += v * v;
            }
            inv = pc.mode != 0 ? 1.0 / max(sqrt(sq), 1e-8) : 1.0;
            unit_sq += sq * inv * inv;
        }
        inv_norm[l] = inv;
        row_mean[l] = mean;
        barrier();
        uint rows = min(WG, pc.t - t0);
        [[unroll]] for (uint j = 0; j < MAX_D_PER_INVOCATION; j++) {
            uint k = l + j * WG;
            if (k < pc.d)
                for (uint r = 0; r < rows; r++)
                    s_part[j] += (float(q[head_base + (t0 + r) * pc.d + k]) - row_mean[r]) * inv_norm[r];
        }
        barrier();
    }
    float s_sq = 0.0;
    [[unroll]] for (uint j = 0; j < MAX_D_PER_INVOCATION; j++) s_sq += s_part[j] * s_part[j];
    s_sq = reduce_sum(s_sq);
    unit_sq = reduce_sum(unit_sq);
    if (l == 0) {
        float tt = float(pc.t);
        // Pearson divides by d as the reference does (SPEC.md).
        float scale = pc.mode == 2 ? 1.0 / float(pc.d) : 1.0;
        qsim[pc.head0 + h] = pc.t < 2 ? 0.0 : (s_sq - unit_sq) / (tt * (tt - 1.0)) * scale;
    }
}
