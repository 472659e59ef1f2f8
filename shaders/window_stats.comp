#version 450
// Window-attention statistics for one query head (SPEC.md, KV compression
// steps 1-2), from Q, K and the log-sum-exp of each query row (the prefill's,
// or PASS 0's for the window rows alone); the (W, n) or (n, n) weight
// matrices never exist in memory. A[i][j] = exp(q_i . k_j / sqrt(d) - lse[i])
// for j <= i (query i sits at position i), else 0.
// PASS 3: one invocation per key j, window queries staged 16 at a time: each
//         workgroup's max and sum of exp(score - max) over its keys, per
//         window query, into part (split-K, so the long loop over keys is
//         spread over the whole GPU).
// PASS 0: one workgroup per window query merges PASS 3's partials into its lse.
// PASS 1: one invocation per key j: mean and unbiased variance of A over the
//         last W queries (Welford), window queries staged 16 at a time, and,
//         when asked, their entropy terms -A log(A + 1e-10) summed (cake).
// PASS 2: one invocation per key j: the sum of A over queries
//         [q_begin, q_end) (h2o), added to colsum unless first.
// q: (n, d) of this head from q_base; k: (n, d) of its KV head from k_base;
// lse: (n) from lse_base (PASS 0 writes and PASS 1 reads entries n-W..n-1);
// mean, var, colsum, entropy: (n) from out_base.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint PASS = 0;
layout(constant_id = 2) const uint D = 128;
const uint QT = 16; // queries staged per tile

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { STORE_T k[]; };
layout(binding = 2) buffer Lse { float lse[]; };
layout(binding = 3) writeonly buffer Mean { float mean_out[]; };
layout(binding = 4) writeonly buffer Var { float var_out[]; };
layout(binding = 5) buffer ColSum { float colsum[]; };
layout(binding = 6) writeonly buffer Entropy { float entropy_out[]; };
// PASS 3 / 0 partials: max at [w * chunks + c], sum at [(W + w) * chunks + c].
layout(binding = 7) buffer Part { float part[]; };

layout(push_constant) uniform Push {
    uint q_base, k_base, lse_base, out_base;
    uint n, window;
    float scale;
    uint q_begin, q_end; // PASS 2's query range
    uint first;          // PASS 2: write rather than add
    uint entropy;        // PASS 1: also write the entropy sums
} pc;

#define WG gl_WorkGroupSize.x
shared float qs[QT * D];
shared float ls[QT];
shared float red_m[WG];
shared float red_s[WG];

// Stage queries [i0, i0 + QT) (pre-scaled) and their lse; rows past n are zero.
void stage(uint i0)
{
    for (uint x = gl_LocalInvocationID.x; x < QT * D; x += WG) {
        uint i = i0 + x / D;
        qs[x] = i < pc.n ? q[pc.q_base + i * D + x % D] * pc.scale : 0.0;
    }
    if (gl_LocalInvocationID.x < QT) {
        uint i = i0 + gl_LocalInvocationID.x;
        ls[gl_LocalInvocationID.x] = i < pc.n ? lse[pc.lse_base + i] : 0.0;
    }
}

// Scores of key j against the QT staged queries.
void scores(uint j, out float s[QT])
{
    [[unroll]] for (uint x = 0; x < QT; x++) s[x] = 0.0;
    uint kj = pc.k_base + min(j, pc.n - 1) * D;
    for (uint c = 0; c < D; c++) {
        float kv = float(k[kj + c]);
        [[unroll]] for (uint x = 0; x < QT; x++) s[x] += qs[x * D + c] * kv;
    }
}

void lse_partials_pass()
{
    uint chunk = linear_group(), chunks = (pc.n + WG - 1) / WG;
    uint l = gl_LocalInvocationID.x, j = chunk * WG + l;
    for (uint i0 = pc.n - pc.window; i0 < pc.n; i0 += QT) {
        barrier();
        stage(i0);
        barrier();
        float s[QT];
        scores(j, s);
        for (uint x = 0; x < QT; x++) {
            uint i = i0 + x;
            if (i >= pc.n) break; // uniform: every invocation sees the same i
            bool seen = j <= i;   // causal, and j < n since i < n
            red_m[l] = seen ? s[x] : -1.0 / 0.0;
            barrier();
            for (uint stride = WG / 2; stride > 0; stride >>= 1) {
                if (l < stride) red_m[l] = max(red_m[l], red_m[l + stride]);
                barrier();
            }
            float mm = red_m[0];
            red_s[l] = seen ? exp(s[x] - mm) : 0.0;
            barrier();
            for (uint stride = WG / 2; stride > 0; stride >>= 1) {
                if (l < stride) red_s[l] += red_s[l + stride];
                barrier();
            }
            if (l == 0) {
                uint w = i - (pc.n - pc.window);
                part[w * chunks + chunk] = mm;
                part[(pc.window + w) * chunks + chunk] = red_s[0];
            }
            barrier();
        }
    }
}

void lse_pass()
{
    uint w = linear_group();
    if (w >= pc.window) return;
    uint l = gl_LocalInvocationID.x;
    uint i = pc.n - pc.window + w;
    uint chunks = (pc.n + WG - 1) / WG;
    float m = -1.0 / 0.0, s = 0.0;
    for (uint c = l; c < chunks; c += WG) {
        float pm = part[w * chunks + c], ps = part[(pc.window + w) * chunks + c];
        if (pm == -1.0 / 0.0) continue; // a chunk past the query's last key
        float m2 = max(m, pm);
        s = s * exp(m - m2) + ps * exp(pm - m2);
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
    if (l == 0) lse[pc.lse_base + i] = red_m[0] + log(red_s[0]);
}

void stats_pass()
{
    uint j = linear_group() * WG + gl_LocalInvocationID.x;
    float mean = 0.0, m2 = 0.0, ent = 0.0;
    uint seen = 0;
    // Every invocation runs every tile (barriers); keys past n just idle.
    for (uint i0 = pc.n - pc.window; i0 < pc.n; i0 += QT) {
        barrier();
        stage(i0);
        barrier();
        float s[QT];
        scores(j, s);
        [[unroll]] for (uint x = 0; x < QT; x++) {
            uint i = i0 + x;
            if (i < pc.n) {
                float a = j <= i ? exp(s[x] - ls[x]) : 0.0;
                seen++;
                float delta = a - mean;
                mean += delta / float(seen);
                m2 += delta * (a - mean);
                ent -= a * log(a + 1e-10);
            }
        }
    }
    if (j >= pc.n) return;
    mean_out[pc.out_base + j] = mean;
    var_out[pc.out_base + j] = pc.window > 1 ? m2 / float(pc.window - 1) : 0.0;
    if (pc.entropy != 0) entropy_out[pc.out_base + j] = ent;
}

void colsum_pass()
{
    uint j = linear_group() * WG + gl_LocalInvocationID.x;
    float sum = 0.0;
    // Causal: queries before this workgroup's first key see none of its keys.
    uint start = max(pc.q_begin, linear_group() * WG / QT * QT);
    for (uint i0 = start; i0 < pc.q_end; i0 += QT) {
        barrier();
        stage(i0);
        barrier();
        float s[QT];
        scores(j, s);
        [[unroll]] for (uint x = 0; x < QT; x++) {
            uint i = i0 + x;
            if (i < pc.q_end && j <= i) sum += exp(s[x] - ls[x]);
        }
    }
    if (j >= pc.n) return;
    colsum[pc.out_base + j] = pc.first != 0 ? sum : colsum[pc.out_base + j] + sum;
}

void main()
{
    if (PASS == 0)
        lse_pass();
    else if (PASS == 1)
        stats_pass();
    else if (PASS == 3)
        lse_partials_pass();
    else
        colsum_pass();
}
