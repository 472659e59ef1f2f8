#version 450
// Split-K attention, pass 2: merge the partials (m, l, o) of each query head
// into its output row and log-sum-exp. One workgroup per query head. The
// partials' weights exp(m_p - M) / L are found in parallel (one invocation
// per partial, tree reductions in shared memory); then each invocation sums
// its output dims over the partials, UNR loads in flight, so the pass costs a
// few memory latencies rather than one per partial. A partial that saw no key
// has m = -inf, l = 0. part_m, part_l: (heads, parts); part_o: (heads,
// parts, d); o: (heads, d).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer PartM { float part_m[]; };
layout(binding = 1) readonly buffer PartL { float part_l[]; };
layout(binding = 2) readonly buffer PartO { float part_o[]; };
layout(binding = 3) writeonly buffer O { float o[]; };
layout(binding = 4) writeonly buffer Lse { float lse[]; };

layout(push_constant) uniform Push {
    uint heads, parts, d;   // parts <= MAX_PARTS
    uint o_base, lse_base;
} pc;

#define WG gl_WorkGroupSize.x
const uint MAX_PARTS = 2048;
const uint UNR = 8;
shared float weight[MAX_PARTS];
shared float red[WG];

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
    for (uint p = l; p < pc.parts; p += WG) m = max(m, part_m[row + p]);
    m = reduce(m, true);
    float s = 0.0;
    for (uint p = l; p < pc.parts; p += WG) {
        float pm = part_m[row + p];
        float e = pm == -1.0 / 0.0 ? 0.0 : exp(pm - m);
        weight[p] = e;
        s += part_l[row + p] * e;
    }
    s = reduce(s, false); // the barriers also publish weight[]
    for (uint c = l; c < pc.d; c += WG) {
        float acc[UNR];
        [[unroll]] for (uint u = 0; u < UNR; u++) acc[u] = 0.0;
        uint p = 0;
        for (; p + UNR <= pc.parts; p += UNR)
            [[unroll]] for (uint u = 0; u < UNR; u++)
                acc[u] += weight[p + u] * part_o[(row + p + u) * pc.d + c];
        for (; p < pc.parts; p++) acc[0] += weight[p] * part_o[(row + p) * pc.d + c];
        float total = 0.0;
        [[unroll]] for (uint u = 0; u < UNR; u++) total += acc[u];
        o[pc.o_base + h * pc.d + c] = total / s;
    }
    if (l == 0) lse[pc.lse_base + h] = m + log(s);
}
