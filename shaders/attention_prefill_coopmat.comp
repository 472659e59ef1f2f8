#version 450
// Causal (or full) attention for many queries on cooperative matrices (tensor
// cores), f16 K/V, for devices with VK_NV_cooperative_matrix; the portable
// kernel is attention_prefill.comp. Each subgroup of 32 owns RT tiles of 16
// query rows, kept as f16 tiles; K and V stream through shared memory BC
// keys at a time, shared by the workgroup's subgroups, and each K or V tile
// a subgroup loads serves all its row tiles.
// The softmax runs on the accumulator tiles in registers. GL_NV_cooperative_
// matrix does not say which element of a tile a lane holds; the host probed
// it (coopmat_layout.comp, once per device) and passes what this kernel
// needs as constants: each lane holds 8 elements of a 16 x 16 f32 tile on at
// most two rows, in the same pattern in every lane (SLOTS), at the same
// column steps from its first element (COLS), and the lanes holding a row
// are an aligned group of ROW_LANES, so a row's max is a butterfly over that
// group. Which rows and first column a lane has, each workgroup reads off a
// tile of element numbers.
// Per key tile, S = Q K^T (scores already in log2 units: Q carries the
// scale times log2 e), masked where the tile crosses the causal edge or nk;
// P = exp2(S - m) becomes the f16 left operand of O += P V, and of
// L += P 1, so each row's sum accumulates in a tile of its own with the
// rounding P V sees and the same rescaling. m moves only when a row's max
// grew by more than RESCALE (P <= 2^RESCALE then, well inside f16), so the
// accumulators are rescaled a few times per row, not once per tile.
// Workgroup g takes query head g / blocks and row block blocks - 1 - g %
// blocks, so the longest causal rows start first. Row i sees keys
// [0, min(nk, nk - nq + i + 1)) when causal, all nk otherwise.
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

layout(constant_id = 1) const uint D = 128;        // head dim, multiple of 16, <= 256
layout(constant_id = 2) const uint BC = 32;        // keys per tile, multiple of 16
// The tile layout the host found (coopmat_layout.c): the lanes holding one
// row (a power of 2); bit i of SLOTS set where element i lies on the lane's
// second row; bits 4i..4i+3 of COLS: element i's column past element 0's.
// The defaults are what NVIDIA's driver reports.
layout(constant_id = 3) const uint ROW_LANES = 4;
layout(constant_id = 4) const uint SLOTS = 0xF0;
layout(constant_id = 5) const uint COLS = 0x98109810;
layout(constant_id = 6) const uint RT = 1;         // 16-row tiles per subgroup
const uint WG = gl_WorkGroupSize.x;
const uint NSG = WG / 32;                          // subgroups of 32
const uint SR = 16 * RT;                           // query rows per subgroup
const uint BR = SR * NSG;                          // query rows per workgroup
const uint DT = D / 16;                            // dim tiles
const uint KT = BC / 16;                           // key tiles
const uint NE = 8;                                 // elements of a 16 x 16 tile per lane
const uint STRIDE8 = D / 8 + 1;                    // shared K/V row in uvec4s (8 halves), padded
const float RESCALE = 11.0;                        // log2 units: 2^11, about e^7.6
const float LOG2E = 1.4426950408889634;

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
shared float numbers[256];            // (16, 16): element e holds e

// 16 x 16 tiles: f32 accumulators (and the probe of their layout), f16 operands.
#define TILE32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define TILE16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>

bool second_row(uint i) { return ((SLOTS >> i) & 1u) != 0; }
uint col_step(uint i) { return (COLS >> (4 * i)) & 15u; }

void main()
{
    uint l = gl_LocalInvocationID.x, sg = gl_SubgroupID;
    uint g = linear_group();
    uint head = g / pc.blocks, block = pc.blocks - 1 - g % pc.blocks;
    if (head >= pc.heads) return; // grid padding (tvk_grid rounds up): the whole workgroup leaves
    uint kv_head = head / pc.group;
    uint q_base = pc.q_base + head * pc.nq * D, o_base = pc.o_base + head * pc.nq * D;
    uint k_base = pc.k_base + kv_head * pc.nk * D, v_base = pc.v_base + kv_head * pc.nk * D;
    uint row0 = block * BR + sg * SR;          // this subgroup's first row
    uint offset = pc.nk - pc.nq;
    uint wg_last = min(block * BR + BR, pc.nq) - 1;
    uint k_hi = pc.causal != 0 ? min(offset + wg_last + 1, pc.nk) : pc.nk;

    // This lane's two rows of a tile (r0 of the elements without their SLOTS
    // bit, r1 of those with it) and its first column, read off a tile of
    // element numbers.
    for (uint i = l; i < 256; i += WG) numbers[i] = float(i);
    barrier();
    uint r0, r1, c0;
    {
        TILE32 f;
        coopMatLoadNV(f, numbers, 0, 16, false);
        r0 = uint(f[0]) / 16;
        c0 = uint(f[0]) % 16;
        r1 = r0;
        [[unroll]] for (uint i = 0; i < NE; i++)
            if (second_row(i)) r1 = uint(f[i]) / 16;
    }

    // This subgroup's queries as f16 tiles, scaled; rows past nq are zeros.
    TILE16 qt[RT * DT];
    [[unroll]] for (uint a = 0; a < RT; a++) {
        uint base = row0 + a * 16;
        bool tail = base + 16 > pc.nq;
        [[unroll]] for (uint t = 0; t < DT; t++) {
            TILE32 f = TILE32(0.0);
            if (!tail) {
                coopMatLoadNV(f, q, q_base + base * D + t * 16, D, false);
            } else {
                [[unroll]] for (uint i = 0; i < NE; i++) {
                    uint row = base + (second_row(i) ? r1 : r0);
                    if (row < pc.nq) f[i] = q[q_base + row * D + t * 16 + c0 + col_step(i)];
                }
            }
            qt[a * DT + t] = TILE16(f * (pc.scale * LOG2E));
        }
    }
    TILE32 acc[RT * DT];
    [[unroll]] for (uint t = 0; t < RT * DT; t++) acc[t] = TILE32(0.0);
    TILE32 sums[RT];                           // every column: its row's sum of P
    [[unroll]] for (uint a = 0; a < RT; a++) sums[a] = TILE32(0.0);
    const TILE16 ones = TILE16(1.0);
    // Per row tile: the max in use of the lane's two rows, and the keys
    // each sees, [0, lim).
    float m0[RT], m1[RT];
    uint lim0[RT], lim1[RT];
    [[unroll]] for (uint a = 0; a < RT; a++) {
        m0[a] = -1.0 / 0.0;
        m1[a] = -1.0 / 0.0;
        lim0[a] = pc.causal != 0 ? min(offset + row0 + a * 16 + r0 + 1, pc.nk) : pc.nk;
        lim1[a] = pc.causal != 0 ? min(offset + row0 + a * 16 + r1 + 1, pc.nk) : pc.nk;
    }
    // Keys every row of the subgroup sees: tiles below need no mask.
    uint all_see = pc.causal != 0 ? min(offset + row0 + 1, pc.nk) : pc.nk;

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
        if (row0 >= pc.nq || (pc.causal != 0 && k0 >= offset + min(row0 + SR, pc.nq))) continue;

        TILE32 s[RT * KT];
        [[unroll]] for (uint j = 0; j < KT; j++) {
            [[unroll]] for (uint a = 0; a < RT; a++) s[a * KT + j] = TILE32(0.0);
            [[unroll]] for (uint t = 0; t < DT; t++) {
                TILE16 kt; // K^T: (16 dims, 16 keys), one load for every row tile
                coopMatLoadNV(kt, k_sh, j * 16 * STRIDE8 + t * 2, STRIDE8, true);
                [[unroll]] for (uint a = 0; a < RT; a++) s[a * KT + j] = coopMatMulAddNV(qt[a * DT + t], kt, s[a * KT + j]);
            }
        }

        bool masked = k0 + BC > all_see;
        [[unroll]] for (uint a = 0; a < RT; a++) {
            // Mask where the tile reaches past what a row sees, then each
            // row's max over the tile, across the lanes holding the row.
            float mx0 = -1.0 / 0.0, mx1 = -1.0 / 0.0;
            [[unroll]] for (uint j = 0; j < KT; j++) {
                [[unroll]] for (uint i = 0; i < NE; i++) {
                    float x = s[a * KT + j][i];
                    if (masked && k0 + j * 16 + c0 + col_step(i) >= (second_row(i) ? lim1[a] : lim0[a])) x = -1.0 / 0.0;
                    s[a * KT + j][i] = x;
                    if (second_row(i)) mx1 = max(mx1, x); else mx0 = max(mx0, x);
                }
            }
            [[unroll]] for (uint w = 1; w < ROW_LANES; w *= 2) {
                mx0 = max(mx0, subgroupShuffleXor(mx0, w));
                mx1 = max(mx1, subgroupShuffleXor(mx1, w));
            }
            // Move m only when a row's max grew by more than RESCALE, or on
            // its first keys.
            bool move0 = mx0 > m0[a] + RESCALE || m0[a] == -1.0 / 0.0;
            bool move1 = mx1 > m1[a] + RESCALE || m1[a] == -1.0 / 0.0;
            mx0 = move0 ? mx0 : m0[a];
            mx1 = move1 ? mx1 : m1[a];
            float a0 = m0[a] != -1.0 / 0.0 ? exp2(m0[a] - mx0) : 1.0;
            float a1 = m1[a] != -1.0 / 0.0 ? exp2(m1[a] - mx1) : 1.0;
            m0[a] = mx0;
            m1[a] = mx1;
            if (subgroupAny(a0 != 1.0 || a1 != 1.0)) {
                [[unroll]] for (uint i = 0; i < NE; i++) {
                    float f = second_row(i) ? a1 : a0;
                    [[unroll]] for (uint t = 0; t < DT; t++) acc[a * DT + t][i] *= f;
                    sums[a][i] *= f;
                }
            }
            // A row with no key yet (all masked) keeps m = -inf: subtract 0.
            float b0 = mx0 == -1.0 / 0.0 ? 0.0 : mx0, b1 = mx1 == -1.0 / 0.0 ? 0.0 : mx1;
            [[unroll]] for (uint j = 0; j < KT; j++)
                [[unroll]] for (uint i = 0; i < NE; i++)
                    s[a * KT + j][i] = exp2(s[a * KT + j][i] - (second_row(i) ? b1 : b0));
        }
        [[unroll]] for (uint j = 0; j < KT; j++) {
            TILE16 pt[RT];
            [[unroll]] for (uint a = 0; a < RT; a++) {
                pt[a] = TILE16(s[a * KT + j]);
                sums[a] = coopMatMulAddNV(pt[a], ones, sums[a]);
            }
            [[unroll]] for (uint t = 0; t < DT; t++) {
                TILE16 vt; // V: (16 keys, 16 dims), one load for every row tile
                coopMatLoadNV(vt, v_sh, j * 16 * STRIDE8 + t * 2, STRIDE8, false);
                [[unroll]] for (uint a = 0; a < RT; a++) acc[a * DT + t] = coopMatMulAddNV(pt[a], vt, acc[a * DT + t]);
            }
        }
    }

    // Normalise and write this subgroup's rows from the registers; the lane
    // holding a row's column 0 writes its log-sum-exp (natural log).
    if (row0 >= pc.nq) return;
    [[unroll]] for (uint a = 0; a < RT; a++) {
        [[unroll]] for (uint i = 0; i < NE; i++) {
            uint row = row0 + a * 16 + (second_row(i) ? r1 : r0), col = c0 + col_step(i);
            if (row >= pc.nq) continue;
            float total = sums[a][i];
            float inv = total > 0.0 ? 1.0 / total : 0.0;
            [[unroll]] for (uint t = 0; t < DT; t++) o[o_base + row * D + t * 16 + col] = acc[a * DT + t][i] * inv;
            if (col == 0) lse[pc.lse_base + head * pc.nq + row] = ((second_row(i) ? m1[a] : m0[a]) + log2(total)) / LOG2E;
        }
    }
}
