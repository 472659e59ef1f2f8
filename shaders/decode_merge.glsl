// The split-K decode kernels' last stage (attention_decode.comp and
// attention_decode_coopmat.comp): every workgroup writes one partial state
// (m, l, o) per query head, counts it on its KV head's counter, and the
// last workgroup to count merges the head's partials into o and lse, so no
// second dispatch and no barrier between the passes.
// The includer declares: WG, D, G, MERGE_UNROLL; the buffers part_ml (vec2),
// part_o4 (vec4), o, lse (floats) and count (uint); push constants pc with
// parts, head_parts, o_base and lse_base; and head0, the global index of the
// workgroup's first query head. part_ml holds m in natural-log units. The
// includer also enables GL_KHR_memory_scope_semantics.

shared float merge_m[WG];
shared float merge_l[WG];
shared vec4 merge_sum[WG];
shared bool merge_last;

// Four outputs from o[at], a float at a time: o_base makes no promise of
// 16-byte alignment.
void store_o4(uint at, vec4 x)
{
    o[at] = x.x;
    o[at + 1] = x.y;
    o[at + 2] = x.z;
    o[at + 3] = x.w;
}

// Fold one partial state (m, l, o) into a running one (M, L, A): the common
// max, both sides rescaled. A partial that saw no key has m = -inf, l = 0.
void fold(inout float big_m, inout float big_l, inout vec4 big_a, float m, float l, vec4 o)
{
    if (m == -1.0 / 0.0) return;
    float mx = max(big_m, m);
    float a = exp(big_m - mx), b = exp(m - mx); // big_m = -inf at first: exp(-inf) = 0
    big_l = big_l * a + l * b;
    big_a = big_a * a + o * b;
    big_m = mx;
}

// The last workgroup of the KV head: merge its head_parts partials per query
// head into o and lse. Invocations take vec4 columns of the G * D outputs
// (where there are fewer columns than invocations, several take one column,
// each a share of the partials) and fold the partials with an online
// softmax, MERGE_UNROLL partials' loads in flight at a time and one fold per
// batch of them: no workgroup reductions, a few memory latencies in all.
void merge_partials()
{
    uint l = gl_LocalInvocationID.x;
    const uint cols = G * D / 4, per_head = D / 4;
    const uint span = cols >= WG ? WG : cols;  // columns side by side
    const uint rows = WG / span;               // invocations per column
    uint r = l / span;
    for (uint c0 = 0; c0 < cols; c0 += span) {
        uint c = c0 + l % span;
        uint h = min(c / per_head, G - 1), lane = c % per_head;
        uint row = (head0 + h) * pc.parts;
        float big_m = -1.0 / 0.0, big_l = 0.0;
        vec4 big_a = vec4(0.0);
        if (c < cols && r < rows)
            for (uint p = r; p < pc.head_parts; p += MERGE_UNROLL * rows) {
                vec2 ml[MERGE_UNROLL];
                vec4 ov[MERGE_UNROLL];
                [[unroll]] for (uint u = 0; u < MERGE_UNROLL; u++) {
                    uint pp = min(p + u * rows, pc.head_parts - 1);
                    ml[u] = part_ml[row + pp];
                    ov[u] = part_o4[(row + pp) * per_head + lane];
                    if (p + u * rows >= pc.head_parts) ml[u].x = -1.0 / 0.0;
                }
                // The batch's max, its partials' weights at that max (each
                // exponential on its own, not one chain of folds), then one
                // fold of the batch's sums into the running state.
                float bm = -1.0 / 0.0, bl = 0.0;
                vec4 ba = vec4(0.0);
                [[unroll]] for (uint u = 0; u < MERGE_UNROLL; u++) bm = max(bm, ml[u].x);
                [[unroll]] for (uint u = 0; u < MERGE_UNROLL; u++) {
                    float w = ml[u].x == -1.0 / 0.0 ? 0.0 : exp(ml[u].x - bm);
                    bl += ml[u].y * w;
                    ba += ov[u] * w;
                }
                fold(big_m, big_l, big_a, bm, bl, ba);
            }
        if (rows > 1) {
            merge_m[l] = big_m;
            merge_l[l] = big_l;
            merge_sum[l] = big_a;
            barrier();
            if (r == 0)
                for (uint x = 1; x < rows; x++)
                    fold(big_m, big_l, big_a, merge_m[x * span + l], merge_l[x * span + l], merge_sum[x * span + l]);
            barrier();
        }
        if (r == 0 && c < cols) {
            store_o4(pc.o_base + (head0 + h) * D + 4 * lane, big_a / big_l);
            if (lane == 0) lse[pc.lse_base + head0 + h] = big_m + log(big_l);
        }
    }
}

// A workgroup barrier that orders buffer memory as well as shared memory.
#define BARRIER_BUFFERS() \
    controlBarrier(gl_ScopeWorkgroup, gl_ScopeWorkgroup, gl_StorageSemanticsBuffer | gl_StorageSemanticsShared, \
                   gl_SemanticsAcquireRelease)

// After this workgroup's partial is written: publish it, then count it; the
// workgroup that counts last sees every partial of the KV head and merges.
// Only the counting invocation fences at device scope, as CUDA's grid sync
// does: the workgroup barriers order the others' buffer accesses before its
// release and after its acquire. Every invocation fencing cost a fence's
// latency on the call's critical path (H200, tensor cores, 4K / 32K / 128K:
// 13.4 / 42.5 / 136.4 us against 13.9 / 42.9 / 137.0).
// Called by every invocation, in uniform control flow.
void count_and_merge()
{
    BARRIER_BUFFERS();
    if (gl_LocalInvocationID.x == 0) {
        uint kvh = head0 / G;
        memoryBarrierBuffer(); // release: the workgroup's partial before the count
        bool last = atomicAdd(count[kvh], 1u) == pc.head_parts - 1;
        // Acquire: the merge's reads after the count. Set the counter back
        // for the next call: every workgroup of this call has counted.
        memoryBarrierBuffer();
        if (last) atomicExchange(count[kvh], 0u);
        merge_last = last;
    }
    BARRIER_BUFFERS();
    if (!merge_last) return;
    merge_partials();
}
