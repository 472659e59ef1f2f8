#version 450
// q-similarity modes that need every pair (SPEC.md): the mean over ordered
// pairs i != j of a per-pair value, for each head.
//   mode 3 euclidean: |q_i - q_j|_2      mode 4 l1: |q_i - q_j|_1
//   mode 5 rbf: exp(-|q_i - q_j|^2 / (2 sigma^2))
//   mode 6 angular: acos(clamp(cos, -1, 1)) / pi, cos of q / max(|q|, 1e-8)
//   mode 7 kl: 0.5 sum_d (P_i - P_j)(log P_i - log P_j) on the rows'
//          softmax distributions (clamped at 1e-8, renormalised)
// PASS 0 (kl only): one invocation per row writes P and log P to dist.
// PASS 1: a workgroup takes ROWS rows i of one head against every j, and
//         writes its sum to part[head][block]; its rows sit in shared memory.
// PASS 2: one workgroup per head sums the blocks and divides by T (T - 1).
// q: (heads, t, d) of this segment; dist: (heads, t, 2 d); out: (all heads).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint PASS = 1;
layout(constant_id = 2) const uint D = 128;  // <= 256
const uint ROWS = 4;

layout(binding = 0) readonly buffer Q { STORE_T q[]; };
layout(binding = 1) buffer Dist { float dist[]; };
layout(binding = 2) buffer Part { float part[]; };
layout(binding = 3) writeonly buffer Out { float qsim[]; };

layout(push_constant) uniform Push {
    uint heads, head0, t;
    uint mode;
    float inv_two_sigma_sq;
    uint blocks;     // row blocks per head
} pc;

#define WG gl_WorkGroupSize.x
shared float rows_a[ROWS * D];
shared float rows_b[ROWS * D];  // kl: log P of the staged rows
shared float red[WG];

float reduce_sum(float v)
{
    uint l = gl_LocalInvocationID.x;
    red[l] = v;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (l < s) red[l] += red[l + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void softmax_rows()
{
    uint row = linear_group() * WG + gl_LocalInvocationID.x;
    if (row >= pc.heads * pc.t) return;
    uint base = row * D;
    float m = -1.0 / 0.0;
    for (uint c = 0; c < D; c++) m = max(m, float(q[base + c]));
    float s = 0.0;
    for (uint c = 0; c < D; c++) s += exp(float(q[base + c]) - m);
    float z = 0.0;
    for (uint c = 0; c < D; c++) z += max(exp(float(q[base + c]) - m) / s, 1e-8);
    for (uint c = 0; c < D; c++) {
        float p = max(exp(float(q[base + c]) - m) / s, 1e-8) / z;
        dist[row * 2 * D + c] = p;
        dist[row * 2 * D + D + c] = log(p);
    }
}

// acos to about 2e-8 (Abramowitz & Stegun 4.4.46): GLSL's acos has no tight
// precision guarantee, and the mean over T^2 pairs must match the reference.
float precise_acos(float x)
{
    float a = abs(x);
    float p = -0.0012624911;
    p = p * a + 0.0066700901;
    p = p * a - 0.0170881256;
    p = p * a + 0.0308918810;
    p = p * a - 0.0501743046;
    p = p * a + 0.0889789874;
    p = p * a - 0.2145988016;
    p = p * a + 1.5707963050;
    float r = sqrt(1.0 - a) * p;
    return x < 0.0 ? 3.14159265358979 - r : r;
}

float row_value(uint row, uint c) { return pc.mode == 7 ? dist[row * 2 * D + c] : float(q[row * D + c]); }

void pair_sums()
{
    uint g = linear_group();
    uint h = g / pc.blocks, block = g % pc.blocks;
    if (h >= pc.heads) return;
    uint l = gl_LocalInvocationID.x;
    uint i0 = block * ROWS;
    for (uint x = l; x < ROWS * D; x += WG) {
        uint i = i0 + x / D;
        uint row = h * pc.t + min(i, pc.t - 1);
        rows_a[x] = row_value(row, x % D);
        rows_b[x] = pc.mode == 7 ? dist[row * 2 * D + D + x % D] : 0.0;
    }
    barrier();
    float sum = 0.0;
    for (uint j = l; j < pc.t; j += WG) {
        uint rj = h * pc.t + j;
        [[unroll]] for (uint r = 0; r < ROWS; r++) {
            uint i = i0 + r;
            if (i >= pc.t || i == j) continue;
            float acc = 0.0, aa = 0.0, bb = 0.0;
            for (uint c = 0; c < D; c++) {
                float a = rows_a[r * D + c], b = row_value(rj, c);
                if (pc.mode == 4) acc += abs(a - b);
                else if (pc.mode == 6) { acc += a * b; aa += a * a; bb += b * b; }
                else if (pc.mode == 7) acc += (a - b) * (rows_b[r * D + c] - dist[rj * 2 * D + D + c]);
                else acc += (a - b) * (a - b);
            }
            float v;
            if (pc.mode == 3) v = sqrt(acc);
            else if (pc.mode == 4) v = acc;
            else if (pc.mode == 5) v = exp(-acc * pc.inv_two_sigma_sq);
            else if (pc.mode == 6) {
                float cosv = acc / (max(sqrt(aa), 1e-8) * max(sqrt(bb), 1e-8));
                v = precise_acos(clamp(cosv, -1.0, 1.0)) / 3.14159265358979;
            } else v = 0.5 * acc;
            sum += v;
        }
    }
    sum = reduce_sum(sum);
    if (l == 0) part[h * pc.blocks + block] = sum;
}

void finish()
{
    uint h = linear_group();
    if (h >= pc.heads) return;
    float sum = 0.0;
    for (uint b = gl_LocalInvocationID.x; b < pc.blocks; b += WG) sum += part[h * pc.blocks + b];
    sum = reduce_sum(sum);
    float tt = float(pc.t);
    if (gl_LocalInvocationID.x == 0) qsim[pc.head0 + h] = pc.t < 2 ? 0.0 : sum / (tt * (tt - 1.0));
}

void main()
{
    if (PASS == 0)
        softmax_rows();
    else if (PASS == 1)
        pair_sums();
    else
        finish();
}
