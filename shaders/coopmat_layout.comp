#version 450
// Which elements of a 16 x 16 f32 cooperative-matrix tile each lane holds:
// GL_NV_cooperative_matrix leaves that to the implementation, and kernels
// that work on a tile's rows in registers need it (coopmat_layout.c checks
// it once per device). One subgroup of 32 loads a tile whose element e holds
// e and writes, per lane, how many elements it holds and their numbers.
// out: (32 lanes, 17): the count, then up to 16 element numbers.
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x = 32) in;

layout(binding = 0) writeonly buffer Out { uint out_[]; };

shared float numbers[256]; // (16, 16): element e holds e

void main()
{
    uint lane = gl_SubgroupInvocationID; // the numbering subgroup shuffles use
    for (uint i = lane; i < 256; i += 32) numbers[i] = float(i);
    barrier();
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> f;
    coopMatLoadNV(f, numbers, 0, 16, false);
    uint n = uint(f.length());
    out_[lane * 17] = n;
    for (uint i = 0; i < min(n, 16u); i++) out_[lane * 17 + 1 + i] = uint(f[i]);
}
