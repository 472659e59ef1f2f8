#version 450
// Split-K decode attention on cooperative matrices (tensor cores), for f16
// caches on devices with VK_NV_cooperative_matrix; the same partials, counter
// and merge as attention_decode.comp (decode_merge.glsl). A workgroup takes
// CHUNK keys of one KV head for its G query heads, SUB keys a step. The
// step's K and V rows come in 16-byte loads spread over the workgroup, held
// in registers while the previous step computes, then stored to shared
// memory (zeros past the end: masked keys meet zero values, never garbage
// that could be NaN); from there the tiles load in the layouts the tensor
// cores take (V transposed). Per step:
//   1. S^T (SUB keys x NH heads) = K (SUB x D) . Q^T (D x NH), a 16-key block
//      per subgroup;
//   2. the exact max of each head over the step's keys, P = exp(S - max) in
//      f16 once per (head, key), and the row sums;
//   3. O^T (D x NH) = V^T (D x SUB) . P^T (SUB x NH), dim tiles spread over
//      the subgroups;
//   4. each invocation folds its (head, dim) outputs of the step into a
//      running (m, l, o), so no matrix is ever rescaled.
// Heads G..NH-1 of Q and P are zeros (the tiles' N is 8 or 16, what the
// device offers).
// q: G rows of d, q_stride apart, from q_base; k, v: (n, d) from k_base /
// v_base (multiples of 8); partials, o, lse, count: as in attention_decode.comp.
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define TAPPA_F16
#include "common.glsl"

layout(constant_id = 1) const uint D = 128;     // multiple of 16, <= 256
layout(constant_id = 2) const uint G = 4;       // query heads per KV head, <= NH
layout(constant_id = 3) const uint CHUNK = 512; // keys per workgroup, a multiple of SUB
layout(constant_id = 4) const uint SUB = 64;    // keys per step: 16, 32 or 64
layout(constant_id = 5) const uint NH = 8;      // N of the tiles: 8 or 16
layout(constant_id = 6) const uint MERGE_UNROLL = 8;
const uint WG = gl_WorkGroupSize.x;
const uint DT = D / 16;                         // dim tiles
const uint KB = SUB / 16;                       // key blocks per step
const uint ROW8 = D / 8;                        // uvec4s per K/V row
const uint STRIDE8 = ROW8 + 1;                  // padded shared row: fewer bank conflicts
const uint LOADS = (SUB * ROW8 + WG - 1) / WG;  // uvec4s of K (and of V) per invocation per step
const uint MAX_SG = 16;                         // subgroups per workgroup, at most (WG 128, subgroup >= 8)
const uint MAX_OWN = 16;                        // (head, dim) outputs per invocation: G * D / WG <= 16
const uint SO = NH * (SUB > D ? SUB : D);       // the scores of a step, then its outputs

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K8 { uvec4 k8[]; };
layout(binding = 2) readonly buffer V8 { uvec4 v8[]; };

layout(push_constant) uniform Push {
    uint q_base, k_base, v_base;
    uint head0;      // global index of the first of the G query heads (= KV head * G)
    uint n;          // keys in this piece
    uint part_base;  // first partial of this piece, per head
    uint parts;      // row stride of part_ml / part_o
    uint head_parts; // partials of this KV head over all its pieces
    uint o_base, lse_base;
    float scale;
    uint q_stride;   // floats between the G query heads' rows in q
} pc;

shared float16_t q_sh[NH * D];   // (NH, D): scaled queries, zero rows past G
shared uvec4 k_st[SUB * STRIDE8];// (SUB, D) f16, padded rows
shared uvec4 v_st[SUB * STRIDE8];
shared float s_o[SO];            // (NH, SUB) scores, then (NH, D) outputs of the step
shared float16_t p_sh[NH * SUB]; // (NH, SUB): probabilities, zero rows past G
shared float red_m[MAX_SG * 16];
shared float red_l[MAX_SG * 16];

#include "decode_merge.glsl"

// This invocation's share of a step's K and V rows (zeros past end).
void load_step(uint s0, uint end, out uvec4 kr[LOADS], out uvec4 vr[LOADS])
{
    [[unroll]] for (uint x = 0; x < LOADS; x++) {
        uint i = gl_LocalInvocationID.x + x * WG, key = s0 + i / ROW8, c = i % ROW8;
        bool inside = i < SUB * ROW8 && key < end;
        kr[x] = inside ? k8[pc.k_base / 8 + key * ROW8 + c] : uvec4(0);
        vr[x] = inside ? v8[pc.v_base / 8 + key * ROW8 + c] : uvec4(0);
    }
}

void main()
{
    uint l = gl_LocalInvocationID.x, sg = gl_SubgroupID, nsg = gl_NumSubgroups;
    uint chunk = linear_group();
    uint begin = chunk * CHUNK, end = min(begin + CHUNK, pc.n);

    // The first step's rows are asked for before anything else.
    uvec4 kr[LOADS], vr[LOADS];
    load_step(begin, end, kr, vr);
    for (uint i = l; i < NH * D; i += WG) {
        uint h = i / D;
        q_sh[i] = float16_t(h < G ? q[pc.q_base + h * pc.q_stride + i % D] * pc.scale : 0.0);
    }
    for (uint i = l; i < NH * SUB; i += WG) p_sh[i] = float16_t(0.0);
    barrier();
    fcoopmatNV<16, gl_ScopeSubgroup, 16, NH> qt[DT];
    [[unroll]] for (uint t = 0; t < DT; t++) coopMatLoadNV(qt[t], q_sh, t * 16, D, true);

    // The running state of this invocation's (head, dim) outputs c = l + i * WG.
    const uint OWN = (G * D + WG - 1) / WG;
    float o_run[MAX_OWN];
    [[unroll]] for (uint i = 0; i < OWN; i++) o_run[i] = 0.0;
    float m_run[16], l_run[16];
    [[unroll]] for (uint h = 0; h < G; h++) {
        m_run[h] = -1.0 / 0.0;
        l_run[h] = 0.0;
    }

    for (uint s0 = begin; s0 < end; s0 += SUB) {
        // The step's rows to shared memory (the last step's reads of them
        // ended before its last barrier), then the next step's loads.
        [[unroll]] for (uint x = 0; x < LOADS; x++) {
            uint i = l + x * WG;
            if (i < SUB * ROW8) {
                uint at = (i / ROW8) * STRIDE8 + i % ROW8;
                k_st[at] = kr[x];
                v_st[at] = vr[x];
            }
        }
        barrier();
        if (s0 + SUB < end) load_step(s0 + SUB, end, kr, vr);
        // 1. Scores of the step's blocks.
        for (uint b = sg; b < KB; b += nsg) {
            fcoopmatNV<32, gl_ScopeSubgroup, 16, NH> acc = fcoopmatNV<32, gl_ScopeSubgroup, 16, NH>(0.0);
            [[unroll]] for (uint t = 0; t < DT; t++) {
                fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> kt;
                coopMatLoadNV(kt, k_st, b * 16 * STRIDE8 + t * 2, STRIDE8, false);
                acc = coopMatMulAddNV(kt, qt[t], acc);
            }
            coopMatStoreNV(acc, s_o, b * 16, SUB, true);
        }
        barrier();
        // 2. Max per head over the step's keys, then probabilities and sums.
        uint valid = min(SUB, end - s0);
        float m_sub[16], l_sub[16];
        [[unroll]] for (uint h = 0; h < G; h++) {
            float mx = -1.0 / 0.0;
            for (uint j = l; j < valid; j += WG) mx = max(mx, s_o[h * SUB + j]);
            mx = subgroupMax(mx);
            if (subgroupElect()) red_m[sg * 16 + h] = mx;
        }
        barrier();
        [[unroll]] for (uint h = 0; h < G; h++) {
            float mx = -1.0 / 0.0;
            for (uint x = 0; x < nsg; x++) mx = max(mx, red_m[x * 16 + h]);
            m_sub[h] = mx; // finite: every step has at least one valid key
            float sum = 0.0;
            for (uint j = l; j < SUB; j += WG) {
                float16_t p = float16_t(j < valid ? exp(s_o[h * SUB + j] - mx) : 0.0);
                p_sh[h * SUB + j] = p;
                sum += float(p); // the rounded value, as P . V sees it
            }
            sum = subgroupAdd(sum);
            if (subgroupElect()) red_l[sg * 16 + h] = sum;
        }
        barrier();
        // 3. Outputs of the step, one dim tile at a time per subgroup.
        for (uint t = sg; t < DT; t += nsg) {
            fcoopmatNV<32, gl_ScopeSubgroup, 16, NH> acc = fcoopmatNV<32, gl_ScopeSubgroup, 16, NH>(0.0);
            [[unroll]] for (uint b = 0; b < KB; b++) {
                fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> vt; // V^T: (16 dims, 16 keys)
                fcoopmatNV<16, gl_ScopeSubgroup, 16, NH> pt;
                coopMatLoadNV(vt, v_st, b * 16 * STRIDE8 + t * 2, STRIDE8, true);
                coopMatLoadNV(pt, p_sh, b * 16, SUB, true);
                acc = coopMatMulAddNV(vt, pt, acc);
            }
            coopMatStoreNV(acc, s_o, t * 16, D, true);
        }
        barrier();
        // 4. Fold the step into the running state.
        [[unroll]] for (uint h = 0; h < G; h++) {
            float sum = 0.0;
            for (uint x = 0; x < nsg; x++) sum += red_l[x * 16 + h];
            l_sub[h] = sum;
        }
        float a_run[16], a_sub[16];
        [[unroll]] for (uint h = 0; h < G; h++) {
            float mx = max(m_run[h], m_sub[h]);
            a_run[h] = exp(m_run[h] - mx); // m_run = -inf at first: 0
            a_sub[h] = exp(m_sub[h] - mx);
            l_run[h] = l_run[h] * a_run[h] + l_sub[h] * a_sub[h];
            m_run[h] = mx;
        }
        [[unroll]] for (uint i = 0; i < OWN; i++) {
            uint c = l + i * WG, h = c / D;
            float ar = 0.0, as = 0.0;
            [[unroll]] for (uint x = 0; x < G; x++) // constant indices keep the arrays in registers
                if (x == h) {
                    ar = a_run[x];
                    as = a_sub[x];
                }
            if (c < G * D) o_run[i] = o_run[i] * ar + s_o[c] * as;
        }
        // The next step writes s_o only after its first barrier, and k_st /
        // v_st were last read before this step's last barrier.
    }

    uint part = pc.part_base + chunk;
    [[unroll]] for (uint h = 0; h < G; h++)
        if (l == h) part_ml[(pc.head0 + h) * pc.parts + part] = vec2(m_run[h], l_run[h]);
    [[unroll]] for (uint i = 0; i < OWN; i++) {
        uint c = l + i * WG;
        if (c < G * D) part_o[((pc.head0 + c / D) * pc.parts + part) * D + c % D] = o_run[i];
    }
    count_and_merge();
}
