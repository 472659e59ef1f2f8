#version 450
// Causal attention weights of consecutive query rows (tappa patterns): one
// workgroup per row of one query head. The invocations score a strided share
// of the visible keys into the output row, then a max, exp and sum pass and a
// division normalise it in place; keys after the query's position get 0.
// q: (n, d) of this head from q_base; k: (n, d) of its KV head from k_base;
// out: (rows, n) of this head from out_base; row r is query position row0 + r.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { STORE_T k[]; };
layout(binding = 2) buffer Out { float w[]; };

layout(push_constant) uniform Push {
    uint q_base, k_base, out_base;
    uint n, d;        // keys per head, head dim (<= MAX_D)
    uint row0;        // position of the first row's query
    uint rows;        // rows of this head (the grid may hold more workgroups)
    float scale;
} pc;

#define WG gl_WorkGroupSize.x
const uint MAX_D = 256;
shared float qs[MAX_D];
shared float red[WG];

float reduce(float x, bool is_max)
{
    uint l = gl_LocalInvocationID.x;
    red[l] = x;
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
    uint l = gl_LocalInvocationID.x, r = linear_group();
    if (r >= pc.rows) return; // the whole workgroup: no barrier is skipped by part of it
    uint p = pc.row0 + r;
    uint row = pc.out_base + r * pc.n;
    for (uint i = l; i < pc.d; i += WG) qs[i] = q[pc.q_base + p * pc.d + i] * pc.scale;
    barrier();
    float mx = -1.0 / 0.0;
    for (uint j = l; j < pc.n; j += WG) {
        float s = 0.0;
        if (j <= p) {
            for (uint i = 0; i < pc.d; i++) s += qs[i] * float(k[pc.k_base + j * pc.d + i]);
            mx = max(mx, s);
        }
        w[row + j] = s;
    }
    mx = reduce(mx, true); // key 0 is always visible: mx is finite
    float sum = 0.0;
    for (uint j = l; j <= p && j < pc.n; j += WG) {
        float e = exp(w[row + j] - mx);
        w[row + j] = e;
        sum += e;
    }
    sum = reduce(sum, false);
    for (uint j = l; j < pc.n; j += WG) w[row + j] = j <= p ? w[row + j] / sum : 0.0;
}
