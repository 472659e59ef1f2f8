#version 450
// Split-K attention for one new token per query head (decode), in one pass.
// A workgroup takes CHUNK keys of one KV head for all G query heads that share
// it, so K and V are read once. Invocations form NG = WG / 16 groups of 16
// lanes; a group takes every NG-th key, each lane DPL = D / 16 dims of it
// (one 16-byte load per lane for f16 at D = 128), U keys per iteration; with
// PREFETCH the next iteration's rows are fetched before this one's are used,
// so every group keeps loads in flight while it computes (it costs registers:
// worth it where the arithmetic per byte is low, f32). The lane dot products are
// summed across the group (subgroup shuffles in the TAPPA_SUBGROUP variant,
// shared memory otherwise); each group keeps an online softmax, the groups
// are merged in shared memory, and the workgroup writes one partial (m, l, o)
// per query head. The last workgroup of a KV head to finish (a counter per KV
// head, reset by that workgroup for the next call) merges the head's partials
// into the output rows and log-sum-exps (decode_merge.glsl, shared with the
// tensor-core kernel attention_decode_coopmat.comp). Where every KV head lies in one binding, one dispatch
// takes them all (gl_WorkGroupID.z = KV head, bases *_head_stride apart):
// each dispatch costs the GPU front end several microseconds, which a short
// context would otherwise pay once per KV head.
// q: G rows of d, q_stride apart, from q_base; k, v: this piece's keys, (n, d) from k_base / v_base.
// part_ml: (all query heads, parts, 2) max and sum; part_o: (all query heads, parts, d);
// o: (all query heads, d) from o_base; lse: (all query heads) from lse_base;
// count: (KV heads), zero between calls.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_memory_scope_semantics : require
#include "common.glsl"
#ifdef TAPPA_SUBGROUP
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

layout(constant_id = 1) const uint D = 128;     // multiple of 16, <= 256
layout(constant_id = 2) const uint G = 1;       // query heads per KV head, <= 16
layout(constant_id = 3) const uint CHUNK = 256; // keys per workgroup, multiple of NG * U
layout(constant_id = 4) const uint U = 4;       // keys per group per loop iteration
layout(constant_id = 5) const bool PREFETCH = false;
// Partial rows in flight per invocation in the merge: fewer latencies, more
// registers (the whole kernel is allocated for its largest need).
layout(constant_id = 6) const uint MERGE_UNROLL = 8;
// Floats of the shared stage through which the workgroup's subgroups sum
// their outputs, at least NG: larger stages take fewer passes.
layout(constant_id = 7) const uint STAGE = 2048;
const uint WG = gl_WorkGroupSize.x;
const uint T = 16;
const uint NG = WG / T;
const uint DPL = D / T;
const bool VEC8 = DPL == 8;                     // one 16-byte (f16) or two (f32) loads per lane
const float RESCALE_SLACK = 8.0;                // see the online softmax in main
const uint MAX_DPL = 16;                        // D <= 256; arrays sized by it are only used up to DPL

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { STORE_T k[]; };
layout(binding = 2) readonly buffer V { STORE_T v[]; };
#ifdef TAPPA_F16
layout(binding = 1) readonly buffer K8 { uvec4 k8[]; };
layout(binding = 2) readonly buffer V8 { uvec4 v8[]; };
#else
layout(binding = 1) readonly buffer K8 { vec4 k4[]; };
layout(binding = 2) readonly buffer V8 { vec4 v4[]; };
#endif
// Written by every workgroup and read by the last of its KV head: coherent,
// so the reads see other workgroups' writes rather than stale cached lines.
layout(binding = 3) coherent buffer PartML { vec2 part_ml[]; };
layout(binding = 4) coherent buffer PartO { float part_o[]; };
layout(binding = 4) coherent buffer PartO4 { vec4 part_o4[]; };
layout(binding = 5) writeonly buffer O { float o[]; };
layout(binding = 6) writeonly buffer Lse { float lse[]; };
layout(binding = 7) coherent buffer Count { uint count[]; };

layout(push_constant) uniform Push {
    uint q_base, k_base, v_base;
    uint head0;      // global index of the first of the G query heads (= KV head * G)
    uint n;          // keys in this piece
    uint part_base;  // first partial of this piece, per head
    uint parts;      // row stride of part_ml / part_o (partials per head, the most of any KV head)
    uint head_parts; // partials of this KV head over all its pieces
    uint o_base, lse_base;
    float scale;
    uint q_stride;   // floats between the G query heads' rows in q
    uint q_head_stride, k_head_stride, v_head_stride; // between KV heads of one dispatch (z)
} pc;

uint head0; // global index of this workgroup's first query head, set by main
#include "decode_merge.glsl"

#ifdef TAPPA_SUBGROUP
// The levels of the summed dot products over a group's 16 lanes,
// xor masks 8, 4, 2, 1: Hk, whether level k halves the sums a lane holds
// (while their count is even), and Nk, how many it holds after it. The
// counts are constants once specialized, so every loop below unrolls.
const uint N0 = U * G;
const bool H1 = N0 % 2 == 0;
const uint N1 = H1 ? N0 / 2 : N0;
const bool H2 = N1 % 2 == 0;
const uint N2 = H2 ? N1 / 2 : N1;
const bool H3 = N2 % 2 == 0;
const uint N3 = H3 ? N2 / 2 : N2;
const bool H4 = N3 % 2 == 0;
const uint N4 = H4 ? N3 / 2 : N3;
// A halving level keeps the upper or lower half (by the lane's bit x) and
// adds the partner's copy of it; otherwise every sum is added across.
#define SUM_LEVEL(x, HALVES, N)                                                                   \
    {                                                                                             \
        bool up = (lane & x) != 0;                                                                \
        [[unroll]] for (uint i = 0; i < N; i++)                                                   \
            if (HALVES) r[i] = (up ? r[i + N] : r[i]) + subgroupShuffleXor(up ? r[i] : r[i + N], x); \
            else r[i] += subgroupShuffleXor(r[i], x);                                             \
    }
// Its inverse for a halving level: the partner's half comes back beside the lane's.
#define GATHER_LEVEL(x, HALVES, N)                                                                \
    if (HALVES) {                                                                                 \
        bool up = (lane & x) != 0;                                                                \
        [[unroll]] for (uint i = 0; i < N; i++) {                                                 \
            float mine = r[i], other = subgroupShuffleXor(mine, x);                               \
            r[i] = up ? other : mine;                                                             \
            r[i + N] = up ? mine : other;                                                         \
        }                                                                                         \
    }
#endif

#ifndef TAPPA_SUBGROUP
shared float red[WG * G];
#endif
shared float group_m[NG * G];
shared float stage_l[NG * G];         // each subgroup's sums per query head
shared float stage_o[STAGE];          // (subgroups, columns of one pass)

// One lane's DPL values of a K or V row as loaded: packed words for the
// 16-byte paths (unpacked only where used, so the load is not waited for
// early), floats otherwise.
struct Row {
#ifdef TAPPA_F16
    uvec4 w;
#else
    vec4 a, b;
#endif
    float x[MAX_DPL];
};

// DPL dims of a row starting at element base (a multiple of 8 when VEC8).
Row fetch(bool is_v, uint base)
{
    Row r;
#ifdef TAPPA_F16
    if (VEC8) r.w = is_v ? v8[base / 8] : k8[base / 8];
#else
    if (VEC8) {
        r.a = is_v ? v4[base / 4] : k4[base / 4];
        r.b = is_v ? v4[base / 4 + 1] : k4[base / 4 + 1];
    }
#endif
    else [[unroll]] for (uint i = 0; i < DPL; i++) r.x[i] = float(is_v ? v[base + i] : k[base + i]);
    return r;
}

void unpack(Row r, out float x[MAX_DPL])
{
    if (VEC8) {
#ifdef TAPPA_F16
        vec2 a = unpackHalf2x16(r.w.x), b = unpackHalf2x16(r.w.y);
        vec2 c = unpackHalf2x16(r.w.z), d = unpackHalf2x16(r.w.w);
        x[0] = a.x; x[1] = a.y; x[2] = b.x; x[3] = b.y;
        x[4] = c.x; x[5] = c.y; x[6] = d.x; x[7] = d.y;
#else
        x[0] = r.a.x; x[1] = r.a.y; x[2] = r.a.z; x[3] = r.a.w;
        x[4] = r.b.x; x[5] = r.b.y; x[6] = r.b.z; x[7] = r.b.w;
#endif
    } else {
        [[unroll]] for (uint i = 0; i < DPL; i++) x[i] = r.x[i];
    }
}

void main()
{
    uint l = gl_LocalInvocationID.x;
    uint grp = l / T, lane = l % T;
    uint chunk = linear_group();
    uint begin = chunk * CHUNK;
    uint end = min(begin + CHUNK, pc.n);
    const uint STEP = NG * U;
    uint kv_z = gl_WorkGroupID.z;
    head0 = pc.head0 + kv_z * G;
    uint k_base = pc.k_base + kv_z * pc.k_head_stride, v_base = pc.v_base + kv_z * pc.v_head_stride;
    uint q_base = pc.q_base + kv_z * pc.q_head_stride;

    // The first iteration's rows are asked for before the query is read.
    Row kc[U], vc[U];
    if (PREFETCH)
        [[unroll]] for (uint u = 0; u < U; u++) {
            uint j = min(begin + grp + u * NG, end - 1); // past the end: a valid row, masked below
            kc[u] = fetch(false, k_base + j * D + lane * DPL);
            vc[u] = fetch(true, v_base + j * D + lane * DPL);
        }
    float qr[G * DPL];
    [[unroll]] for (uint h = 0; h < G; h++)
        [[unroll]] for (uint i = 0; i < DPL; i++)
            qr[h * DPL + i] = q[q_base + h * pc.q_stride + lane * DPL + i] * pc.scale;
    float m[G], lsum[G], acc[G * DPL];
    [[unroll]] for (uint h = 0; h < G; h++) {
        m[h] = -1.0 / 0.0;
        lsum[h] = 0.0;
        [[unroll]] for (uint i = 0; i < DPL; i++) acc[h * DPL + i] = 0.0;
    }

    // The loop count is the same for every group, so the barriers of the
    // shared-memory reduction stay in uniform control flow.
    for (uint base = begin; base < end; base += STEP) {
        // All U keys' rows are asked for before any is used, so the loads of
        // one group overlap instead of waiting one by one.
        Row kn[U], vn[U];
        [[unroll]] for (uint u = 0; u < U; u++) {
            // The last prefetch re-reads a row it has; past the end: a valid row, masked below.
            uint j = min(base + (PREFETCH ? STEP : 0) + grp + u * NG, end - 1);
            kn[u] = fetch(false, k_base + j * D + lane * DPL);
            vn[u] = fetch(true, v_base + j * D + lane * DPL);
            if (!PREFETCH) {
                kc[u] = kn[u];
                vc[u] = vn[u];
            }
        }
        // The lane's share of the U x G dot products, then their sums over
        // the group's 16 lanes.
        float r[U * G];
        [[unroll]] for (uint u = 0; u < U; u++) {
            float kf[MAX_DPL];
            unpack(kc[u], kf);
            [[unroll]] for (uint h = 0; h < G; h++) {
                float p = 0.0;
                [[unroll]] for (uint i = 0; i < DPL; i++) p += qr[h * DPL + i] * kf[i];
                r[u * G + h] = p;
            }
        }
#ifdef TAPPA_SUBGROUP
        // All products summed together: at each level, while their count is
        // even, a lane keeps half of them and trades the other half with its
        // partner, and the full sums are gathered back the same way. For
        // U x G = 16 that is 30 shuffles where summing each product over every
        // level takes 64; the shuffles and adds are a large part of a step's
        // instructions (H200, f16, Hq 32 / Hkv 8 / D 128: 32K 43.5 us against
        // 44.5, 128K 142.3 against 145.6).
        SUM_LEVEL(8, H1, N1)
        SUM_LEVEL(4, H2, N2)
        SUM_LEVEL(2, H3, N3)
        SUM_LEVEL(1, H4, N4)
        GATHER_LEVEL(1, H4, N4)
        GATHER_LEVEL(2, H3, N3)
        GATHER_LEVEL(4, H2, N2)
        GATHER_LEVEL(8, H1, N1)
#else
        [[unroll]] for (uint u = 0; u < U; u++) {
            [[unroll]] for (uint h = 0; h < G; h++) red[l * G + h] = r[u * G + h];
            barrier();
            [[unroll]] for (uint h = 0; h < G; h++) {
                float p = 0.0;
                for (uint x = 0; x < T; x++) p += red[(grp * T + x) * G + h];
                r[u * G + h] = p;
            }
            barrier();
        }
#endif
        float s[U][G];
        [[unroll]] for (uint u = 0; u < U; u++) {
            bool valid = base + grp + u * NG < end;
            [[unroll]] for (uint h = 0; h < G; h++) s[u][h] = valid ? r[u * G + h] : -1.0 / 0.0;
        }
        // One online-softmax step for the U keys together. The running sums
        // are kept against a reference m and rescaled only when a score passes
        // it by more than RESCALE_SLACK: at the first keys, then rarely. So a
        // common step skips the rescale's exp and G x DPL multiplies, and a
        // weight stays below e^RESCALE_SLACK, far inside f32's range. The
        // merges below only need the sums and their reference to agree.
        // (H200, f16, same shapes: 32K 47.7 us against 48.2, 128K 157.0
        // against 159.1, in a call where both ran slower than usual.)
        float w[U][G];
        [[unroll]] for (uint h = 0; h < G; h++) {
            float mx = s[0][h];
            [[unroll]] for (uint u = 1; u < U; u++) mx = max(mx, s[u][h]);
            if (mx > m[h] + RESCALE_SLACK) { // m = -inf until a valid key
                float alpha = exp(m[h] - mx);  // exp(-inf) = 0
                lsum[h] *= alpha;
                [[unroll]] for (uint i = 0; i < DPL; i++) acc[h * DPL + i] *= alpha;
                m[h] = mx;
            }
            if (m[h] == -1.0 / 0.0) { // no valid key yet
                [[unroll]] for (uint u = 0; u < U; u++) w[u][h] = 0.0;
                continue;
            }
            [[unroll]] for (uint u = 0; u < U; u++) {
                w[u][h] = exp(s[u][h] - m[h]);  // masked keys: exp(-inf) = 0
                lsum[h] += w[u][h];
            }
        }
        // Each V row unpacked once, for all G heads.
        [[unroll]] for (uint u = 0; u < U; u++) {
            float vf[MAX_DPL];
            unpack(vc[u], vf);
            [[unroll]] for (uint h = 0; h < G; h++)
                [[unroll]] for (uint i = 0; i < DPL; i++) acc[h * DPL + i] += w[u][h] * vf[i];
        }
        if (PREFETCH)
            [[unroll]] for (uint u = 0; u < U; u++) {
                kc[u] = kn[u];
                vc[u] = vn[u];
            }
    }

    // Merge the NG group states. Scaled to the largest reference m of a head (from
    // shared memory), they only need adding (no float atomics needed): first
    // the per_sg groups of one subgroup by shuffles, then the subgroups' sums
    // through the shared stage, a pass of columns at a time: every subgroup
    // writes its share of the pass's columns, then each invocation adds one
    // column's values and writes it out, the stores coalesced.
    if (lane == 0) [[unroll]] for (uint h = 0; h < G; h++) group_m[grp * G + h] = m[h];
    barrier();
    [[unroll]] for (uint h = 0; h < G; h++) {
        float mm = -1.0 / 0.0;
        for (uint g = 0; g < NG; g++) mm = max(mm, group_m[g * G + h]);
        // A group that saw no key has m = -inf and contributes nothing.
        float scale = m[h] == -1.0 / 0.0 ? 0.0 : exp(m[h] - mm);
        lsum[h] *= scale;
        [[unroll]] for (uint i = 0; i < DPL; i++) acc[h * DPL + i] *= scale;
    }
#ifdef TAPPA_SUBGROUP
    uint per_sg = min(gl_SubgroupSize, WG) / T;
    for (uint x = T; x < per_sg * T; x *= 2) {
        [[unroll]] for (uint h = 0; h < G; h++) lsum[h] += subgroupShuffleXor(lsum[h], x);
        [[unroll]] for (uint c = 0; c < G * DPL; c++) acc[c] += subgroupShuffleXor(acc[c], x);
    }
#else
    uint per_sg = 1;
#endif
    uint nsg = NG / per_sg, sub = grp / per_sg, cols = STAGE / nsg;
    bool leader = grp % per_sg == 0;
    if (leader && lane == 0) [[unroll]] for (uint h = 0; h < G; h++) stage_l[sub * G + h] = lsum[h];
    uint part = pc.part_base + chunk;
    // The only partial of its KV head (a context of at most one chunk) is the
    // result: written out, without the count and the merge's latencies.
    for (uint first = 0; first < G * D; first += cols) {
        if (leader)
            [[unroll]] for (uint h = 0; h < G; h++)
                [[unroll]] for (uint i = 0; i < DPL; i++) {
                    uint c = h * D + lane * DPL + i - first;
                    if (c < cols) stage_o[sub * cols + c] = acc[h * DPL + i]; // c wraps below first
                }
        barrier();
        if (first == 0 && l < G) {
            float mm = -1.0 / 0.0, ll = 0.0;
            for (uint g = 0; g < NG; g++) mm = max(mm, group_m[g * G + l]);
            for (uint j = 0; j < nsg; j++) ll += stage_l[j * G + l];
            if (pc.head_parts == 1) lse[pc.lse_base + head0 + l] = mm + log(ll);
            else part_ml[(head0 + l) * pc.parts + part] = vec2(mm, ll);
        }
        for (uint c = l; c < cols && first + c < G * D; c += WG) {
            float x = 0.0;
            for (uint j = 0; j < nsg; j++) x += stage_o[j * cols + c];
            uint h = (first + c) / D, d = (first + c) % D;
            if (pc.head_parts == 1) {
                float ll = 0.0;
                for (uint j = 0; j < nsg; j++) ll += stage_l[j * G + h];
                o[pc.o_base + (head0 + h) * D + d] = x / ll;
            } else {
                part_o[((head0 + h) * pc.parts + part) * D + d] = x;
            }
        }
        barrier();
    }
    if (pc.head_parts == 1) return;

    count_and_merge();
}
