#version 450
// Per-KV-head top-k for KV compression (SPEC.md step 5): the positions of the
// k highest of one row of m scores, ties broken towards the lower position,
// written in ascending position order. One workgroup per row.
// Radix select on the scores' order-preserving 32-bit keys finds the k-th
// largest key t, 8 bits per pass, with a shared-memory histogram of the keys
// that still match the bits chosen so far; `need` is then how many keys equal
// to t belong in the top k. A last pass walks the row in position order, a
// tile of WG positions at a time, and keeps every key above t and the first
// `need` keys equal to t, their output slots found by workgroup prefix sums.
// scores: (m) from s_base, f32 read as raw bits; keep: (k) from keep_base.
// 1 <= k <= m.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Scores { uint score_bits[]; };
layout(binding = 1) writeonly buffer Keep { int keep[]; };

layout(push_constant) uniform Push {
    uint m, k;
    uint s_base, keep_base;
} pc;

#define WG gl_WorkGroupSize.x
shared uint hist[256];
shared uint chosen_digit, chosen_need;
shared uint scan_a[WG];
shared uint scan_b[WG];

// Unsigned key with the order of the float: flip all bits of negatives, the
// sign bit of the rest.
uint order_key(uint bits)
{
    return (bits & 0x80000000u) != 0u ? ~bits : bits | 0x80000000u;
}

// Inclusive prefix sums of a and b over the workgroup (Hillis-Steele), and
// their totals.
void scan2(inout uint a, inout uint b, out uint total_a, out uint total_b)
{
    uint l = gl_LocalInvocationID.x;
    scan_a[l] = a;
    scan_b[l] = b;
    barrier();
    for (uint off = 1u; off < WG; off <<= 1) {
        uint xa = l >= off ? scan_a[l - off] : 0u;
        uint xb = l >= off ? scan_b[l - off] : 0u;
        barrier();
        scan_a[l] += xa;
        scan_b[l] += xb;
        barrier();
    }
    a = scan_a[l];
    b = scan_b[l];
    total_a = scan_a[WG - 1u];
    total_b = scan_b[WG - 1u];
    barrier();
}

void main()
{
    uint l = gl_LocalInvocationID.x;
    uint row = linear_group();
    uint base = pc.s_base + row * pc.m;
    uint prefix = 0u, mask = 0u, need = pc.k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (uint b = l; b < 256u; b += WG) hist[b] = 0u;
        barrier();
        for (uint j = l; j < pc.m; j += WG) {
            uint key = order_key(score_bits[base + j]);
            if ((key & mask) == prefix) atomicAdd(hist[(key >> uint(shift)) & 255u], 1u);
        }
        barrier();
        if (l == 0u) {
            // The digit whose bucket holds the need-th largest matching key.
            uint above = 0u, digit = 0u;
            for (int b = 255; b >= 0; b--) {
                uint c = hist[b];
                if (above + c >= need) {
                    digit = uint(b);
                    break;
                }
                above += c;
            }
            chosen_digit = digit;
            chosen_need = need - above;
        }
        barrier();
        prefix |= chosen_digit << uint(shift);
        mask |= 255u << uint(shift);
        need = chosen_need;
        barrier();
    }
    // prefix is now the k-th largest key; keep the first `need` keys equal to it.
    uint kept = 0u, ties = 0u;
    uint out_base = pc.keep_base + row * pc.k;
    for (uint tile = 0u; tile < pc.m; tile += WG) {
        uint j = tile + l;
        uint key = j < pc.m ? order_key(score_bits[base + j]) : 0u;
        bool above = j < pc.m && key > prefix;
        uint equal = j < pc.m && key == prefix ? 1u : 0u;
        uint equal_before = equal, unused = 0u, equal_total, unused_total;
        scan2(equal_before, unused, equal_total, unused_total);
        equal_before -= equal;
        uint take = above || (equal != 0u && ties + equal_before < need) ? 1u : 0u;
        uint slot = take, taken, unused2 = 0u;
        scan2(slot, unused2, taken, unused_total);
        if (take != 0u) keep[out_base + kept + slot - 1u] = int(j);
        kept += taken;
        ties += equal_total;
    }
}
