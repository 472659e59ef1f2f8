/* The benchmark cases: reference shapes of SPEC.md (Llama-3-8B-like heads),
 * each op with fresh random inputs, rotated over enough input sets that the
 * inputs of consecutive runs exceed the GPU's last-level cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rng.h"

#define MAX_SETS 8
#define ROTATE_BYTES (512.0 * 1024 * 1024) /* well above any GPU's L2 (H100: 50 MB) */

enum kind { K_COPY, K_SOFTMAX, K_ROPE, K_QSIM, K_WINDOW_STATS };

typedef struct state {
    enum kind kind;
    tappa_tensor *in[MAX_SETS][2]; /* per set: the op's inputs */
    tappa_tensor *out[2];
    tappa_tensor *aux;             /* rope: angle table; window_stats: lse scratch */
    tappa_rope_params rope;
    int64_t window;
    uint32_t unroll;               /* copy: 16-byte elements per invocation */
} state;

static tappa_status record(void *p, int set, tappa_error *err)
{
    state *s = p;
    switch (s->kind) {
    case K_COPY: return copy_record(s->in[set][0], s->out[0], s->unroll, err);
    case K_SOFTMAX: return softmax_record(s->in[set][0], s->out[0], err);
    case K_ROPE: return rope_record(s->in[set][0], s->out[0], s->aux, &s->rope, err);
    case K_QSIM: return qsim_record(s->in[set][0], s->out[0], TAPPA_QSIM_COSINE, err);
    case K_WINDOW_STATS:
        return window_stats_record(s->in[set][0], s->in[set][1], s->window, s->aux, s->out[0],
                                   s->out[1], err);
    }
    return TAPPA_ERR_INVALID_ARG;
}

static void destroy(void *p)
{
    state *s = p;
    for (int i = 0; i < MAX_SETS; i++) {
        tappa_tensor_destroy(&s->in[i][0]);
        tappa_tensor_destroy(&s->in[i][1]);
    }
    tappa_tensor_destroy(&s->out[0]);
    tappa_tensor_destroy(&s->out[1]);
    tappa_tensor_destroy(&s->aux);
    free(s);
}

/* A tensor of uniform random values in [-2, 2) in dtype (uniform rather than
 * normal: generating gigabytes of inputs on the host should not dominate a run). */
static tappa_status random_tensor(tappa_context *ctx, rng *r, tappa_dtype dt, int ndim,
                                  const int64_t *shape, tappa_tensor **out, tappa_error *err)
{
    tappa_array a;
    tappa_status st = tappa_array_alloc(&a, dt, ndim, shape, err);
    if (st) return st;
    size_t n = tappa_array_numel(&a);
    for (size_t i = 0; i < n; i++) {
        float v = (float)rng_uniform(r, -2.0, 2.0);
        if (dt == TAPPA_F16) ((uint16_t *)a.data)[i] = tappa_f32_to_f16(v);
        else ((float *)a.data)[i] = v;
    }
    st = tappa_tensor_from_array(ctx, &a, out, err);
    tappa_array_free(&a);
    return st;
}

static int sets_for(double set_bytes)
{
    int sets = (int)ceil(ROTATE_BYTES / set_bytes);
    return sets < 1 ? 1 : sets > MAX_SETS ? MAX_SETS : sets;
}

typedef struct builder {
    tappa_context *ctx;
    rng r;
    bench_case *cases;
    size_t count, cap;
} builder;

static tappa_status push(builder *b, bench_case c, tappa_error *err)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        bench_case *grown = realloc(b->cases, cap * sizeof *grown);
        if (!grown) {
            c.destroy(c.state);
            return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        }
        b->cases = grown;
        b->cap = cap;
    }
    b->cases[b->count++] = c;
    return TAPPA_OK;
}

/* Inputs: n_in tensors of the given shapes per set; outputs: n_out tensors. */
static tappa_status add_case(builder *b, enum kind kind, const char *op, const char *shape_text,
                             tappa_dtype dt, int n_in, const int64_t in_shapes[][3],
                             const int in_ndim[], int n_out, const int64_t out_shapes[][3],
                             const int out_ndim[], tappa_dtype out_dt, double flops,
                             state **made, tappa_error *err)
{
    state *s = calloc(1, sizeof *s);
    if (!s) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    s->kind = kind;
    bench_case c = { .record = record, .destroy = destroy, .state = s, .flops = flops };
    snprintf(c.op, sizeof c.op, "%s", op);
    snprintf(c.shape, sizeof c.shape, "%s", shape_text);
    snprintf(c.dtype, sizeof c.dtype, "%s", tappa_dtype_name(dt));
    double in_bytes = 0, out_bytes = 0;
    for (int i = 0; i < n_in; i++) {
        double e = 1;
        for (int d = 0; d < in_ndim[i]; d++) e *= (double)in_shapes[i][d];
        in_bytes += e * (double)tappa_dtype_bytes(dt);
    }
    for (int i = 0; i < n_out; i++) {
        double e = 1;
        for (int d = 0; d < out_ndim[i]; d++) e *= (double)out_shapes[i][d];
        out_bytes += e * (double)tappa_dtype_bytes(out_dt);
    }
    c.bytes = in_bytes + out_bytes;
    c.sets = sets_for(in_bytes);
    tappa_status st = TAPPA_OK;
    for (int set = 0; set < c.sets && !st; set++)
        for (int i = 0; i < n_in && !st; i++)
            st = random_tensor(b->ctx, &b->r, dt, in_ndim[i], in_shapes[i], &s->in[set][i], err);
    for (int i = 0; i < n_out && !st; i++)
        st = tappa_tensor_create(b->ctx, out_dt, out_ndim[i], out_shapes[i], &s->out[i], err);
    if (st) {
        destroy(s);
        return st;
    }
    *made = s;
    return push(b, c, err);
}

tappa_status bench_cases_create(tappa_context *ctx, bool quick, bench_case **cases, size_t *count,
                                tappa_error *err)
{
    builder b = { .ctx = ctx };
    rng_seed(&b.r, rng_fresh_seed());
    const tappa_device_info *info = tappa_context_device(ctx);
    bool f16 = info && info->storage_16bit;
    state *s;
    char text[96];
    tappa_status st = TAPPA_OK;

    /* copy is the yardstick: the best of a few unroll depths, so the ratios
     * below are against what this device can really move. */
    int64_t copy_n = quick ? (8 << 20) : (256 << 20); /* f32 elements: 32 MiB / 1 GiB */
    for (uint32_t unroll = 1; unroll <= 8 && !st; unroll *= 2) {
        const int64_t sh[1][3] = { { copy_n } };
        const int nd[1] = { 1 };
        snprintf(text, sizeof text, "n=%lld (%.0f MiB) unroll=%u", (long long)copy_n,
                 copy_n * 4.0 / (1 << 20), unroll);
        st = add_case(&b, K_COPY, "copy", text, TAPPA_F32, 1, sh, nd, 1, sh, nd, TAPPA_F32, 0, &s, err);
        if (!st) s->unroll = unroll;
    }
    for (int dti = 0; dti < 2 && !st; dti++) {
        tappa_dtype dt = dti ? TAPPA_F16 : TAPPA_F32;
        if (dt == TAPPA_F16 && !f16) continue;
        /* softmax over attention-score-like rows. */
        int64_t rows = quick ? 512 : 8192, cols = quick ? 1024 : 8192;
        const int64_t sm[1][3] = { { rows, cols } };
        const int nd2[1] = { 2 };
        snprintf(text, sizeof text, "rows=%lld cols=%lld", (long long)rows, (long long)cols);
        st = add_case(&b, K_SOFTMAX, "softmax", text, dt, 1, sm, nd2, 1, sm, nd2, dt,
                      5.0 * rows * cols, &s, err);
        if (st) break;
        /* rope on a Llama-3-8B prefill's queries: Hq 32, N 4096, D 128. */
        int64_t h = quick ? 8 : 32, n = quick ? 256 : 4096, d = 128;
        const int64_t rq[1][3] = { { h, n, d } };
        const int nd3[1] = { 3 };
        snprintf(text, sizeof text, "h=%lld n=%lld d=%lld", (long long)h, (long long)n, (long long)d);
        st = add_case(&b, K_ROPE, "rope", text, dt, 1, rq, nd3, 1, rq, nd3, dt, 3.0 * h * n * d, &s, err);
        if (st) break;
        s->rope = (tappa_rope_params){ TAPPA_ROPE_HALF, 500000, 0 };
        st = rope_table_create(ctx, n, d, &s->rope, &s->aux, err);
        if (st) break;
        /* qsim of all heads of all layers at once: L 32 x Hq 32, T 1024, D 128. */
        int64_t heads = quick ? 32 : 1024, t = quick ? 256 : 1024;
        const int64_t qs[1][3] = { { heads, t, d } };
        const int64_t qo[1][3] = { { heads } };
        const int nd1[1] = { 1 };
        snprintf(text, sizeof text, "heads=%lld t=%lld d=%lld", (long long)heads, (long long)t, (long long)d);
        st = add_case(&b, K_QSIM, "qsim", text, dt, 1, qs, nd3, 1, qo, nd1, TAPPA_F32,
                      4.0 * heads * t * d, &s, err);
    }
    if (!st) {
        /* Window statistics at the Llama-3-8B shape, 4K prompt, W 32. */
        int64_t hq = quick ? 8 : 32, hkv = quick ? 2 : 8, n = quick ? 512 : 4096, d = 128, w = 32;
        const int64_t in[2][3] = { { hq, n, d }, { hkv, n, d } };
        const int64_t out[2][3] = { { hq, n }, { hq, n } };
        const int nd_in[2] = { 3, 3 }, nd_out[2] = { 2, 2 };
        snprintf(text, sizeof text, "hq=%lld hkv=%lld n=%lld d=%lld w=%lld", (long long)hq,
                 (long long)hkv, (long long)n, (long long)d, (long long)w);
        /* Two passes of W x N dot products of length D per query head. */
        st = add_case(&b, K_WINDOW_STATS, "window_stats", text, TAPPA_F32, 2, in, nd_in, 2, out,
                      nd_out, TAPPA_F32, 2.0 * 2.0 * hq * w * n * d, &s, err);
        if (!st) {
            s->window = w;
            st = tappa_tensor_create(ctx, TAPPA_F32, 1, &w, &s->aux, err);
        }
    }
    if (st) {
        bench_cases_destroy(b.cases, b.count);
        return st;
    }
    *cases = b.cases;
    *count = b.count;
    return TAPPA_OK;
}

void bench_cases_destroy(bench_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) cases[i].destroy(cases[i].state);
    free(cases);
}
