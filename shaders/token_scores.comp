#version 450
// Token importance for KV compression (SPEC.md step 2): for each KV head and
// non-window key j < n - W, the per-query-head score s = a + gamma * b
// (tappa/cake: a = window mean, b = window variance; snapkv: a = W * mean,
// gamma = 0; h2o: a = the column sum over all queries, gamma = 0), average-
// pooled along the keys with kernel K, zero padding K / 2 and divisor always
// K, then averaged over the G query heads of the KV head.
// One dispatch per KV head: a, b hold its G query heads' rows (G, n) from
// a_base / b_base; out its (n - W) scores from out_base.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) writeonly buffer Out { float score[]; };

layout(push_constant) uniform Push {
    uint g, n, keys;       // keys = n - W, the scored (non-window) positions
    float a_scale, gamma;
    uint kernel;           // odd
    uint a_base, b_base, out_base;
} pc;

void main()
{
    uint j = linear_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (j >= pc.keys) return;
    int half_k = int(pc.kernel / 2);
    float sum = 0.0;
    for (uint x = 0; x < pc.g; x++) {
        for (int o = -half_k; o <= half_k; o++) {
            int jj = int(j) + o;
            if (jj < 0 || jj >= int(pc.keys)) continue; // zero padding
            uint at = x * pc.n + uint(jj);
            sum += pc.a_scale * a[pc.a_base + at] + pc.gamma * b[pc.b_base + at];
        }
    }
    score[pc.out_base + j] = sum / (float(pc.kernel) * float(pc.g));
}
