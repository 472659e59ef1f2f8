#version 450
// SwiGLU, the gate of a Llama MLP: out = silu(gate) * up = gate / (1 +
// exp(-gate)) * up, element by element. gate, up, out: (n) from their bases.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(binding = 0) readonly buffer Gate { float gate[]; };
layout(binding = 1) readonly buffer Up { float up[]; };
layout(binding = 2) writeonly buffer Out { float o[]; };

layout(push_constant) uniform Push {
    uint n, gate_base, up_base, out_base;
} pc;

void main()
{
    uint i = linear_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    float g = gate[pc.gate_base + i];
    o[pc.out_base + i] = g / (1.0 + exp(-g)) * up[pc.up_base + i];
}
