#version 450
// Window-attention statistics for one query head (SPEC.md, KV compression
// steps 1-2). The last W queries attend causally to the n keys:
// A[w][j] = exp(q_w . k_j / sqrt(d) - lse[w]) for j <= n - W + w, else 0.
// PASS 0: one workgroup per window query finds lse[w] (online max/sum).
// PASS 1: one invocation per key j takes mean and unbiased variance over w
// (Welford), so the (W, n) matrix never exists in memory.
// q, k: segments holding this head's (n, d) rows from element q_base / k_base.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint PASS = 0;

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { float k[]; };
layout(binding = 2) buffer Lse { float lse[]; };     // (W) scratch for this head
layout(binding = 3) writeonly buffer Mean { float mean_out[]; };
layout(binding = 4) writeonly buffer Var { float var_out[]; };

layout(push_constant) uniform Push {
    uint q_base;
    uint k_base;
    uint out_base;  // element offset of this head's row in mean/var
    uint n;
    uint d;
    uint window;
    float scale;
} pc;

#define WG gl_WorkGroupSize.x
shared float red_m[WG];
shared float red_s[WG];

float logit(uint w, uint j)
{
    uint qi = pc.q_base + (pc.n - pc.window + w) * pc.d;
    uint ki = pc.k_base + j * pc.d;
    float acc = 0.0;
    for (uint c = 0; c < pc.d; c++) acc += q[qi + c] * k[ki + c];
    return acc * pc.scale;
}

void lse_pass()
{
    uint w = linear_group();
    if (w >= pc.window) return;
    uint l = gl_LocalInvocationID.x;
    uint last = pc.n - pc.window + w; // causal: keys 0..last
    float m = -1.0 / 0.0, s = 0.0;
    for (uint j = l; j <= last; j += WG) {
        float x = logit(w, j);
        float m2 = max(m, x);
        s = s * exp(m - m2) + exp(x - m2);
        m = m2;
    }
    red_m[l] = m;
    red_s[l] = s;
    barrier();
    for (uint stride = WG / 2; stride > 0; stride >>= 1) {
        if (l < stride) {
            float ma = red_m[l], mb = red_m[l + stride];
            float mm = max(ma, mb);
            // An invocation that saw no key has m = -inf and s = 0: weight it 0.
            float sa = ma == mm ? red_s[l] : red_s[l] * exp(ma - mm);
            float sb = mb == mm ? red_s[l + stride] : red_s[l + stride] * exp(mb - mm);
            red_m[l] = mm;
            red_s[l] = sa + sb;
        }
        barrier();
    }
    if (l == 0) lse[w] = red_m[0] + log(red_s[0]);
}

void stats_pass()
{
    uint j = linear_group() * WG + gl_LocalInvocationID.x;
    if (j >= pc.n) return;
    float mean = 0.0, m2 = 0.0;
    for (uint w = 0; w < pc.window; w++) {
        float a = j <= pc.n - pc.window + w ? exp(logit(w, j) - lse[w]) : 0.0;
        float delta = a - mean;
        mean += delta / float(w + 1);
        m2 += delta * (a - mean);
    }
    mean_out[pc.out_base + j] = mean;
    var_out[pc.out_base + j] = pc.window > 1 ? m2 / float(pc.window - 1) : 0.0;
}

void main()
{
    if (PASS == 0)
        lse_pass();
    else
        stats_pass();
}
