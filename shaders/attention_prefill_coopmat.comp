#version 450
// Causal (or full) attention for many queries on cooperative matrices (tensor
// cores), f16 K/V, for devices with VK_NV_cooperative_matrix; the portable
// kernel is attention_prefill.comp. Each subgroup of 32 owns 16 query rows,
// kept as f16 tiles (a workgroup: 16 rows per subgroup); K and V stream
// through shared memory 32 keys at a time, shared by the subgroups.
// Per key tile a subgroup computes S = Q K^T (16 x 32, f32) and stores it to
// its scratch, where its lanes (two per row) mask, take the row max and write
// P = exp(S - m) in f16; then O += P V on the tiles. The scratches are
// column-major with padded columns, and the second lane of a row starts 4
// columns on, so the lanes' shared-memory accesses fall in different banks.
// O stays in accumulator tiles, whose elements cannot be addressed by row, so
// the running max m moves only when a row's max grows by more than RESCALE
// (P <= e^RESCALE then, well inside f16); the subgroup then rescales O
// through its scratch, one tile at a time: a few times per row, not once per
// tile. Workgroup g takes query head g / blocks and row block
// blocks - 1 - g % blocks, so the longest causal rows start first. Row i sees
// keys [0, min(nk, nk - nq + i + 1)) when causal, all nk otherwise.
// q, o: (heads, nq, d) from q_base / o_base; k, v: (heads / group, nk, d)
// from k_base / v_base; lse: (heads, nq) from lse_base. q_base, k_base,
// v_base, o_base multiples of 8 elements (16-byte tile rows).
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#define TAPPA_F16
#include "common.glsl"

layout(constant_id = 1) const uint D = 128;   // head dim, multiple of 16, <= 256
const uint WG = gl_WorkGroupSize.x;
const uint NSG = WG / 32;                     // subgroups of 32
const uint BR = 16 * NSG;                     // query rows per workgroup
const uint BC = 32;                           // keys per tile
const uint DT = D / 16;                       // dim tiles
const uint KT = BC / 16;                      // key tiles
const uint STRIDE8 = D / 8 + 1;               // shared K/V row in uvec4s (8 halves), padded
const uint SST = 20;                          // scratch column stride, floats
const uint PST = 24;                          // probability column stride, halves
const float RESCALE = 8.0;

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K8 { uvec4 k8[]; };
layout(binding = 2) readonly buffer V8 { uvec4 v8[]; };
layout(binding = 3) writeonly buffer O { float o[]; };
layout(binding = 4) writeonly buffer Lse { float lse[]; };

layout(push_constant) uniform Push {
    uint q_base, k_base, v_base, o_base, lse_base;
    uint nq, nk;
    uint causal;
    float scale;
    uint blocks;    // row blocks per query head
    uint group;     // query heads per KV head
    uint heads;     // query heads in this dispatch (blocks * heads workgroups)
} pc;

shared uvec4 k_sh[BC * STRIDE8];      // (BC, D) f16, padded rows
shared uvec4 v_sh[BC * STRIDE8];
shared float s_scr[NSG * BC * SST];   // per subgroup: S (16 x BC) column-major, or one O tile
shared float16_t p_scr[NSG * BC * PST]; // per subgroup: P (16 x BC) column-major

void main()
{
    uint l = gl_LocalInvocationID.x, sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    uint g = linear_group();
    uint head = g / pc.blocks, block = pc.blocks - 1 - g % pc.blocks;
    if (head >= pc.heads) return; // grid padding (tvk_grid rounds up): the whole workgroup leaves
    uint kv_head = head / pc.group;
    uint q_base = pc.q_base + head * pc.nq * D, o_base = pc.o_base + head * pc.nq * D;
    uint k_base = pc.k_base + kv_head * pc.nk * D, v_base = pc.v_base + kv_head * pc.nk * D;
    uint row0 = block * BR + sg * 16;          // this subgroup's first row
    uint offset = pc.nk - pc.nq;
    uint wg_last = min(block * BR + BR, pc.nq) - 1;
    uint k_hi = pc.causal != 0 ? min(offset + wg_last + 1, pc.nk) : pc.nk;
    uint scr = sg * BC * SST, pscr = sg * BC * PST;
    // The lane's row and half of the tile's columns; the second half starts
    // 4 columns on (bank spread).
    uint r = lane % 16, h = lane / 16, row = row0 + r;
    uint limit = pc.causal != 0 ? min(offset + row + 1, pc.nk) : pc.nk;

    // This subgroup's queries as f16 tiles, scaled; rows past nq are zeros
    // (a tail block goes through the scratch so no load leaves the binding).
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> qt[DT];
    bool tail = row0 + 16 > pc.nq;
    [[unroll]] for (uint t = 0; t < DT; t++) {
        fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> f;
        if (!tail) {
            coopMatLoadNV(f, q, q_base + row0 * D + t * 16, D, false);
        } else {
            for (uint i = lane; i < 256; i += 32) {
                uint rr = row0 + i / 16;
                s_scr[scr + i] = rr < pc.nq ? q[q_base + rr * D + t * 16 + i % 16] : 0.0;
            }
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            coopMatLoadNV(f, s_scr, scr, 16, false);
            subgroupBarrier();
        }
        qt[t] = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(f * pc.scale);
    }
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[DT];
    [[unroll]] for (uint t = 0; t < DT; t++) acc[t] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    float m_row = -1.0 / 0.0, l_row = 0.0; // the lane's row: the max in use and its half's sum

    for (uint k0 = 0; k0 < k_hi; k0 += BC) {
        barrier(); // the previous tile's K and V reads are done
        for (uint i = l; i < BC * (D / 8); i += WG) {
            uint key = k0 + i / (D / 8), c8 = i % (D / 8);
            bool inside = key < pc.nk;
            uint at = (i / (D / 8)) * STRIDE8 + c8;
            k_sh[at] = inside ? k8[(k_base + key * D) / 8 + c8] : uvec4(0);
            v_sh[at] = inside ? v8[(v_base + key * D) / 8 + c8] : uvec4(0);
        }
        barrier();
        // A subgroup whose rows see none of this tile, or has no rows, skips it.
        if (row0 >= pc.nq || (pc.causal != 0 && k0 >= offset + min(row0 + 16, pc.nq))) continue;

        [[unroll]] for (uint j = 0; j < KT; j++) {
            fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> s = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
            [[unroll]] for (uint t = 0; t < DT; t++) {
                fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> kt; // K^T: (16 dims, 16 keys)
                coopMatLoadNV(kt, k_sh, j * 16 * STRIDE8 + t * 2, STRIDE8, true);
                s = coopMatMulAddNV(qt[t], kt, s);
            }
            coopMatStoreNV(s, s_scr, scr + j * 16 * SST, SST, true);
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();

        // Row max over the tile's visible keys; move m (and rescale) only
        // when it grew by more than RESCALE, or on the row's first keys.
        float mx = -1.0 / 0.0;
        [[unroll]] for (uint i = 0; i < 16; i++) {
            uint c = h * 16 + (i + 4 * h) % 16;
            if (k0 + c < limit) mx = max(mx, s_scr[scr + c * SST + r]);
        }
        mx = max(mx, subgroupShuffleXor(mx, 16));
        float alpha = 1.0;
        bool moved = false;
        if (mx > m_row + RESCALE || m_row == -1.0 / 0.0) {
            moved = m_row != -1.0 / 0.0;
            alpha = moved ? exp(m_row - mx) : 1.0;
            l_row *= alpha;
            m_row = mx;
        }
        float sum = 0.0;
        [[unroll]] for (uint i = 0; i < 16; i++) {
            uint c = h * 16 + (i + 4 * h) % 16;
            float p = k0 + c < limit && m_row != -1.0 / 0.0 ? exp(s_scr[scr + c * SST + r] - m_row) : 0.0;
            float16_t ph = float16_t(p);
            p_scr[pscr + c * PST + r] = ph;
            sum += float(ph); // the rounded value, as P V sees it
        }
        l_row += sum;
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        if (subgroupAny(moved)) {
            [[unroll]] for (uint t = 0; t < DT; t++) {
                coopMatStoreNV(acc[t], s_scr, scr, SST, true);
                subgroupMemoryBarrierShared();
                subgroupBarrier();
                for (uint c = h * 8; c < h * 8 + 8; c++) s_scr[scr + c * SST + r] *= alpha;
                subgroupMemoryBarrierShared();
                subgroupBarrier();
                coopMatLoadNV(acc[t], s_scr, scr, SST, true);
                subgroupBarrier();
            }
        }
        [[unroll]] for (uint j = 0; j < KT; j++) {
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> pt;
            coopMatLoadNV(pt, p_scr, pscr + j * 16 * PST, PST, true);
            [[unroll]] for (uint t = 0; t < DT; t++) {
                fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> vt; // V: (16 keys, 16 dims)
                coopMatLoadNV(vt, v_sh, j * 16 * STRIDE8 + t * 2, STRIDE8, false);
                acc[t] = coopMatMulAddNV(pt, vt, acc[t]);
            }
        }
    }

    // Normalise and write this subgroup's rows, one O tile at a time.
    float total = l_row + subgroupShuffleXor(l_row, 16);
    float inv = total > 0.0 ? 1.0 / total : 0.0;
    if (row0 >= pc.nq) return;
    [[unroll]] for (uint t = 0; t < DT; t++) {
        subgroupBarrier();
        coopMatStoreNV(acc[t], s_scr, scr, SST, true);
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        if (row < pc.nq)
            for (uint c = h * 8; c < h * 8 + 8; c++) o[o_base + row * D + t * 16 + c] = s_scr[scr + c * SST + r] * inv;
    }
    if (h == 0 && row < pc.nq) lse[pc.lse_base + head * pc.nq + row] = m_row + log(total);
}
