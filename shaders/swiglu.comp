#version 450
// SwiGLU, the gate of a Llama MLP: out = silu(gate) * up = gate / (1 +
// exp(-gate)) * up, element by element. gate, up, out: (n) from their bases.
// PRESCALE: gate and up are products of the RMSNorm's weighted input h =
// x * weight (matvec.comp's NORM_OUT) rather than of the normalised one, so
// each token's gate and up are first multiplied by its row's RMSNorm scale s
// (rms_scale.glsl): out = silu(s gate) * (s up). gate, up, out: (tokens, n)
// from their bases, workgroup z = token; x: (tokens, embd) from x_base.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const bool PRESCALE = false;

layout(binding = 0) readonly buffer Gate { float gate[]; };
layout(binding = 1) readonly buffer Up { float up[]; };
layout(binding = 2) writeonly buffer Out { float o[]; };
layout(binding = 3) readonly buffer X { float x[]; };

#define RMS_X x
#include "rms_scale.glsl"

layout(push_constant) uniform Push {
    uint n, gate_base, up_base, out_base;
    uint embd, x_base; // PRESCALE
    float eps;
} pc;

void main()
{
    uint t = PRESCALE ? gl_WorkGroupID.z : 0;
    uint i = linear_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x, at = t * pc.n + min(i, pc.n - 1);
    // Asked for before the row's sum, so both wait on memory together.
    float g = gate[pc.gate_base + at], u = up[pc.up_base + at];
    float s = PRESCALE ? rms_scale(pc.x_base + t * pc.embd, pc.embd, pc.eps) : 1.0; // before any return
    if (i >= pc.n) return;
    g *= s;
    o[pc.out_base + at] = g / (1.0 + exp(-g)) * (s * u);
}
