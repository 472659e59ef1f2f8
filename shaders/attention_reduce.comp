#version 450
// Split-K attention, pass 2: merge the partials (m, l, o) of each query head
// into its output row and log-sum-exp. One workgroup per query head. The
// partials' weights exp(m_p - M) / L are found in parallel (one invocation
// per partial, tree reductions in shared memory). Then the workgroup reads
// the partial outputs as vec4s, d / 4 invocations per partial row and as many
// rows side by side as fit, UNR loads in flight each, and adds the rows'
// sums in shared memory: the pass costs a few memory latencies rather than
// one per partial (at 32K context, 64 partials: 2 rounds of loads, not 8).
// A partial that saw no key has m = -inf, l = 0. d is a multiple of 4. part_m, part_l: (heads, parts); part_o: (heads,
// parts, d); o: (heads, d).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer PartM { float part_m[]; };
layout(binding = 1) readonly buffer PartL { float part_l[]; };
layout(binding = 2) readonly buffer PartO { vec4 part_o4[]; };
layout(binding = 3) writeonly buffer O { float o[]; };
layout(binding = 4) writeonly buffer Lse { float lse[]; };

layout(push_constant) uniform Push {
    uint heads, parts, d;   // parts <= MAX_PARTS, d <= 4 * WG
    uint o_base, lse_base;
} pc;

#define WG gl_WorkGroupSize.x
const uint MAX_PARTS = 2048;
const uint UNR = 4;
shared float weight[MAX_PARTS]; // m of each partial, then its weight
shared float red[WG];
shared vec4 row_sum[WG];

float reduce(float v, bool is_max)
{
    uint l = gl_LocalInvocationID.x;
    red[l] = v;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (l < s) red[l] = is_max ? max(red[l], red[l + s]) : red[l] + red[l + s];
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
    uint row = h * pc.parts;
    float m = -1.0 / 0.0;
    for (uint p = l; p < pc.parts; p += WG) {
        float pm = part_m[row + p];
        weight[p] = pm;
        m = max(m, pm);
    }
    m = reduce(m, true); // the barriers also publish weight[]
    float s = 0.0;
    for (uint p = l; p < pc.parts; p += WG) {
        float pm = weight[p];
        float e = pm == -1.0 / 0.0 ? 0.0 : exp(pm - m);
        weight[p] = e;
        s += part_l[row + p] * e;
    }
    s = reduce(s, false);

    uint d4 = pc.d / 4, rows = WG / d4;
    uint lane = l % d4, r = l / d4;
    vec4 acc[UNR];
    [[unroll]] for (uint u = 0; u < UNR; u++) acc[u] = vec4(0.0);
    if (r < rows) {
        uint p = r;
        for (; p + (UNR - 1) * rows < pc.parts; p += UNR * rows)
            [[unroll]] for (uint u = 0; u < UNR; u++) {
                uint pp = p + u * rows;
                acc[u] += weight[pp] * part_o4[(row + pp) * d4 + lane];
            }
        for (; p < pc.parts; p += rows) acc[0] += weight[p] * part_o4[(row + p) * d4 + lane];
    }
    vec4 total = vec4(0.0);
    [[unroll]] for (uint u = 0; u < UNR; u++) total += acc[u];
    row_sum[l] = total;
    barrier();
    if (l < d4) {
        for (uint x = 1; x < rows; x++) total += row_sum[x * d4 + l];
        uint c = pc.o_base + h * pc.d + 4 * l;
        o[c] = total.x / s;
        o[c + 1] = total.y / s;
        o[c + 2] = total.z / s;
        o[c + 3] = total.w / s;
    }
    if (l == 0) lse[pc.lse_base + h] = m + log(s);
}
