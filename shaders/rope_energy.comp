#version 450
// Which rotary pairs drive a head (tappa patterns' RoPE picture): one
// workgroup per query head; pair j's share of sum over t of |q_j(t)| |k_j(t)|,
// the most it can add to the head's scores. Pairs are (j, j + d/2) for
// rotate-half, (2j, 2j + 1) when INTERLEAVED.
// q: (n, d) of the head from q_base; k: (n, d) of its KV head from k_base;
// out: (d / 2) from out_base.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const bool INTERLEAVED = false;

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { STORE_T k[]; };
layout(binding = 2) writeonly buffer Out { float energy[]; };

layout(push_constant) uniform Push {
    uint q_base, k_base, out_base;
    uint n, d;
} pc;

#define WG gl_WorkGroupSize.x
const uint MAX_PAIRS = 128; // d <= 256
shared float sums[MAX_PAIRS];
shared float red[WG];

void main()
{
    uint l = gl_LocalInvocationID.x, pairs = pc.d / 2;
    float own = 0.0;
    for (uint j = l; j < pairs; j += WG) {
        uint a = INTERLEAVED ? 2 * j : j, b = INTERLEAVED ? 2 * j + 1 : j + pairs;
        float s = 0.0;
        for (uint t = 0; t < pc.n; t++) {
            vec2 x = vec2(q[pc.q_base + t * pc.d + a], q[pc.q_base + t * pc.d + b]);
            vec2 y = vec2(float(k[pc.k_base + t * pc.d + a]), float(k[pc.k_base + t * pc.d + b]));
            s += length(x) * length(y);
        }
        sums[j] = s;
        own += s;
    }
    red[l] = own;
    barrier();
    for (uint t = WG / 2; t > 0; t >>= 1) {
        if (l < t) red[l] += red[l + t];
        barrier();
    }
    float total = red[0];
    for (uint j = l; j < pairs; j += WG) energy[pc.out_base + j] = total > 0.0 ? sums[j] / total : 0.0;
}
