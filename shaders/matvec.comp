#version 450
// y[t][r] (+)= bias[r] + W[r] . x[t] for up to MAX_T tokens. W is read once
// in 16-byte groups (uvec4) and dequantised in registers; each group's values
// meet all tokens' x. TAPPA_SUBGROUP: ROWS rows per subgroup; with several,
// side by side, each x vector is loaded once for all of them (x is f32: per
// q8_0 weight byte it is four bytes of loads, per q4_0 byte eight); UNROLL
// groups' loads per row in flight per lane, summed by subgroupAdd (no
// barriers); otherwise one workgroup per row and a shared-memory tree.
// FORMAT 0: f32 (4 values per group), 1: f16 (8), 2: q8_0 repacked (16 int8
// values, scale per 32), 3: q4_0 repacked (32 nibbles holding value + 8, one
// scale).
// GATED (TAPPA_SUBGROUP, ROWS = 1): the gate and up projections of a SwiGLU
// MLP in one pass, y[t][r] = silu(W[r] . x[t]) * (W2[r] . x[t]): a subgroup
// reads row r of both matrices (twice the loads in flight) and writes the
// gated value, so the MLP needs no separate SwiGLU step and its barrier.
// w, w2: (rows, groups) uvec4 from w_base; scales, scales2: (rows, cols / 32) from s_base;
// x: (T, cols); y: (T, y_stride) from y_base + row0, or with head_dim set
// head-major (rows / head_dim, y_stride, head_dim): row r of token t at
// ((r / head_dim) * y_stride + t) * head_dim + r % head_dim, the layout RoPE
// and the KV cache take for a chunk of tokens.
// NORM_OUT (a residual product, token-major y): each row also writes
// h[t][r] = y[t][r] * norm_w[r], the next RMSNorm's weighted input, so no
// norm stage has to run before the next products: the one per-token scale
// 1 / rms(y[t]) is applied by the step after them (swiglu.comp's PRESCALE).
// norm_w: (rows) from nw_base; h: (T, y_stride) from h_base + row0.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#ifdef TAPPA_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(constant_id = 1) const uint FORMAT = 0;
const uint MAX_T = 8;
layout(constant_id = 2) const uint UNROLL = 4; // TAPPA_SUBGROUP: uvec4 loads in flight per lane and row
layout(constant_id = 3) const uint ROWS = 1;   // TAPPA_SUBGROUP: rows per subgroup, <= MAX_ROWS
const uint MAX_ROWS = 4;
layout(constant_id = 4) const bool GATED = false;

layout(binding = 0) readonly buffer W { uvec4 w[]; };
layout(binding = 1) readonly buffer Scales { float scales[]; };
layout(binding = 2) readonly buffer X { vec4 x[]; };
layout(binding = 3) readonly buffer Bias { float bias[]; };
layout(binding = 4) buffer Y { float y[]; };
layout(binding = 5) readonly buffer W2 { uvec4 w2[]; };
layout(binding = 6) readonly buffer Scales2 { float scales2[]; };
// NORM_OUT reuses the gated variant's two bindings.
layout(binding = 5) readonly buffer NormW { float norm_w[]; };
layout(binding = 6) writeonly buffer H { float h[]; };

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
    uint norm_out;   // 1: also write h (accumulate, token-major y, not GATED)
    uint nw_base, h_base;
} pc;

#define WG gl_WorkGroupSize.x
#ifndef TAPPA_SUBGROUP
shared float red[WG * MAX_T];
#endif

// Values per uvec4 group.
uint group_values() { return FORMAT == 0 ? 4 : FORMAT == 1 ? 8 : FORMAT == 2 ? 16 : 32; }

// The scale of group g of row r (quantised formats; 1 otherwise), of W2's
// scales where second (a constant at every call, so no branch remains).
float group_scale(uint r, uint g, bool second)
{
    uint at = pc.s_base + r * (pc.cols / 32) + (FORMAT == 2 ? g / 2 : g);
    if (FORMAT == 2 || FORMAT == 3) return second ? scales2[at] : scales[at];
    return 1.0;
}

// Values 4k .. 4k + 3 of a group loaded as q with scale s (k constant once
// unrolled, so the words and bit fields are picked at compile time).
vec4 values4(uvec4 q, uint k, float s)
{
    if (FORMAT == 0) return uintBitsToFloat(k == 0 ? q : uvec4(0));
    if (FORMAT == 1) {
        uint a = k == 0 ? q.x : q.z, b = k == 0 ? q.y : q.w;
        return vec4(unpackHalf2x16(a), unpackHalf2x16(b));
    }
    if (FORMAT == 2) {
        int word = int(k == 0 ? q.x : k == 1 ? q.y : k == 2 ? q.z : q.w);
        return s * vec4(bitfieldExtract(word, 0, 8), bitfieldExtract(word, 8, 8), bitfieldExtract(word, 16, 8),
                        bitfieldExtract(word, 24, 8));
    }
    uint word = (k / 2 == 0 ? q.x : k / 2 == 1 ? q.y : k / 2 == 2 ? q.z : q.w) >> (16 * (k % 2));
    return s * (vec4(bitfieldExtract(word, 0, 4), bitfieldExtract(word, 4, 4), bitfieldExtract(word, 8, 4),
                     bitfieldExtract(word, 12, 4)) - 8.0);
}

// Group g of row r (of W2 where second), loaded as q: its values against every token's x (one
// row at a time: the tree variant and ROWS = 1, where unpacking the whole
// group before the token loop keeps f16 at its best, H200 72% of copy
// against 65% unpacked 4 values at a time).
void accumulate_group(uint r, uint g, uvec4 q, bool second, inout float acc[MAX_T])
{
    uint per4 = group_values() / 4;
    float s = group_scale(r, g, second);
    vec4 v[8];
    [[unroll]] for (uint k = 0; k < 8; k++) v[k] = k < per4 ? values4(q, k, s) : vec4(0.0);
    // Token loops run to the constant MAX_T and stop at pc.tokens, so acc is
    // indexed by constants and stays in registers (a dynamic index would put
    // it in memory on most compilers).
    [[unroll]] for (uint t = 0; t < MAX_T; t++) {
        if (t >= pc.tokens) break;
        uint xb = t * (pc.cols / 4) + g * per4;
        float a = 0.0;
        [[unroll]] for (uint k = 0; k < 8; k++)
            if (k < per4) a += dot(v[k], x[xb + k]);
        acc[t] += a;
    }
}

void store(uint r, uint t, float sum)
{
    uint row = pc.row0 + r;
    uint at = pc.head_dim == 0 ? pc.y_base + t * pc.y_stride + row
                               : pc.y_base + ((row / pc.head_dim) * pc.y_stride + t) * pc.head_dim + row % pc.head_dim;
    float v = sum + (pc.has_bias != 0 ? bias[row] : 0.0);
    if (pc.accumulate != 0) v += y[at];
    y[at] = v;
    if (pc.norm_out != 0) h[pc.h_base + t * pc.y_stride + row] = v * norm_w[pc.nw_base + row];
}

void main()
{
    uint groups = pc.cols / group_values(), per4 = group_values() / 4;
#ifdef TAPPA_SUBGROUP
    uint lane = gl_SubgroupInvocationID, lanes = gl_SubgroupSize;
    uint r0 = (linear_group() * gl_NumSubgroups + gl_SubgroupID) * ROWS;
    if (r0 >= pc.rows) return; // grid padding: the whole subgroup leaves
    if (ROWS == 1) {
        float acc[MAX_T], acc2[MAX_T];
        [[unroll]] for (uint t = 0; t < MAX_T; t++) {
            acc[t] = 0.0;
            acc2[t] = 0.0;
        }
        for (uint g0 = lane; g0 < groups; g0 += UNROLL * lanes) {
            uvec4 q[UNROLL], q2[UNROLL];
            [[unroll]] for (uint u = 0; u < UNROLL; u++) {
                uint at = pc.w_base + r0 * groups + min(g0 + u * lanes, groups - 1);
                q[u] = w[at];
                if (GATED) q2[u] = w2[at];
            }
            [[unroll]] for (uint u = 0; u < UNROLL; u++)
                if (g0 + u * lanes < groups) {
                    accumulate_group(r0, g0 + u * lanes, q[u], false, acc);
                    if (GATED) accumulate_group(r0, g0 + u * lanes, q2[u], true, acc2);
                }
        }
        [[unroll]] for (uint t = 0; t < MAX_T; t++) {
            if (t >= pc.tokens) break;
            float sum = subgroupAdd(acc[t]);
            if (GATED) {
                float up = subgroupAdd(acc2[t]);
                sum = sum / (1.0 + exp(-sum)) * up; // SwiGLU, as swiglu.comp
            }
            if (subgroupElect()) store(r0, t, sum);
        }
        return;
    }
    // Several rows side by side: each x vector loaded meets every row's group.
    float acc[MAX_ROWS][MAX_T];
    [[unroll]] for (uint i = 0; i < MAX_ROWS; i++)
        [[unroll]] for (uint t = 0; t < MAX_T; t++) acc[i][t] = 0.0;
    for (uint g0 = lane; g0 < groups; g0 += UNROLL * lanes) {
        uvec4 q[MAX_ROWS][UNROLL];
        [[unroll]] for (uint i = 0; i < ROWS; i++)
            [[unroll]] for (uint u = 0; u < UNROLL; u++) {
                uint r = min(r0 + i, pc.rows - 1), g = min(g0 + u * lanes, groups - 1);
                q[i][u] = w[pc.w_base + r * groups + g];
            }
        [[unroll]] for (uint u = 0; u < UNROLL; u++) {
            uint g = g0 + u * lanes;
            if (g >= groups) break;
            float sc[MAX_ROWS];
            [[unroll]] for (uint i = 0; i < ROWS; i++) sc[i] = group_scale(min(r0 + i, pc.rows - 1), g, false);
            [[unroll]] for (uint k = 0; k < 8; k++) {
                if (k >= per4) break;
                vec4 val[MAX_ROWS];
                [[unroll]] for (uint i = 0; i < ROWS; i++) val[i] = values4(q[i][u], k, sc[i]);
                [[unroll]] for (uint t = 0; t < MAX_T; t++) {
                    if (t >= pc.tokens) break;
                    vec4 xv = x[t * (pc.cols / 4) + g * per4 + k];
                    [[unroll]] for (uint i = 0; i < ROWS; i++) acc[i][t] += dot(val[i], xv);
                }
            }
        }
    }
    [[unroll]] for (uint i = 0; i < ROWS; i++)
        [[unroll]] for (uint t = 0; t < MAX_T; t++) {
            if (t >= pc.tokens) break;
            float sum = subgroupAdd(acc[i][t]);
            if (subgroupElect() && r0 + i < pc.rows) store(r0 + i, t, sum);
        }
#else
    float acc[MAX_T];
    [[unroll]] for (uint t = 0; t < MAX_T; t++) acc[t] = 0.0;
    uint r = linear_group();
    if (r >= pc.rows) return; // grid padding: the whole workgroup leaves
    uint l = gl_LocalInvocationID.x;
    for (uint g = l; g < groups; g += WG) accumulate_group(r, g, w[pc.w_base + r * groups + g], false, acc);
    [[unroll]] for (uint t = 0; t < MAX_T; t++)
        if (t < pc.tokens) red[t * WG + l] = acc[t];
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (l < s)
            for (uint t = 0; t < pc.tokens; t++) red[t * WG + l] += red[t * WG + l + s];
        barrier();
    }
    if (l < pc.tokens) store(r, l, red[l * WG]);
#endif
}
