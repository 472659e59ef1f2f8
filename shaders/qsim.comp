#version 450
// q-similarity of each head in the O(T*D) form of SPEC.md: with
// u_t = q_t / max(|q_t|, 1e-8) (cosine), u_t = q_t (dot), or q_t centred over
// its d entries then normalised (pearson), and s = sum_t u_t,
// qsim = (|s|^2 - sum_t |u_t|^2) / (T (T - 1)), divided by d for pearson.
// One workgroup per head. Rows come in tiles of R = TILE / d rows, loaded
// into shared memory with consecutive invocations on consecutive elements
// (coalesced: the head is read once, in order); P = WG / R invocations find
// each row's norm (and mean) from the tile; then each invocation adds the
// scaled rows into the dimension it owns: dimension l % d of the rows
// r = l / d (mod S) when d <= WG, S = WG / d, else dimensions l, l + WG, ...
// q: (heads, t, d) of this segment (segments hold whole heads); out: (all heads).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Q { STORE_T q[]; };
layout(binding = 1) writeonly buffer Out { float qsim[]; };

layout(push_constant) uniform Push {
    uint heads;    // heads in this segment
    uint head0;    // global index of the first one
    uint t;
    uint d;        // <= MAX_DIMS * WG and <= TILE
    uint mode;     // 0: dot, 1: cosine, 2: pearson
} pc;

#define WG gl_WorkGroupSize.x
const uint TILE = 2048;        // staged floats: 8 KiB of shared memory
const uint MAX_DIMS = 8;       // dims per invocation when d > WG
shared float tile[TILE];
shared float inv_norm[WG];     // per staged row (R <= WG)
shared float row_mean[WG];
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

// Each row's sum over its d entries of f(x) from the tile, P invocations a row:
// the partial sums meet in red[], row r's P partials summed by invocation r.
// Returns that sum for invocation r < rows (0 otherwise).
float row_sums(uint rows, uint R, uint P, bool centred, bool squares)
{
    uint l = gl_LocalInvocationID.x, r = l / P, sub = l % P;
    float part = 0.0;
    if (r < rows)
        for (uint k = sub; k < pc.d; k += P) {
            float x = tile[r * pc.d + k] - (centred ? row_mean[r] : 0.0);
            part += squares ? x * x : x;
        }
    red[l] = part;
    barrier();
    float total = 0.0;
    if (l < rows)
        for (uint i = 0; i < P; i++) total += red[l * P + i];
    barrier();
    return total;
}

void main()
{
    uint h = linear_group();
    if (h >= pc.heads) return;
    uint l = gl_LocalInvocationID.x;
    uint head_base = h * pc.t * pc.d;
    uint R = min(WG, TILE / pc.d), P = WG / R;
    bool wide = pc.d > WG;
    uint S = wide ? 1 : WG / pc.d;                // row subsets
    uint own = l % pc.d, subset = wide ? 0 : l / pc.d;
    float s_part[MAX_DIMS] = float[](0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    float unit_sq = 0.0; // sum over this invocation's rows of |u_t|^2
    for (uint t0 = 0; t0 < pc.t; t0 += R) {
        uint rows = min(R, pc.t - t0);
        for (uint x = l; x < rows * pc.d; x += WG) tile[x] = float(q[head_base + t0 * pc.d + x]);
        barrier();
        float mean = 0.0;
        if (pc.mode == 2) {
            mean = row_sums(rows, R, P, false, false) / float(pc.d);
            if (l < rows) row_mean[l] = mean;
            barrier();
        }
        float sq = row_sums(rows, R, P, pc.mode == 2, true);
        if (l < rows) {
            float inv = pc.mode != 0 ? 1.0 / max(sqrt(sq), 1e-8) : 1.0;
            inv_norm[l] = inv;
            unit_sq += sq * inv * inv;
            if (pc.mode != 2) row_mean[l] = 0.0;
        }
        barrier();
        if (wide) {
            [[unroll]] for (uint j = 0; j < MAX_DIMS; j++) {
                uint k = l + j * WG;
                if (k < pc.d)
                    for (uint r = 0; r < rows; r++) s_part[j] += (tile[r * pc.d + k] - row_mean[r]) * inv_norm[r];
            }
        } else if (subset < S) {
            for (uint r = subset; r < rows; r += S) s_part[0] += (tile[r * pc.d + own] - row_mean[r]) * inv_norm[r];
        }
        barrier();
    }
    // |s|^2: the subsets' partial sums of each dimension meet in the tile.
    float s_sq = 0.0;
    if (wide) {
        [[unroll]] for (uint j = 0; j < MAX_DIMS; j++) s_sq += s_part[j] * s_part[j];
    } else {
        if (subset < S) tile[subset * pc.d + own] = s_part[0];
        barrier();
        if (l < pc.d) {
            float s = 0.0;
            for (uint i = 0; i < S; i++) s += tile[i * pc.d + l];
            s_sq = s * s;
        }
    }
    s_sq = reduce_sum(s_sq);
    unit_sq = reduce_sum(unit_sq);
    if (l == 0) {
        float tt = float(pc.t);
        // Pearson divides by d as the reference does (SPEC.md).
        float scale = pc.mode == 2 ? 1.0 / float(pc.d) : 1.0;
        qsim[pc.head0 + h] = pc.t < 2 ? 0.0 : (s_sq - unit_sq) / (tt * (tt - 1.0)) * scale;
    }
}
