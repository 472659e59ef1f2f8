#version 450
// Split-K decode attention on cooperative matrices (tensor cores), f16 K/V,
// for devices with VK_NV_cooperative_matrix; attention_decode.comp is the
// portable kernel, whose partials, counters and merge this one shares
// (decode_merge.glsl), so the host plans both the same way.
// The portable kernel's f16 key loop is bound by its arithmetic: about 500
// instructions a lane per 4 keys (dot products, their sums across lanes,
// exponentials, the V update), twice the arithmetic per byte of an f32
// cache. Here the G query heads of a KV head are the rows of one 16-row f16
// tile (rows past G are zeros: the tensor cores have throughput to spare),
// and each subgroup of 32 takes 16-key tiles (see below): it loads the
// tile's K and V rows coalesced, 16 bytes a lane, into its own region of
// shared memory (the next tile's loads are in flight while
// this one's arithmetic runs), then S = Q K^T, the online softmax on the
// accumulator in registers (the tile layout the host probed,
// coopmat_layout.c, as in attention_prefill_coopmat.comp), O += P V and
// L += P 1. Scores are in log2 units (Q carries the scale times log2 e); m
// moves only when a row's max grew by more than RESCALE. The subgroups'
// states merge through shared memory into one partial per query head.
// Key tiles are handed out at run time: each subgroup takes its first tile
// in order, and every further one off the KV head's tile counter, two tiles
// ahead of its use. Workgroups on slower SMs then take fewer tiles, and a
// head's workgroups end their loops within 1-2 us of each other, where with
// fixed chunks the last of 264 ended 6.4 us after the median (H200, 128K,
// clock stamps); the merge waits for the last.
// The Q tiles are read from shared memory at every key tile rather than
// kept in registers: the driver then allocated 214 registers a lane rather
// than 253 (H200, Hq 32 / Hkv 8 / D 128, 128K: 137.6 us against 147.8; 230
// for this kernel). One tile's K and V rows in flight per subgroup, at two
// workgroups an SM, bound the loop's rate (about 4.2 TB/s there), but
// deeper prefetches were all slower on that driver: K and V rows issued
// 1.5 tiles ahead in three register sets (245-255 registers, 128K: 145-165
// us against 134.5), and word-per-sector loads that bring the rows into the
// L2 cache one or two tiles before their fetch (148-170 us).
// q: G rows of d, q_stride apart, from q_base; k, v: this piece's keys, (n, d)
// from k_base / v_base (multiples of 8: 16-byte rows); part_ml: (all query
// heads, parts, 2) max (natural log) and sum; part_o4: (all query heads,
// parts, d / 4) vec4s; o: (all query heads, d) from o_base; lse: (all query heads) from
// lse_base; count: (KV heads) arrival counters, then the tile counters from
// tile_first, tile_head_stride apart per KV head, one per piece; all zero
// between calls.
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_shader_subgroup_ballot : require
#define TAPPA_F16
#include "common.glsl"

layout(constant_id = 1) const uint D = 128;     // multiple of 16, <= 128
layout(constant_id = 2) const uint G = 4;       // query heads per KV head, <= 16
layout(constant_id = 3) const uint CHUNK = 512; // keys per workgroup on average, a multiple of 16 * NSG
// The tile layout the host found (see attention_prefill_coopmat.comp).
layout(constant_id = 4) const uint ROW_LANES = 4;
layout(constant_id = 5) const uint SLOTS = 0xF0;
layout(constant_id = 6) const uint COLS = 0x98109810;
layout(constant_id = 7) const uint MERGE_UNROLL = 8;
const uint WG = gl_WorkGroupSize.x;
const uint NSG = WG / 32;                       // subgroups of 32
const uint DT = D / 16;                         // dim tiles
const uint NE = 8;                              // elements of a 16 x 16 tile per lane
const uint KEYS = 16;                           // keys per tile, the unit handed out
const uint ROW8 = D / 8;                        // a K or V row in uvec4s (8 halves)
const uint STRIDE8 = ROW8 + 1;                  // a shared row, padded
const uint LOADS = KEYS * ROW8 / 32;            // uvec4s per lane per K or V tile (D / 16)
// After the key loop, the subgroups' output tiles, (NSG, 16, D) f32 rows of
// OUT4 uvec4s (padded), packed over the K/V tiles' shared memory: NSG 16
// (D / 4 + 1) <= NSG 2 KEYS (D / 8 + 1) uvec4s. A subgroup's rows start in
// the previous subgroup's share, so they are stored only once every
// subgroup is done with its tiles.
const uint OUT4 = D / 4 + 1;
const float RESCALE = 11.0;                     // log2 units: P <= 2^11, well inside f16
const float LOG2E = 1.4426950408889634;

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K8 { uvec4 k8[]; };
layout(binding = 2) readonly buffer V8 { uvec4 v8[]; };
// Written by every workgroup and read by the last of its KV head: coherent.
layout(binding = 3) coherent buffer PartML { vec2 part_ml[]; };
layout(binding = 4) coherent buffer PartO4 { vec4 part_o4[]; };
layout(binding = 5) writeonly buffer O { float o[]; };
layout(binding = 6) writeonly buffer Lse { float lse[]; };
layout(binding = 7) coherent buffer Count { uint count[]; };

// The same as attention_decode.comp's: the host records both alike.
layout(push_constant) uniform Push {
    uint q_base, k_base, v_base;
    uint head0;      // global index of the first of the G query heads (= KV head * G)
    uint n;          // keys in this piece
    uint part_base;  // first partial of this piece, per head
    uint parts;      // row stride of part_ml / part_o4 (partials per head, the most of any KV head)
    uint head_parts; // partials of this KV head over all its pieces
    uint o_base, lse_base;
    float scale;
    uint q_stride;   // floats between the G query heads' rows in q
    uint q_head_stride, k_head_stride, v_head_stride; // between KV heads of one dispatch (z)
    uint tile_first;       // count[] index of the first piece's tile counter of this dispatch's first KV head
    uint tile_head_stride; // between KV heads' tile counters
    uint tile_piece;       // this piece's counter, after the head's first
    uint tile_pieces;      // the head's pieces: the counters its last workgroup sets back to zero
} pc;

uint head0; // global index of this workgroup's first query head, set by main
#include "decode_merge.glsl"

shared uvec4 kv_sh[NSG * 2 * KEYS * STRIDE8]; // per subgroup: (KEYS, D) f16 K tile, then V tile
shared uvec4 q_sh[16 * STRIDE8];             // (16, D) f16 Q tile rows, scaled, rows past G zeros
shared float numbers[256];                    // (16, 16): element e holds e
shared float sg_m[NSG * 16];                  // each subgroup's row maxima (log2 units)
shared float sg_l[NSG * 16];                  // and row sums

#define TILE32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define TILE16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>

bool second_row(uint i) { return ((SLOTS >> i) & 1u) != 0; }
uint col_step(uint i) { return (COLS >> (4 * i)) & 15u; }

// Row r's max over the workgroup's subgroups, and the factor that takes a
// subgroup's sums at max m to a max mm (0 for a subgroup that saw no key).
float row_max(uint r)
{
    float mm = -1.0 / 0.0;
    for (uint g = 0; g < NSG; g++) mm = max(mm, sg_m[g * 16 + r]);
    return mm;
}
float to_max(float m, float mm) { return m == -1.0 / 0.0 ? 0.0 : exp2(m - mm); }

// Row r's sum over the workgroup's subgroups, at the row's max mm.
float row_sum(uint r, float mm)
{
    float ll = 0.0;
    for (uint g = 0; g < NSG; g++) ll += sg_l[g * 16 + r] * to_max(sg_m[g * 16 + r], mm);
    return ll;
}

// The next tile of this piece for the subgroup, past the ones taken in
// order (one per subgroup of each workgroup): one lane takes it off the
// counter; the value is read (broadcast) only where the tile is fetched, so
// the atomic's latency passes under a tile's work.
uint take_tile(uint at, uint first_free)
{
    uint t = 0;
    if (subgroupElect()) t = atomicAdd(count[at], 1u);
    return first_free + t;
}

// A lane's share of the K and V rows of the 16-key tile at k0, 16 bytes at
// a time, coalesced; keys past the end read the last key.
void fetch(uint k0, uint end, uint k_base, uint v_base, uint lane, out uvec4 kr[LOADS], out uvec4 vr[LOADS])
{
    [[unroll]] for (uint j = 0; j < LOADS; j++) {
        uint e = lane + 32 * j, key = min(k0 + e / ROW8, end - 1), c8 = e % ROW8;
        kr[j] = k8[(k_base + key * D) / 8 + c8];
        vr[j] = v8[(v_base + key * D) / 8 + c8];
    }
}

void main()
{
    uint l = gl_LocalInvocationID.x, sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    // Workgroups in the order they launch take KV heads in turn: SMs that
    // launch together run at different rates (H200, clock stamps: with a
    // head's workgroups on neighbouring SMs, heads ended up to 7 us apart at
    // 128K), so every head gets a share of each kind, and the tile counters
    // even out the rest.
    uint launched = linear_group() + gl_WorkGroupID.z * gl_NumWorkGroups.x * gl_NumWorkGroups.y;
    uint kv_z = launched % gl_NumWorkGroups.z, chunk = launched / gl_NumWorkGroups.z;
    uint end = pc.n;
    // Tiles 0 .. chunks * NSG - 1 go one to each subgroup in order; the
    // counter hands out the rest.
    uint chunks = (pc.n + CHUNK - 1) / CHUNK;
    uint tiles_at = pc.tile_first + kv_z * pc.tile_head_stride + pc.tile_piece;
    uint tile = chunk * NSG + sg, next = take_tile(tiles_at, chunks * NSG);
    head0 = pc.head0 + kv_z * G;
    uint k_base = pc.k_base + kv_z * pc.k_head_stride, v_base = pc.v_base + kv_z * pc.v_head_stride;
    uint q_base = pc.q_base + kv_z * pc.q_head_stride;

    // This lane's two rows of a tile and its first column, read off a tile
    // of element numbers.
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

    // The G queries as f16 rows of the Q tile, scaled.
    for (uint i = l; i < 16 * ROW8; i += WG) {
        uint row = i / ROW8, c = (i % ROW8) * 8;
        uvec4 w = uvec4(0);
        if (row < G) {
            uint b = q_base + row * pc.q_stride + c;
            float sc = pc.scale * LOG2E;
            w = uvec4(packHalf2x16(vec2(q[b], q[b + 1]) * sc), packHalf2x16(vec2(q[b + 2], q[b + 3]) * sc),
                      packHalf2x16(vec2(q[b + 4], q[b + 5]) * sc), packHalf2x16(vec2(q[b + 6], q[b + 7]) * sc));
        }
        q_sh[row * STRIDE8 + i % ROW8] = w;
    }
    barrier();
    TILE32 acc[DT];
    [[unroll]] for (uint t = 0; t < DT; t++) acc[t] = TILE32(0.0);
    TILE32 sums = TILE32(0.0);                  // every column: its row's sum of P
    const TILE16 ones = TILE16(1.0);
    float m0 = -1.0 / 0.0, m1 = -1.0 / 0.0;     // the max in use of the lane's two rows
    uint k_sh = sg * 2 * KEYS * STRIDE8, v_sh = k_sh + KEYS * STRIDE8;

    // The first tile's loads; in the loop, the next tile's are in flight
    // while this one's arithmetic runs from shared memory, and the one
    // after is being taken. Rows past the end read the last key (stored as
    // zeros); a subgroup past the end loads the last key's rows and skips
    // the loop.
    uvec4 kr[LOADS], vr[LOADS];
    fetch(tile * KEYS, end, k_base, v_base, lane, kr, vr);
    for (uint k0 = tile * KEYS; k0 < end;) {
        subgroupBarrier(); // this subgroup's reads of the previous tile are done
        [[unroll]] for (uint j = 0; j < LOADS; j++) {
            uint e = lane + 32 * j, at = (e / ROW8) * STRIDE8 + e % ROW8;
            bool inside = k0 + e / ROW8 < end;
            kv_sh[k_sh + at] = inside ? kr[j] : uvec4(0);
            kv_sh[v_sh + at] = inside ? vr[j] : uvec4(0);
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        next = subgroupBroadcastFirst(next);
        uint after = next * KEYS < end ? take_tile(tiles_at, chunks * NSG) : next;
        fetch(next * KEYS, end, k_base, v_base, lane, kr, vr);

        TILE32 s = TILE32(0.0);
        [[unroll]] for (uint t = 0; t < DT; t++) {
            TILE16 qt, kt; // Q: (16 rows, 16 dims); K^T: (16 dims, 16 keys)
            coopMatLoadNV(qt, q_sh, t * 2, STRIDE8, false);
            coopMatLoadNV(kt, kv_sh, k_sh + t * 2, STRIDE8, true);
            s = coopMatMulAddNV(qt, kt, s);
        }
        // Mask the keys past the end, then each row's max over the tile,
        // across the lanes holding the row.
        bool masked = k0 + KEYS > end;
        float mx0 = -1.0 / 0.0, mx1 = -1.0 / 0.0;
        [[unroll]] for (uint i = 0; i < NE; i++) {
            float x = s[i];
            if (masked && k0 + c0 + col_step(i) >= end) x = -1.0 / 0.0;
            s[i] = x;
            if (second_row(i)) mx1 = max(mx1, x); else mx0 = max(mx0, x);
        }
        [[unroll]] for (uint w = 1; w < ROW_LANES; w *= 2) {
            mx0 = max(mx0, subgroupShuffleXor(mx0, w));
            mx1 = max(mx1, subgroupShuffleXor(mx1, w));
        }
        // Move m only when a row's max grew by more than RESCALE, or on its first keys.
        bool move0 = mx0 > m0 + RESCALE || m0 == -1.0 / 0.0;
        bool move1 = mx1 > m1 + RESCALE || m1 == -1.0 / 0.0;
        mx0 = move0 ? mx0 : m0;
        mx1 = move1 ? mx1 : m1;
        float a0 = m0 != -1.0 / 0.0 ? exp2(m0 - mx0) : 1.0;
        float a1 = m1 != -1.0 / 0.0 ? exp2(m1 - mx1) : 1.0;
        m0 = mx0;
        m1 = mx1;
        if (subgroupAny(a0 != 1.0 || a1 != 1.0)) {
            [[unroll]] for (uint i = 0; i < NE; i++) {
                float f = second_row(i) ? a1 : a0;
                [[unroll]] for (uint t = 0; t < DT; t++) acc[t][i] *= f;
                sums[i] *= f;
            }
        }
        // A row with no key yet keeps m = -inf: subtract 0.
        float b0 = mx0 == -1.0 / 0.0 ? 0.0 : mx0, b1 = mx1 == -1.0 / 0.0 ? 0.0 : mx1;
        [[unroll]] for (uint i = 0; i < NE; i++) s[i] = exp2(s[i] - (second_row(i) ? b1 : b0));
        TILE16 pt = TILE16(s);
        sums = coopMatMulAddNV(pt, ones, sums);
        [[unroll]] for (uint t = 0; t < DT; t++) {
            TILE16 vt; // V: (16 keys, 16 dims)
            coopMatLoadNV(vt, kv_sh, v_sh + t * 2, STRIDE8, false);
            acc[t] = coopMatMulAddNV(pt, vt, acc[t]);
        }
        k0 = next * KEYS;
        next = after;
    }

    // Each subgroup's row maxima and sums (the lane holding a row's column 0
    // writes them), then its output tiles taken to the workgroup's max per
    // row and stored whole over the K/V tiles (tile stores, not an element
    // at a time: the epilogue is on the call's critical path, after the last
    // workgroup's loop), then summed over the subgroups, a vec4 of columns
    // per invocation, the stores coalesced.
    [[unroll]] for (uint i = 0; i < NE; i++)
        if (c0 + col_step(i) == 0) {
            uint row = second_row(i) ? r1 : r0;
            sg_m[sg * 16 + row] = second_row(i) ? m1 : m0;
            sg_l[sg * 16 + row] = sums[i];
        }
    barrier();
    float f0 = r0 < G ? to_max(m0, row_max(r0)) : 0.0, f1 = r1 < G ? to_max(m1, row_max(r1)) : 0.0;
    [[unroll]] for (uint t = 0; t < DT; t++) {
        [[unroll]] for (uint i = 0; i < NE; i++) acc[t][i] *= second_row(i) ? f1 : f0;
        coopMatStoreNV(acc[t], kv_sh, sg * 16 * OUT4 + t * 4, OUT4, false);
    }
    barrier();
    uint part = pc.part_base + chunk;
    if (l < G) {
        float mm = row_max(l), ll = row_sum(l, mm);
        if (pc.head_parts == 1) lse[pc.lse_base + head0 + l] = (mm + log2(ll)) / LOG2E;
        else part_ml[(head0 + l) * pc.parts + part] = vec2(mm / LOG2E, ll);
    }
    for (uint c = l; c < G * D / 4; c += WG) {
        uint h = c / (D / 4), c4 = c % (D / 4);
        vec4 x = vec4(0.0);
        for (uint g = 0; g < NSG; g++) x += uintBitsToFloat(kv_sh[(g * 16 + h) * OUT4 + c4]);
        if (pc.head_parts == 1) {
            store_o4(pc.o_base + (head0 + h) * D + 4 * c4, x / row_sum(h, row_max(h)));
        } else {
            part_o4[((head0 + h) * pc.parts + part) * (D / 4) + c4] = x;
        }
    }
    // The tile counters go back to zero once every workgroup of the head
    // is done taking tiles: after the count (whose barriers order each
    // workgroup's takes before it), by the last, or by the only one.
    if (pc.head_parts == 1) {
        BARRIER_BUFFERS();
    } else {
        count_and_merge();
        if (!merge_last) return;
    }
    uint head_tiles = pc.tile_first + kv_z * pc.tile_head_stride;
    if (l < pc.tile_pieces) atomicExchange(count[head_tiles + l], 0u);
}
