#version 450
// Rotary position embedding, rotate-half (Llama/NeoX) or interleaved (GPT-J).
// x, y: (rows, d) of this segment, rows = slices * n tokens in C order.
// table: (256 + n_hi, d/2) of (cos, sin): rows 0..255 hold angle lo * f_i, rows
// 256 + hi hold (pos_offset + 256 * hi) * f_i, computed in float64 on the host.
// cos/sin of their sum is then exact to float32 rounding at any position,
// which pos * f_i in float32 and the GPU's sin/cos are not.
// PRESCALE: token n's rows are first multiplied by the RMSNorm scale of row n
// of resid (rms_scale.glsl; resid: (tokens, embd) from resid_base): the
// queries of products of the norm's weighted input. Tokens from `tokens` on
// are left unwritten.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "rope_angle.glsl"

layout(constant_id = 1) const bool PRESCALE = false;

layout(binding = 0) readonly buffer X { STORE_T x[]; };
layout(binding = 1) writeonly buffer Y { STORE_T y[]; };
layout(binding = 2) readonly buffer Table { vec2 table[]; };
layout(binding = 3) readonly buffer Resid { float resid[]; };

#define RMS_X resid
#include "rms_scale.glsl"

layout(push_constant) uniform Push {
    uint pairs;       // rows * d / 2 in this segment
    uint row0;        // global row index of this segment's first row
    uint n;           // tokens per slice
    uint d;           // head dim (even)
    uint interleaved; // 0: pairs (i, i + d/2); 1: pairs (2i, 2i + 1)
    uint t0;          // table position of each slice's token 0
    uint tokens, embd, resid_base; // PRESCALE: tokens <= RMS_MAX_ROWS
    float eps;
} pc;

void main()
{
    uint p0 = linear_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint p = min(p0, pc.pairs - 1); // past the end: a valid pair, not written
    uint half_d = pc.d / 2;
    uint row = p / half_d;
    uint i = p - row * half_d;
    uint token = (pc.row0 + row) % pc.n;
    uint t = pc.t0 + token;
    vec2 cs = rope_angle(table[(t & 255u) * half_d + i], table[(256u + (t >> 8)) * half_d + i]);
    float c = cs.x, s = cs.y;
    uint base = row * pc.d;
    uint i0 = pc.interleaved != 0 ? base + 2 * i : base + i;
    uint i1 = pc.interleaved != 0 ? i0 + 1 : i0 + half_d;
    // Asked for before the row sums, so both wait on memory together.
    float x0 = float(x[i0]);
    float x1 = float(x[i1]);
    if (PRESCALE) {
        rms_scale_rows(pc.resid_base, pc.tokens, pc.embd, pc.eps);
        if (token >= pc.tokens) return;
        x0 *= rms_row_scale[token];
        x1 *= rms_row_scale[token];
    }
    if (p0 >= pc.pairs) return;
    y[i0] = TO_STORE(x0 * c - x1 * s);
    y[i1] = TO_STORE(x0 * s + x1 * c);
}
