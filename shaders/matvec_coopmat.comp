#version 450
// y[t][r] (+)= bias[r] + W[r] . x[t] on cooperative matrices (tensor cores)
// for a prompt chunk of 2..8 tokens with f16 W, on devices with
// VK_NV_cooperative_matrix; matvec.comp is the portable kernel, and this one
// writes y exactly as its header describes (token-major, or head-major with
// head_dim set). Each weight meets at most 8 tokens, so the kernel is bound
// by reading W: a workgroup owns one tile of 16 rows, and its NSG subgroups
// of 32 split the columns, so 4096 rows still make 256 workgroups.
// Columns go in blocks of BK = 16 * UNROLL * NSG. Per block, x is staged in
// shared memory as X^T (BK columns x N tokens, f16, column-major: a padded
// run of columns per token; tokens from pc.tokens to N are zero), and
// subgroup s multiplies its UNROLL column tiles of W (16 rows x 16 columns,
// loaded straight from the weight buffer) with the matching 16 x N tiles of
// X^T into its C (16 rows x N tokens, f32). The next block's W tiles and x
// are loaded before this block's products and its x stored after them, into
// the other half of a double buffer: a subgroup keeps UNROLL to 2 UNROLL tile
// loads in flight, x's loads wait behind the products, and a block costs one
// barrier. The subgroups' C are summed through shared memory.
// The last row tile of a segment whose rows are not a multiple of 16 starts
// at rows - 16, so no load leaves the binding, and writes only the rows past
// the previous tile. Needs rows >= 16, cols a multiple of 16, tokens <= N.
// w: (rows, cols / 8) uvec4 (8 halves each, element order) from the binding's
// start; x: (tokens, cols) f32; y as in matvec.comp.
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"

// Tokens per tile: 8 on the device's 16 x 8 x 16 tiles (M x N x K: 16 rows,
// 8 tokens, 16 columns), 16 on its 16 x 16 x 16 ones.
layout(constant_id = 1) const uint N = 8;
layout(constant_id = 2) const uint UNROLL = 4; // W tiles per subgroup and block
const uint WG = gl_WorkGroupSize.x;
const uint NSG = WG / 32;                      // subgroups of 32
const uint BK = 16 * UNROLL * NSG;             // columns per block
const uint XST = BK / 8 + 1;                   // staged token run in uvec4s (8 halves), padded by one
const uint XPER = N * UNROLL / 16;             // staged uvec4s per invocation and block: N BK / 8 / WG

layout(binding = 0) readonly buffer W { uvec4 w[]; };
layout(binding = 1) readonly buffer X { vec4 x[]; };
layout(binding = 2) readonly buffer Bias { float bias[]; };
layout(binding = 3) buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;       // rows in this dispatch (>= 16)
    uint row0;       // global index of its first row
    uint cols;       // a multiple of 16
    uint tokens;     // <= N
    uint y_stride;   // as in matvec.comp
    uint y_base;
    uint accumulate; // 1: add to y
    uint has_bias;
    uint head_dim;   // 0: token-major y
} pc;

// Two blocks of X^T: half h, token t, columns 8j .. 8j + 7 of the block at
// (h * N + t) * XST + j. The one-uvec4 pad puts the 8 tokens' runs in
// different banks for the tile loads.
shared uvec4 xs[2 * N * XST];
shared float part[NSG * 16 * N]; // per subgroup: C (16 x N) column-major

// The invocation's XPER runs of 8 columns of one block of x (run i + k WG:
// token i / (BK / 8), columns 8 (i % (BK / 8)) on in the block), as f32.
vec4 xr[2 * XPER];

// Block b into xr, zero past the tokens and columns: a block ahead of
// store_x, so the products of the current block hide the loads' latency.
void load_x(uint b)
{
    [[unroll]] for (uint k = 0; k < XPER; k++) {
        uint i = gl_LocalInvocationID.x + k * WG;
        uint t = i / (BK / 8), c = b * BK + 8 * (i % (BK / 8));
        xr[2 * k] = vec4(0.0);
        xr[2 * k + 1] = vec4(0.0);
        if (t < pc.tokens && c < pc.cols) {
            uint at = (t * pc.cols + c) / 4;
            xr[2 * k] = x[at];
            xr[2 * k + 1] = x[at + 1];
        }
    }
}

// xr as f16 into half h of xs. Values past f16's range are clamped to it
// (+-65504), so an outlier activation gives a finite product rather than an
// infinity that turns the row's output into inf or NaN.
void store_x(uint h)
{
    const float F16_MAX = 65504.0;
    [[unroll]] for (uint k = 0; k < XPER; k++) {
        uint i = gl_LocalInvocationID.x + k * WG;
        vec4 lo = clamp(xr[2 * k], -F16_MAX, F16_MAX), hi = clamp(xr[2 * k + 1], -F16_MAX, F16_MAX);
        xs[(h * N + i / (BK / 8)) * XST + i % (BK / 8)] =
            uvec4(packHalf2x16(lo.xy), packHalf2x16(lo.zw), packHalf2x16(hi.xy), packHalf2x16(hi.zw));
    }
}

void store(uint r, uint t, float sum)
{
    uint row = pc.row0 + r;
    uint at = pc.head_dim == 0 ? pc.y_base + t * pc.y_stride + row
                               : pc.y_base + ((row / pc.head_dim) * pc.y_stride + t) * pc.head_dim + row % pc.head_dim;
    float v = sum + (pc.has_bias != 0 ? bias[row] : 0.0);
    y[at] = pc.accumulate != 0 ? y[at] + v : v;
}

void main()
{
    uint sg = gl_SubgroupID;
    uint first = linear_group() * 16;
    if (first >= pc.rows) return;          // grid padding: the whole workgroup leaves
    uint base = min(first, pc.rows - 16);  // the tile's first row: the tail tile ends at the last row
    uint stride = pc.cols / 8;             // uvec4s per row of W
    uint tiles = pc.cols / 16, blocks = (pc.cols + BK - 1) / BK;
    uint w0 = base * stride;

    // Tile k of W (columns 16k .. 16k + 15) is row-major at w0 + 2k; tiles
    // past the last are clamped for the load and skipped in the products.
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> wt[UNROLL];
    [[unroll]] for (uint u = 0; u < UNROLL; u++)
        coopMatLoadNV(wt[u], w, w0 + 2 * min(sg * UNROLL + u, tiles - 1), stride, false);
    load_x(0);
    store_x(0);
    barrier();
    fcoopmatNV<32, gl_ScopeSubgroup, 16, N> acc = fcoopmatNV<32, gl_ScopeSubgroup, 16, N>(0.0);
    for (uint b = 0; b < blocks; b++) {
        bool more = b + 1 < blocks;
        fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> next[UNROLL];
        if (more) {
            [[unroll]] for (uint u = 0; u < UNROLL; u++)
                coopMatLoadNV(next[u], w, w0 + 2 * min(((b + 1) * NSG + sg) * UNROLL + u, tiles - 1), stride, false);
            load_x(b + 1);
        }
        [[unroll]] for (uint u = 0; u < UNROLL; u++) {
            uint j = sg * UNROLL + u; // the tile within the block
            if (b * NSG * UNROLL + j < tiles) {
                fcoopmatNV<16, gl_ScopeSubgroup, 16, N> xt; // X^T: (16 columns, N tokens)
                coopMatLoadNV(xt, xs, (b % 2) * N * XST + 2 * j, XST, true);
                acc = coopMatMulAddNV(wt[u], xt, acc);
            }
        }
        // Block b + 1 into the other half, last read before the previous barrier.
        if (more) store_x((b + 1) % 2);
        barrier(); // block b + 1 is staged; block b's half is free for b + 2
        if (more) {
            [[unroll]] for (uint u = 0; u < UNROLL; u++) wt[u] = next[u];
        }
    }

    coopMatStoreNV(acc, part, sg * 16 * N, 16, true);
    barrier();
    // Outputs in token-major order, 16 rows per token: neighbouring
    // invocations store neighbouring rows.
    for (uint i = gl_LocalInvocationID.x; i < 16 * pc.tokens; i += WG) {
        uint t = i / 16, r = base + i % 16;
        if (r < first) continue; // the previous tile's row (tail tile)
        float sum = 0.0;
        for (uint s = 0; s < NSG; s++) sum += part[(s * N + t) * 16 + i % 16];
        store(r, t, sum);
    }
}
