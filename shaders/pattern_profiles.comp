#version 450
// What tappa patterns reads from a head's sampled attention rows, on the GPU.
// One dispatch per head. rows: (s, n) from a_base, row r the causal weights
// of query position p = n - s + r.
// MODE 0, one invocation per key or offset j (n / WG workgroups):
//   col[j] = mean over rows of A[r][j]            (mass per key), from col_base
//   off[j] = mean over rows of A[r][p_r - j]       (mass per offset, 0 past p_r), from off_base
// MODE 1, one workgroup per row r >= 1 (s - 1 workgroups):
//   pred[r] = max(A_r . A_r-1, A_r . (A_r-1 moved one key on)) / (|A_r| |A_r-1|),
//   pred[0] = 0, from pred_base: how well the previous row predicts this one.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint MODE = 0;

layout(binding = 0) readonly buffer Rows { float a[]; };
layout(binding = 1) writeonly buffer Col { float col[]; };
layout(binding = 2) writeonly buffer Off { float off[]; };
layout(binding = 3) writeonly buffer Pred { float pred[]; };

layout(push_constant) uniform Push {
    uint s, n;
    uint a_base, col_base, off_base, pred_base;
} pc;

#define WG gl_WorkGroupSize.x
shared vec4 red[WG];

void profiles()
{
    uint j = linear_group() * WG + gl_LocalInvocationID.x;
    if (j >= pc.n) return;
    uint base = pc.a_base, row0 = pc.n - pc.s;
    float c = 0.0, o = 0.0;
    for (uint r = 0; r < pc.s; r++) {
        uint p = row0 + r;
        c += a[base + r * pc.n + j];
        if (j <= p) o += a[base + r * pc.n + p - j];
    }
    col[pc.col_base + j] = c / float(pc.s);
    off[pc.off_base + j] = o / float(pc.s);
}

void predictability()
{
    uint r = linear_group() + 1, l = gl_LocalInvocationID.x;
    if (r >= pc.s) return; // the whole workgroup: no barrier is skipped by part of it
    uint cur = pc.a_base + r * pc.n, prev = cur - pc.n, p = pc.n - pc.s + r;
    vec4 acc = vec4(0.0); // |A_r|^2, |A_r-1|^2, A_r . A_r-1, A_r . (A_r-1 moved on)
    for (uint j = l; j <= p; j += WG) {
        float x = a[cur + j];
        acc.x += x * x;
        if (j < p) {
            float y = a[prev + j];
            acc.y += y * y;
            acc.z += x * y;
        }
        if (j > 0) acc.w += x * a[prev + j - 1];
    }
    red[l] = acc;
    barrier();
    for (uint t = WG / 2; t > 0; t >>= 1) {
        if (l < t) red[l] += red[l + t];
        barrier();
    }
    if (l == 0) {
        vec4 v = red[0];
        float norm = sqrt(v.x * v.y);
        pred[pc.pred_base + r] = norm > 0.0 ? max(v.z, v.w) / norm : 0.0;
        if (r == 1) pred[pc.pred_base] = 0.0;
    }
}

void main()
{
    if (MODE == 0) profiles();
    else predictability();
}
