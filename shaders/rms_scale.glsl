// The RMSNorm scale of one row, 1 / sqrt(mean(x^2) + eps), for the PRESCALE
// variants (swiglu, rope, kv_append): they apply a norm that was moved past
// the products, which are linear in it, and so replace a norm step and its
// barrier. The includer defines RMS_X, the float array the row lies in.
// The whole workgroup computes it (call in uniform control flow: it has
// barriers) by a tree in the same order in every workgroup, so all agree
// to the bit.
shared float rms_red[gl_WorkGroupSize.x];

float rms_scale(uint base, uint n, float eps)
{
    // Loads in flight per invocation: a 4096-wide row in one round at 256
    // invocations (it is a decode step's latency, not its bandwidth).
    const uint U = 16;
    uint l = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    float s = 0.0;
    for (uint i0 = l; i0 < n; i0 += U * wg) {
        float v[U];
        [[unroll]] for (uint u = 0; u < U; u++) v[u] = i0 + u * wg < n ? RMS_X[base + i0 + u * wg] : 0.0;
        [[unroll]] for (uint u = 0; u < U; u++) s += v[u] * v[u];
    }
    rms_red[l] = s;
    barrier();
    for (uint h = wg / 2; h > 0; h >>= 1) {
        if (l < h) rms_red[l] += rms_red[l + h];
        barrier();
    }
    float total = rms_red[0];
    barrier(); // rms_red is free for the next row
    return inversesqrt(total / float(n) + eps);
}

// The scales of `rows` (<= RMS_MAX_ROWS) consecutive rows of n from base,
// into rms_row_scale for the whole workgroup (uniform control flow).
const uint RMS_MAX_ROWS = 8; // a decode step or a prompt chunk
shared float rms_row_scale[RMS_MAX_ROWS];

void rms_scale_rows(uint base, uint rows, uint n, float eps)
{
    for (uint r = 0; r < rows; r++) {
        float s = rms_scale(base + r * n, n, eps);
        if (gl_LocalInvocationID.x == 0) rms_row_scale[r] = s;
    }
    barrier();
}
