#version 450
// y[t][r] (+)= bias[r] + W[r] . x[t] for up to MAX_T tokens. W is read once
// in 16-byte groups (uvec4) and dequantised in registers; each group's values
// meet all tokens' x. TAPPA_SUBGROUP: one subgroup per row, UNROLL groups'
// loads in flight per lane, summed by subgroupAdd (no barriers, several rows
// per workgroup); otherwise one workgroup per row and a shared-memory tree. FORMAT 0: f32 (4 values
// per group), 1: f16 (8), 2: q8_0 repacked (16 int8 values, scale per 32),
// 3: q4_0 repacked (32 nibbles holding value + 8, one scale).
// w: (rows, groups) uvec4 from w_base; scales: (rows, cols / 32) from s_base;
// x: (T, cols); y: (T, y_stride) from y_base + row0, or with head_dim set
// head-major (rows / head_dim, y_stride, head_dim): row r of token t at
// ((r / head_dim) * y_stride + t) * head_dim + r % head_dim, the layout RoPE
// and the KV cache take for a chunk of tokens.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#ifdef TAPPA_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(constant_id = 1) const uint FORMAT = 0;
const uint MAX_T = 8;
layout(constant_id = 2) const uint UNROLL = 4; // TAPPA_SUBGROUP: uvec4 loads in flight per lane

layout(binding = 0) readonly buffer W { uvec4 w[]; };
layout(binding = 1) readonly buffer Scales { float scales[]; };
layout(binding = 2) readonly buffer X { vec4 x[]; };
layout(binding = 3) readonly buffer Bias { float bias[]; };
layout(binding = 4) buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;       // rows in this dispatch
    uint row0;       // global index of its first row
    uint cols;
    uint w_base;     // uvec4 index of its first row
    uint s_base;     // scale index of its first row
    uint tokens;     // T <= MAX_T
    uint y_stride;   // floats between tokens in y (all rows)
    uint y_base;
    uint accumulate; // 1: add to y
    uint has_bias;
    uint head_dim;   // 0: token-major y
} pc;

#define WG gl_WorkGroupSize.x
#ifndef TAPPA_SUBGROUP
shared float red[WG * MAX_T];
#endif

// Values per uvec4 group.
uint group_values() { return FORMAT == 0 ? 4 : FORMAT == 1 ? 8 : FORMAT == 2 ? 16 : 32; }

// Group g of row r, loaded as q: its values against every token's x.
void accumulate_group(uint r, uint g, uvec4 q, inout float acc[MAX_T])
{
    uint per = group_values();
    float v[32];
    if (FORMAT == 0) {
        v[0] = uintBitsToFloat(q.x); v[1] = uintBitsToFloat(q.y);
        v[2] = uintBitsToFloat(q.z); v[3] = uintBitsToFloat(q.w);
    } else if (FORMAT == 1) {
        vec2 a = unpackHalf2x16(q.x), b = unpackHalf2x16(q.y), c = unpackHalf2x16(q.z), d = unpackHalf2x16(q.w);
        v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y; v[4] = c.x; v[5] = c.y; v[6] = d.x; v[7] = d.y;
    } else if (FORMAT == 2) {
        float s = scales[pc.s_base + r * (pc.cols / 32) + g / 2];
        uint words[4] = uint[4](q.x, q.y, q.z, q.w);
        [[unroll]] for (uint k = 0; k < 16; k++)
            v[k] = s * float(bitfieldExtract(int(words[k / 4]), int(8 * (k % 4)), 8));
    } else {
        float s = scales[pc.s_base + r * (pc.cols / 32) + g];
        uint words[4] = uint[4](q.x, q.y, q.z, q.w);
        [[unroll]] for (uint k = 0; k < 32; k++)
            v[k] = s * (float(bitfieldExtract(words[k / 8], int(4 * (k % 8)), 4)) - 8.0);
    }
    uint c4 = g * per / 4; // vec4 index of the group's first value in a row of x
    for (uint t = 0; t < pc.tokens; t++) {
        uint xb = t * (pc.cols / 4) + c4;
        float a = 0.0;
        [[unroll]] for (uint k = 0; k < per / 4; k++) {
            vec4 xv = x[xb + k];
            a += v[4 * k] * xv.x + v[4 * k + 1] * xv.y + v[4 * k + 2] * xv.z + v[4 * k + 3] * xv.w;
        }
        acc[t] += a;
    }
}

void store(uint r, uint t, float sum)
{
    uint row = pc.row0 + r;
    uint at = pc.head_dim == 0 ? pc.y_base + t * pc.y_stride + row
                               : pc.y_base + ((row / pc.head_dim) * pc.y_stride + t) * pc.head_dim + row % pc.head_dim;
    float v = sum + (pc.has_bias != 0 ? bias[row] : 0.0);
    y[at] = pc.accumulate != 0 ? y[at] + v : v;
}

void main()
{
    uint groups = pc.cols / group_values();
    float acc[MAX_T];
    [[unroll]] for (uint t = 0; t < MAX_T; t++) acc[t] = 0.0;
#ifdef TAPPA_SUBGROUP
    uint r = linear_group() * gl_NumSubgroups + gl_SubgroupID;
    if (r >= pc.rows) return; // grid padding: the whole subgroup leaves
    uint lane = gl_SubgroupInvocationID, lanes = gl_SubgroupSize;
    for (uint g0 = lane; g0 < groups; g0 += UNROLL * lanes) {
        uvec4 q[UNROLL];
        [[unroll]] for (uint u = 0; u < UNROLL; u++) {
            uint g = min(g0 + u * lanes, groups - 1);
            q[u] = w[pc.w_base + r * groups + g];
        }
        [[unroll]] for (uint u = 0; u < UNROLL; u++)
            if (g0 + u * lanes < groups) accumulate_group(r, g0 + u * lanes, q[u], acc);
    }
    for (uint t = 0; t < pc.tokens; t++) {
        float sum = subgroupAdd(acc[t]);
        if (subgroupElect()) store(r, t, sum);
    }
#else
    uint r = linear_group();
    if (r >= pc.rows) return; // grid padding: the whole workgroup leaves
    uint l = gl_LocalInvocationID.x;
    for (uint g = l; g < groups; g += WG) accumulate_group(r, g, w[pc.w_base + r * groups + g], acc);
    for (uint t = 0; t < pc.tokens; t++) red[t * WG + l] = acc[t];
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (l < s)
            for (uint t = 0; t < pc.tokens; t++) red[t * WG + l] += red[t * WG + l + s];
        barrier();
    }
    if (l < pc.tokens) store(r, l, red[l * WG]);
#endif
}
