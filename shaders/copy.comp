#version 450
// Copy kernel: dst[offset + i] = src[offset + i] for i < count elements of
// 16 bytes (uvec4), or of 4 bytes in the TAPPA_COPY_WORDS variant that copies
// the last few words of a tensor whose size is not a multiple of 16. Each
// invocation copies UNROLL elements a workgroup apart, so every load of a
// workgroup is one coalesced block. Used by tappa_copy and by tappa-bench as
// the bandwidth yardstick.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#ifdef TAPPA_COPY_WORDS
#define ELEM uint
#else
#define ELEM uvec4
#endif

layout(constant_id = 1) const uint UNROLL = 4;

layout(binding = 0) readonly restrict buffer Src { ELEM src[]; };
layout(binding = 1) writeonly restrict buffer Dst { ELEM dst[]; };

layout(push_constant) uniform Push {
    uint count;   // elements to copy
    uint offset;  // first element
} pc;

void main()
{
    uint base = linear_group() * gl_WorkGroupSize.x * UNROLL + gl_LocalInvocationID.x;
    [[unroll]] for (uint u = 0; u < UNROLL; u++) {
        uint i = base + u * gl_WorkGroupSize.x;
        if (i < pc.count) dst[pc.offset + i] = src[pc.offset + i];
    }
}
