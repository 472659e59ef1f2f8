#version 450
// ShortGPT block influence of each token: 1 - cos(a_t, b_t) between the
// hidden state entering a layer (a) and the one leaving it (b). One workgroup
// per token row. Computed as |a/|a| - b/|b||^2 / 2, which equals 1 - cos but
// keeps its precision when the two rows are nearly parallel (hidden states
// change little from layer to layer, so 1 - cos is often a few hundredths and
// a float32 cosine would lose digits to cancellation): a first loop finds the
// norms, a second (reading rows the first just brought into cache) the
// distance of the unit rows. A cosine that is NaN (a zero or non-finite row)
// counts as 0.5, as ShortGPT's nan_to_num does, so the token scores 0.5.
// a, b: (rows, dm) from a_base / b_base; out: (rows) from out_base.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer A { STORE_T a[]; };
layout(binding = 1) readonly buffer B { STORE_T b[]; };
layout(binding = 2) writeonly buffer Out { float bi[]; };

layout(push_constant) uniform Push {
    uint rows, dm, a_base, b_base, out_base;
} pc;

#define WG gl_WorkGroupSize.x
shared vec2 red[WG];

vec2 reduce_sum(vec2 v)
{
    uint l = gl_LocalInvocationID.x;
    red[l] = v;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (l < s) red[l] += red[l + s];
        barrier();
    }
    vec2 r = red[0];
    barrier();
    return r;
}

void main()
{
    uint row = linear_group();
    if (row >= pc.rows) return; // grid padding: the whole workgroup leaves
    uint l = gl_LocalInvocationID.x;
    uint ra = pc.a_base + row * pc.dm, rb = pc.b_base + row * pc.dm;
    vec2 sq = vec2(0.0);
    for (uint i = l; i < pc.dm; i += WG) {
        float x = float(a[ra + i]), y = float(b[rb + i]);
        sq += vec2(x * x, y * y);
    }
    sq = reduce_sum(sq);
    float na = sqrt(sq.x), nb = sqrt(sq.y);
    float ia = 1.0 / na, ib = 1.0 / nb;
    float dist = 0.0;
    for (uint i = l; i < pc.dm; i += WG) {
        float e = float(a[ra + i]) * ia - float(b[rb + i]) * ib;
        dist += e * e;
    }
    dist = reduce_sum(vec2(dist, 0.0)).x;
    if (l == 0) {
        float v = 0.5 * dist;
        // Zero rows give 0 * inf = NaN above; non-finite rows NaN or inf.
        bool defined = na > 0.0 && nb > 0.0 && !isinf(na) && !isinf(nb) && !isnan(v);
        bi[pc.out_base + row] = defined ? v : 0.5;
    }
}
