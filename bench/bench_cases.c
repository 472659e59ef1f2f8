/* The benchmark cases: reference shapes of SPEC.md (Llama-3-8B-like heads:
 * Hq 32, Hkv 8, D 128), each op with random inputs, rotated over enough input
 * sets that the inputs of consecutive runs exceed the GPU's last-level cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rng.h"
#include "../src/model/quant.h"

#define MAX_SETS 8
#define MAX_TENSORS 3
#define ROTATE_BYTES (512.0 * 1024 * 1024) /* well above any GPU's L2 (H100: 50 MB) */

enum kind { K_COPY, K_SOFTMAX, K_ROPE, K_QSIM, K_QSIM_PAIR, K_WINDOW_STATS, K_PREFILL, K_DECODE,
            K_TOKEN_SCORES, K_TOPK, K_KV_COMPACT, K_ROW_SUMS, K_BLOCK_INFLUENCE, K_MATVEC, K_MATVEC_SWIGLU, K_MATVEC_NORM_OUT, K_RMSNORM, K_SWIGLU, K_SWIGLU_PRESCALED,
            K_KV_APPEND_ROPE,
            K_ATTENTION_ROWS, K_PATTERN_PROFILES, K_ROPE_ENERGY };

/* Shape and dtype of one input or output. */
typedef struct tensor_spec {
    int ndim;
    int64_t shape[3];
    tappa_dtype dtype;
} tensor_spec;

typedef struct state {
    enum kind kind;
    tappa_tensor *in[MAX_SETS][MAX_TENSORS]; /* per set: the op's inputs */
    tappa_tensor *out[MAX_TENSORS];
    tappa_tensor *aux;             /* rope: angle table; window_stats: the prefill's lse;
                                      qsim pairwise: per-block sums */
    tappa_tensor *aux2;            /* qsim pairwise: kl distributions */
    tappa_rope_params rope;
    int64_t window;
    bool h2o;
    uint32_t unroll;               /* copy: 16-byte elements per invocation */
    /* matvec: the weights (with matvec_swiglu's up beside the gate), in
     * copies enough to exceed the last-level cache like the input sets: a
     * product alone reads its matrix from memory, as in a model's step. */
    tappa_matrix *matrix[MAX_SETS][2];
    int matrices;
    tappa_kv_cache *cache;         /* kv_append_rope: the layer appended to, at length `window` each run */
} state;

static tappa_status record(void *p, int set, tappa_error *err)
{
    state *s = p;
    tappa_tensor **in = s->in[set];
    switch (s->kind) {
    case K_COPY: return copy_record(in[0], s->out[0], s->unroll, err);
    case K_SOFTMAX: return softmax_record(in[0], s->out[0], err);
    case K_ROPE: return rope_record(in[0], s->out[0], s->aux, &s->rope, 0, NULL, err);
    case K_QSIM: return qsim_record(in[0], s->out[0], TAPPA_QSIM_COSINE, err);
    case K_QSIM_PAIR:
        return qsim_pairwise_record(in[0], s->out[0], s->aux2, s->aux, TAPPA_QSIM_EUCLIDEAN, 1.0, err);
    case K_WINDOW_STATS:
        return window_stats_record(in[0], in[1], s->window, s->aux, true, NULL, s->out[0], s->out[1],
                                   s->h2o ? s->out[2] : NULL, NULL, err);
    case K_TOPK: return topk_record(in[0], s->out[0]->shape[1], s->out[0], err);
    case K_KV_COMPACT: return kv_compact_record(in[0], s->aux, s->window, s->out[0], err);
    case K_ROW_SUMS: return row_sums_record(in[0], in[0]->shape[1] - s->window, s->out[0], err);
    case K_BLOCK_INFLUENCE: return block_influence_record(in[0], in[1], s->out[0], err);
    case K_MATVEC: {
        tappa_matrix *const *m = s->matrix[set % s->matrices];
        return matvec_record(m[0], in[0], (uint32_t)(in[0]->numel / (size_t)tappa_matrix_cols(m[0])), NULL, false,
                             s->out[0], 0, 0, err);
    }
    case K_MATVEC_SWIGLU: {
        tappa_matrix *const *m = s->matrix[set % s->matrices];
        return matvec_swiglu_record(m[0], m[1], in[0], (uint32_t)(in[0]->numel / (size_t)tappa_matrix_cols(m[0])),
                                    s->out[0], err);
    }
    case K_MATVEC_NORM_OUT: {
        tappa_matrix *const *m = s->matrix[set % s->matrices];
        return matvec_norm_out_record(m[0], in[0], (uint32_t)(in[0]->numel / (size_t)tappa_matrix_cols(m[0])),
                                      s->out[0], in[1], s->out[1], err);
    }
    case K_RMSNORM: return rmsnorm_record(in[0], in[1], 1e-5, s->out[0], err);
    case K_SWIGLU: return swiglu_record(in[0], in[1], s->out[0], err);
    case K_SWIGLU_PRESCALED: {
        rms_prescale pre = { in[2], 1e-5, (uint32_t)in[0]->shape[0] };
        return swiglu_prescaled_record(in[0], in[1], &pre, s->out[0], err);
    }
    case K_KV_APPEND_ROPE: {
        tappa_status st = tappa_kv_cache_set_length(s->cache, 0, s->window, err);
        return st ? st
                  : kv_cache_append_rope_record(s->cache, 0, in[0], in[1], in[0]->shape[1], s->aux, false,
                                                (uint32_t)s->window, NULL, err);
    }
    case K_TOKEN_SCORES: return token_scores_record(in[0], in[1], 1.0, 200.0, s->window, 5, s->out[0], err);
    case K_PREFILL: return attention_prefill_record(in[0], in[1], in[2], true, s->out[0], s->out[1], err);
    case K_ATTENTION_ROWS: return attention_rows_record(in[0], in[1], in[0]->shape[1] - s->out[0]->shape[1], s->out[0], err);
    case K_PATTERN_PROFILES: return pattern_profiles_record(in[0], s->out[0], s->out[1], s->out[2], err);
    case K_ROPE_ENERGY: return rope_energy_record(in[0], in[1], false, s->out[0], err);
    case K_DECODE:
        return attention_decode_record(in[0], in[1], in[2], in[1]->shape[1], s->out[0], s->out[1], err);
    }
    return TAPPA_ERR_INVALID_ARG;
}

static void destroy(void *p)
{
    state *s = p;
    for (int i = 0; i < MAX_SETS; i++)
        for (int j = 0; j < MAX_TENSORS; j++) tappa_tensor_destroy(&s->in[i][j]);
    for (int j = 0; j < MAX_TENSORS; j++) tappa_tensor_destroy(&s->out[j]);
    tappa_tensor_destroy(&s->aux);
    tappa_tensor_destroy(&s->aux2);
    tappa_kv_cache_destroy(&s->cache);
    for (int i = 0; i < MAX_SETS; i++) {
        tappa_matrix_destroy(&s->matrix[i][0]);
        tappa_matrix_destroy(&s->matrix[i][1]);
    }
    free(s);
}

/* A tensor of uniform random values in [-2, 2) (uniform rather than normal:
 * generating gigabytes of inputs on the host should not dominate a run). */
static tappa_status random_tensor(tappa_context *ctx, rng *r, const tensor_spec *t,
                                  tappa_tensor **out, tappa_error *err)
{
    tappa_array a;
    tappa_status st = tappa_array_alloc(&a, t->dtype, t->ndim, t->shape, err);
    if (st) return st;
    size_t n = tappa_array_numel(&a);
    for (size_t i = 0; i < n; i++) {
        float v = (float)rng_uniform(r, -2.0, 2.0);
        if (t->dtype == TAPPA_F16) ((uint16_t *)a.data)[i] = tappa_f32_to_f16(v);
        else ((float *)a.data)[i] = v;
    }
    st = tappa_tensor_from_array(ctx, &a, out, err);
    tappa_array_free(&a);
    return st;
}

static double spec_bytes(const tensor_spec *t)
{
    double e = (double)tappa_dtype_bytes(t->dtype);
    for (int d = 0; d < t->ndim; d++) e *= (double)t->shape[d];
    return e;
}

typedef struct builder {
    tappa_context *ctx;
    const char *only;   /* op filter, or NULL */
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

/* A case with random inputs (rotated sets) and uninitialised outputs. bytes:
 * what one run must move, at least the inputs read once and outputs written once. */
static tappa_status add_case(builder *b, enum kind kind, const char *op, const char *text,
                             const char *dtype, int n_in, const tensor_spec *in, int n_out,
                             const tensor_spec *out, double bytes, double flops, int max_reps,
                             state **made, tappa_error *err)
{
    state *s = calloc(1, sizeof *s);
    if (!s) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    s->kind = kind;
    bench_case c = { .record = record, .destroy = destroy, .state = s, .flops = flops,
                     .bytes = bytes, .max_reps = max_reps };
    snprintf(c.op, sizeof c.op, "%s", op);
    snprintf(c.shape, sizeof c.shape, "%s", text);
    snprintf(c.dtype, sizeof c.dtype, "%s", dtype);
    double in_bytes = 0;
    for (int i = 0; i < n_in; i++) in_bytes += spec_bytes(&in[i]);
    int sets = (int)ceil(ROTATE_BYTES / in_bytes);
    c.sets = sets < 1 ? 1 : sets > MAX_SETS ? MAX_SETS : sets;
    tappa_status st = TAPPA_OK;
    for (int set = 0; set < c.sets && !st; set++)
        for (int i = 0; i < n_in && !st; i++) st = random_tensor(b->ctx, &b->r, &in[i], &s->in[set][i], err);
    for (int i = 0; i < n_out && !st; i++)
        st = tappa_tensor_create(b->ctx, out[i].dtype, out[i].ndim, out[i].shape, &s->out[i], err);
    if (st) {
        destroy(s);
        return st;
    }
    *made = s;
    return push(b, c, err);
}

static bool wants(const builder *b, const char *op) { return !b->only || !strcmp(b->only, op); }

/* The element-wise and row ops, per storage dtype. */
static tappa_status add_basic(builder *b, tappa_dtype dt, bool quick, tappa_error *err)
{
    state *s = NULL;
    char text[96];
    const char *dn = tappa_dtype_name(dt);
    tappa_status st = TAPPA_OK;
    int64_t d = 128;
    if (wants(b, "softmax")) { /* rows like attention scores */
        int64_t rows = quick ? 512 : 8192, cols = quick ? 1024 : 8192;
        tensor_spec sm = { 2, { rows, cols }, dt };
        snprintf(text, sizeof text, "rows=%lld cols=%lld", (long long)rows, (long long)cols);
        st = add_case(b, K_SOFTMAX, "softmax", text, dn, 1, &sm, 1, &sm, 2 * spec_bytes(&sm),
                      5.0 * rows * cols, 0, &s, err);
    }
    if (!st && wants(b, "rope")) { /* a Llama-3-8B prefill's queries: Hq 32, N 4096 */
        int64_t h = quick ? 8 : 32, n = quick ? 256 : 4096;
        tensor_spec rq = { 3, { h, n, d }, dt };
        snprintf(text, sizeof text, "h=%lld n=%lld d=%lld", (long long)h, (long long)n, (long long)d);
        st = add_case(b, K_ROPE, "rope", text, dn, 1, &rq, 1, &rq, 2 * spec_bytes(&rq),
                      3.0 * h * n * d, 0, &s, err);
        if (!st) {
            s->rope = (tappa_rope_params){ TAPPA_ROPE_HALF, 500000, 0, NULL, 1 };
            st = rope_table_create(b->ctx, n, d, &s->rope, &s->aux, err);
        }
    }
    if (!st && dt == TAPPA_F32 && wants(b, "kv_append_rope")) {
        /* A Llama-3-8B decode step's K and V (Hkv 8) into a 4K layer, K rotated on the way. */
        int64_t hkv = 8, n = quick ? 512 : 4096;
        tensor_spec kv = { 3, { hkv, 1, d }, dt };
        snprintf(text, sizeof text, "hkv=%lld t=1 d=%lld at=%lld", (long long)hkv, (long long)d, (long long)n - 1);
        st = add_case(b, K_KV_APPEND_ROPE, "kv_append_rope", text, dn, 2, (tensor_spec[]){ kv, kv }, 0, NULL,
                      4 * spec_bytes(&kv), 6.0 * hkv * d / 2, 0, &s, err);
        if (!st) {
            s->window = n - 1;
            s->rope = (tappa_rope_params){ TAPPA_ROPE_HALF, 500000, 0, NULL, 1 };
            st = rope_table_create(b->ctx, n, d, &s->rope, &s->aux, err);
        }
        if (!st) st = tappa_kv_cache_create(b->ctx, 1, hkv, n, d, dt, &s->cache, err);
    }
    if (!st && wants(b, "qsim")) { /* all heads of all layers at once: L 32 x Hq 32, T 1024 */
        int64_t heads = quick ? 32 : 1024, t = quick ? 256 : 1024;
        tensor_spec qs = { 3, { heads, t, d }, dt }, qo = { 1, { heads }, TAPPA_F32 };
        snprintf(text, sizeof text, "heads=%lld t=%lld d=%lld", (long long)heads, (long long)t,
                 (long long)d);
        st = add_case(b, K_QSIM, "qsim", text, dn, 1, &qs, 1, &qo, spec_bytes(&qs) + spec_bytes(&qo),
                      4.0 * heads * t * d, 0, &s, err);
    }
    if (!st && wants(b, "qsim")) { /* a pairwise mode: one layer's 32 heads, T 1024 */
        int64_t heads = quick ? 8 : 32, t = quick ? 128 : 1024;
        tensor_spec qs = { 3, { heads, t, d }, dt }, qo = { 1, { heads }, TAPPA_F32 };
        snprintf(text, sizeof text, "euclidean heads=%lld t=%lld d=%lld", (long long)heads,
                 (long long)t, (long long)d);
        st = add_case(b, K_QSIM_PAIR, "qsim", text, dn, 1, &qs, 1, &qo, spec_bytes(&qs) + spec_bytes(&qo),
                      3.0 * heads * t * (t - 1) * d, 0, &s, err);
        if (!st) st = qsim_pairwise_scratch(s->in[0][0], TAPPA_QSIM_EUCLIDEAN, &s->aux2, &s->aux, err);
    }
    if (!st && wants(b, "block_influence")) { /* one layer, 4 calibration chunks of 1024 tokens, Llama-3-8B */
        int64_t n = quick ? 256 : 4096, dm = quick ? 1024 : 4096;
        tensor_spec h[2] = { { 2, { n, dm }, dt }, { 2, { n, dm }, dt } }, o = { 1, { n }, TAPPA_F32 };
        snprintf(text, sizeof text, "n=%lld d_model=%lld", (long long)n, (long long)dm);
        st = add_case(b, K_BLOCK_INFLUENCE, "block_influence", text, dn, 2, h, 1, &o,
                      2 * spec_bytes(&h[0]) + spec_bytes(&o), 7.0 * n * dm, 0, &s, err);
    }
    return st;
}

/* Decode at the Llama-3-8B shape with a KV cache of dtype kv: one token per
 * query head against each of the n_ctx contexts. With copies, each decode is
 * followed by a copy (unroll 2) of the bytes it moves, timed in the same run:
 * a short call moves its bytes below the 1 GiB yardstick's rate even when it
 * only streams them (H200: the 134 MB of a 32K f16 decode at 87.5% of it),
 * so each decode has a copy of its own size to be read against. */
static tappa_status add_decode(builder *b, tappa_dtype kv, bool quick, const int64_t *contexts,
                               int n_ctx, bool copies, tappa_error *err)
{
    const int64_t hq = quick ? 8 : 32, hkv = quick ? 2 : 8, d = 128;
    char text[96];
    state *s = NULL;
    tappa_status st = TAPPA_OK;
    for (int i = 0; i < n_ctx && !st; i++) {
        int64_t n = contexts[i];
        tensor_spec in[3] = { { 3, { hq, 1, d }, TAPPA_F32 }, { 3, { hkv, n, d }, kv }, { 3, { hkv, n, d }, kv } };
        tensor_spec out[2] = { { 3, { hq, 1, d }, TAPPA_F32 }, { 2, { hq, 1 }, TAPPA_F32 } };
        snprintf(text, sizeof text, "decode hq=%lld hkv=%lld ctx=%lld d=%lld", (long long)hq,
                 (long long)hkv, (long long)n, (long long)d);
        double bytes = spec_bytes(&in[0]) + spec_bytes(&in[1]) + spec_bytes(&in[2]) + spec_bytes(&out[0]);
        st = add_case(b, K_DECODE, "attention", text, tappa_dtype_name(kv), 3, in, 2, out, bytes,
                      4.0 * hq * n * d, 0, &s, err);
        if (!st) st = attention_decode_prepare(b->ctx, s->in[0][0], s->in[0][1], n, err);
        if (!st && copies) {
            tensor_spec t = { 1, { (int64_t)(bytes / 8 / 4) * 4 }, TAPPA_F32 }; /* whole 16-byte elements */
            snprintf(text, sizeof text, "n=%lld, bytes of %s ctx=%lld", (long long)t.shape[0], tappa_dtype_name(kv),
                     (long long)n);
            st = add_case(b, K_COPY, "copy", text, "f32", 1, &t, 1, &t, 2 * spec_bytes(&t), 0, 0, &s, err);
            if (!st) s->unroll = 2;
        }
    }
    return st;
}

static tappa_status add_prefill(builder *b, tappa_dtype kv, bool quick, const int64_t *prompts, int n_prompts,
                                tappa_error *err);

/* Attention at the Llama-3-8B shape with a KV cache of dtype kv. */
static tappa_status add_attention(builder *b, tappa_dtype kv, bool quick, tappa_error *err)
{
    const int64_t hq = quick ? 8 : 32, hkv = quick ? 2 : 8, d = 128;
    const char *dn = tappa_dtype_name(kv);
    char text[96];
    state *s = NULL;
    /* Decode: one token per query head against contexts of 4K, 32K, 128K. */
    const int64_t contexts[3] = { 4096, 32768, 131072 }, quick_context = 1024;
    tappa_status st = TAPPA_OK;
    if (wants(b, "attention"))
        st = quick ? add_decode(b, kv, quick, &quick_context, 1, false, err)
                   : add_decode(b, kv, quick, contexts, 3, false, err);
    /* tappa patterns: the last 64 rows of a 4K prompt's attention, every head. */
    if (!st && wants(b, "attention_rows")) {
        int64_t n = quick ? 256 : 4096, rows = 64;
        tensor_spec in[2] = { { 3, { hq, n, d }, TAPPA_F32 }, { 3, { hkv, n, d }, kv } };
        tensor_spec out = { 3, { hq, rows, n }, TAPPA_F32 };
        snprintf(text, sizeof text, "rows hq=%lld hkv=%lld n=%lld d=%lld rows=%lld", (long long)hq,
                 (long long)hkv, (long long)n, (long long)d, (long long)rows);
        /* The fewest bytes: the rows' queries, each KV head once, the weights. */
        double bytes = 4.0 * hq * rows * d + spec_bytes(&in[1]) + spec_bytes(&out);
        st = add_case(b, K_ATTENTION_ROWS, "attention_rows", text, dn, 2, in, 1, &out, bytes,
                      2.0 * hq * rows * n * d, 0, &s, err);
    }
    if (!st && kv == TAPPA_F32 && wants(b, "pattern_profiles")) { /* those rows' profiles */
        int64_t n = quick ? 256 : 4096, rows = 64;
        tensor_spec in = { 3, { hq, rows, n }, TAPPA_F32 };
        tensor_spec out[3] = { { 2, { hq, n }, TAPPA_F32 }, { 2, { hq, n }, TAPPA_F32 }, { 2, { hq, rows }, TAPPA_F32 } };
        snprintf(text, sizeof text, "heads=%lld rows=%lld n=%lld", (long long)hq, (long long)rows, (long long)n);
        st = add_case(b, K_PATTERN_PROFILES, "pattern_profiles", text, "f32", 1, &in, 3, out,
                      spec_bytes(&in) + 2 * spec_bytes(&out[0]) + spec_bytes(&out[2]), 6.0 * hq * rows * n, 0, &s, err);
    }
    if (!st && wants(b, "rope_energy")) { /* the RoPE picture of a 4K prompt's layer */
        int64_t n = quick ? 256 : 4096;
        tensor_spec in[2] = { { 3, { hq, n, d }, TAPPA_F32 }, { 3, { hkv, n, d }, kv } };
        tensor_spec out = { 2, { hq, d / 2 }, TAPPA_F32 };
        snprintf(text, sizeof text, "hq=%lld hkv=%lld n=%lld d=%lld", (long long)hq, (long long)hkv, (long long)n,
                 (long long)d);
        st = add_case(b, K_ROPE_ENERGY, "rope_energy", text, dn, 2, in, 1, &out,
                      spec_bytes(&in[0]) + spec_bytes(&in[1]) + spec_bytes(&out), 4.0 * hq * n * d, 0, &s, err);
    }
    /* Causal prefill of a 4K and a 16K prompt. */
    const int64_t prompts[2] = { 4096, 16384 }, quick_prompt = 256;
    if (!st && wants(b, "attention"))
        st = quick ? add_prefill(b, kv, quick, &quick_prompt, 1, err) : add_prefill(b, kv, quick, prompts, 2, err);
    return st;
}

/* Causal prefill at the Llama-3-8B shape, K/V of dtype kv, for each of the
 * n_prompts prompt lengths. */
static tappa_status add_prefill(builder *b, tappa_dtype kv, bool quick, const int64_t *prompts, int n_prompts,
                                tappa_error *err)
{
    const int64_t hq = quick ? 8 : 32, hkv = quick ? 2 : 8, d = 128;
    const char *dn = tappa_dtype_name(kv);
    char text[96];
    state *s = NULL;
    tappa_status st = TAPPA_OK;
    for (int i = 0; i < n_prompts && !st; i++) {
        int64_t n = prompts[i];
        tensor_spec in[3] = { { 3, { hq, n, d }, TAPPA_F32 }, { 3, { hkv, n, d }, kv }, { 3, { hkv, n, d }, kv } };
        tensor_spec out[2] = { { 3, { hq, n, d }, TAPPA_F32 }, { 2, { hq, n }, TAPPA_F32 } };
        snprintf(text, sizeof text, "prefill causal hq=%lld hkv=%lld n=%lld d=%lld", (long long)hq,
                 (long long)hkv, (long long)n, (long long)d);
        double bytes = spec_bytes(&in[0]) + spec_bytes(&in[1]) + spec_bytes(&in[2]) + spec_bytes(&out[0]);
        /* QK^T and PV, 2 flops per multiply-add, half the matrix under the causal mask. */
        st = add_case(b, K_PREFILL, "attention", text, dn, 3, in, 2, out, bytes,
                      2.0 * 2.0 * hq * n * n * d / 2, n > 8192 ? 5 : 0, &s, err);
        if (!st) st = attention_prefill_prepare(b->ctx, s->in[0][0], s->in[0][1], err);
    }
    return st;
}

/* A matvec (or matvec_swiglu, matvec_norm_out) case: w (rows * cols
 * values) in type, packed through the scratch packed, as enough matrices
 * (pairs for the gated product) to exceed the last-level cache. */
static tappa_status add_product(builder *b, enum kind kind, tappa_ggml_type type, int64_t rows, int64_t cols,
                                int64_t t, const float *w, void *packed, tappa_error *err)
{
    state *s = NULL;
    char text[96];
    bool gated = kind == K_MATVEC_SWIGLU, norm = kind == K_MATVEC_NORM_OUT;
    const char *op = gated ? "matvec_swiglu" : norm ? "matvec_norm_out" : "matvec";
    /* norm: the norm's weight beside x, h beside y (which is also read). */
    tensor_spec x[2] = { { 2, { t, cols }, TAPPA_F32 }, { 1, { rows }, TAPPA_F32 } };
    tensor_spec y[2] = { { 2, { t, rows }, TAPPA_F32 }, { 2, { t, rows }, TAPPA_F32 } };
    snprintf(text, sizeof text, "%s %lldx%lld t=%lld", tappa_ggml_type_name(type), (long long)rows, (long long)cols,
             (long long)t);
    quant_from_f32(type, w, (size_t)(rows * cols), packed);
    double bytes = (double)tappa_ggml_bytes(type, (uint64_t)(rows * cols)) * (gated ? 2 : 1);
    int copies = (int)ceil(ROTATE_BYTES / bytes);
    copies = copies < 1 ? 1 : copies > MAX_SETS ? MAX_SETS : copies;
    tappa_matrix *m[MAX_SETS][2] = { { NULL } };
    tappa_status st = TAPPA_OK;
    for (int i = 0; i < copies && !st; i++)
        for (int j = 0; j < (gated ? 2 : 1) && !st; j++)
            st = tappa_matrix_create(b->ctx, type, rows, cols, packed, &m[i][j], err);
    if (!st)
        st = add_case(b, kind, op, text, tappa_ggml_type_name(type), norm ? 2 : 1, x, norm ? 2 : 1, y,
                      (double)tappa_matrix_bytes(m[0][0]) * (gated ? 2 : 1) + spec_bytes(&x[0]) +
                          spec_bytes(&y[0]) * (norm ? 3 : 1) + (norm ? spec_bytes(&x[1]) : 0),
                      2.0 * rows * cols * t * (gated ? 2 : 1), 0, &s, err);
    if (!st) {
        memcpy(s->matrix, m, sizeof m);
        s->matrices = copies;
        return TAPPA_OK;
    }
    for (int i = 0; i < copies; i++) {
        tappa_matrix_destroy(&m[i][0]);
        tappa_matrix_destroy(&m[i][1]);
    }
    return st;
}

/* Decode's weight reads: one token through Llama-3-8B's largest projection
 * (ffn_up, 14336 x 4096) in each weight type, and through its two other
 * shapes in f16 (attn_output 4096 x 4096, ffn_down 4096 x 14336), whose
 * fewer rows make fewer workgroups: the model's stages, measured apart. */
static tappa_status add_matvec(builder *b, bool quick, tappa_error *err)
{
    const int64_t big = quick ? 512 : 14336, e = quick ? 1024 : 4096, small = quick ? 256 : 4096;
    /* A decode step in each format, and a prompt chunk of 8 tokens in f16
     * (the tensor-core path where the device has one). */
    enum { CASES = 7 };
    const tappa_ggml_type types[CASES] = { TAPPA_GGML_F32, TAPPA_GGML_F16, TAPPA_GGML_Q8_0, TAPPA_GGML_Q4_0,
                                           TAPPA_GGML_F16, TAPPA_GGML_F16, TAPPA_GGML_F16 };
    const int64_t tokens_of[CASES] = { 1, 1, 1, 1, 8, 1, 1 };
    const int64_t rows_of[CASES] = { big, big, big, big, big, small, e };
    const int64_t cols_of[CASES] = { e, e, e, e, e, small, big };
    size_t n = (size_t)(big * e); /* the most any case holds */
    float *w = malloc(n * sizeof *w);
    void *packed = malloc(n * 4);
    tappa_status st = w && packed ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (size_t i = 0; i < n && !st; i++) w[i] = (float)rng_uniform(&b->r, -0.05, 0.05);
    for (int i = 0; i < CASES && !st && wants(b, "matvec"); i++)
        st = add_product(b, K_MATVEC, types[i], rows_of[i], cols_of[i], tokens_of[i], w, packed, err);
    /* The MLP's gate and up with SwiGLU in one pass, as a decode step runs them. */
    if (!st && wants(b, "matvec_swiglu"))
        st = add_product(b, K_MATVEC_SWIGLU, TAPPA_GGML_F16, big, e, 1, w, packed, err);
    /* The output projection as a decode step runs it, writing the MLP norm's input too. */
    if (!st && wants(b, "matvec_norm_out"))
        st = add_product(b, K_MATVEC_NORM_OUT, TAPPA_GGML_F16, small, small, 1, w, packed, err);
    free(w);
    free(packed);
    /* The layer's other steps, over a 4096-token prompt's activations. */
    const int64_t rows = big, cols = e;
    int64_t tokens = quick ? 64 : 4096;
    if (!st && wants(b, "rmsnorm")) {
        state *s = NULL;
        char text[96];
        tensor_spec in[2] = { { 2, { tokens, cols }, TAPPA_F32 }, { 1, { cols }, TAPPA_F32 } };
        snprintf(text, sizeof text, "rows=%lld n=%lld", (long long)tokens, (long long)cols);
        st = add_case(b, K_RMSNORM, "rmsnorm", text, "f32", 2, in, 1, in, 2 * spec_bytes(&in[0]), 3.0 * tokens * cols,
                      0, &s, err);
    }
    if (!st && wants(b, "swiglu")) {
        state *s = NULL;
        char text[96];
        tensor_spec in[2] = { { 2, { tokens, rows }, TAPPA_F32 }, { 2, { tokens, rows }, TAPPA_F32 } };
        snprintf(text, sizeof text, "n=%lld x %lld", (long long)tokens, (long long)rows);
        st = add_case(b, K_SWIGLU, "swiglu", text, "f32", 2, in, 1, in, 3 * spec_bytes(&in[0]), 5.0 * tokens * rows,
                      0, &s, err);
    }
    /* The same with each token's 1 / rms of its row of the residual stream
     * applied first, at a prompt's tokens and at a decode step's one. */
    for (int one = 0; one < 2 && !st && wants(b, "swiglu_prescaled"); one++) {
        state *s = NULL;
        char text[96];
        int64_t n = one ? 1 : tokens;
        tensor_spec in[3] = { { 2, { n, rows }, TAPPA_F32 }, { 2, { n, rows }, TAPPA_F32 }, { 2, { n, cols }, TAPPA_F32 } };
        snprintf(text, sizeof text, "n=%lld x %lld, embd %lld", (long long)n, (long long)rows, (long long)cols);
        st = add_case(b, K_SWIGLU_PRESCALED, "swiglu_prescaled", text, "f32", 3, in, 1, in,
                      3 * spec_bytes(&in[0]) + spec_bytes(&in[2]), 5.0 * n * rows + 2.0 * n * cols, 0, &s, err);
    }
    return st;
}

/* Selection and compaction of a 32K prompt's keys (Hkv 8, D 128, W 32) to
 * C = 1024, and the row sums of cake's totals (Hq 32). */
static tappa_status add_selection(builder *b, bool f16, bool quick, tappa_error *err)
{
    const int64_t hq = quick ? 8 : 32, hkv = quick ? 2 : 8, d = 128, n = quick ? 4096 : 32768, w = 32;
    const int64_t keep = quick ? 224 : 992, m = n - w;
    char text[96];
    state *s = NULL;
    tappa_status st = TAPPA_OK;
    if (wants(b, "topk")) {
        tensor_spec in = { 2, { hkv, m }, TAPPA_F32 }, out = { 2, { hkv, keep }, TAPPA_I32 };
        snprintf(text, sizeof text, "rows=%lld m=%lld k=%lld", (long long)hkv, (long long)m, (long long)keep);
        st = add_case(b, K_TOPK, "topk", text, "f32", 1, &in, 1, &out, spec_bytes(&in) + spec_bytes(&out),
                      0, 0, &s, err);
    }
    if (!st && wants(b, "kv_compact")) {
        tappa_dtype dt = f16 ? TAPPA_F16 : TAPPA_F32;
        tensor_spec in = { 3, { hkv, n, d }, dt }, out = { 3, { hkv, keep + w, d }, dt };
        snprintf(text, sizeof text, "heads=%lld n=%lld d=%lld b=%lld w=%lld", (long long)hkv, (long long)n,
                 (long long)d, (long long)keep, (long long)w);
        /* Reads only the kept rows: bytes counts them once, and the output. */
        st = add_case(b, K_KV_COMPACT, "kv_compact", text, tappa_dtype_name(dt), 1, &in, 1, &out,
                      2 * spec_bytes(&out), 0, 0, &s, err);
        if (!st) {
            /* Valid kept positions: the top k of random scores. */
            tensor_spec sc = { 2, { hkv, m }, TAPPA_F32 };
            tappa_tensor *scores = NULL;
            int64_t ks[2] = { hkv, keep };
            s->window = w;
            st = random_tensor(b->ctx, &b->r, &sc, &scores, err);
            if (!st) st = tappa_tensor_create(b->ctx, TAPPA_I32, 2, ks, &s->aux, err);
            if (!st) st = tappa_topk_positions(scores, keep, s->aux, err);
            tappa_tensor_destroy(&scores);
        }
    }
    if (!st && wants(b, "row_sums")) {
        tensor_spec in = { 2, { hq, n }, TAPPA_F32 }, out = { 1, { hq }, TAPPA_F32 };
        snprintf(text, sizeof text, "rows=%lld cols=%lld of %lld", (long long)hq, (long long)m, (long long)n);
        st = add_case(b, K_ROW_SUMS, "row_sums", text, "f32", 1, &in, 1, &out, spec_bytes(&in), 0, 0, &s, err);
        if (!st) s->window = w;
    }
    return st;
}

/* The whole compression step (tappa_compress, tappa method) of a 32K prompt
 * over 32 layers (Hq 32, Hkv 8, D 128, f16 K/V, C 1024, W 32), on the host
 * clock, beside one layer's causal prefill of the same prompt. Layers cycle
 * over two random sets of q, k, v (each set: 0.5 GiB of queries). */
#define COMPRESS_SETS 2
typedef struct compress_state {
    int layers;
    tappa_tensor *q[COMPRESS_SETS], *k[COMPRESS_SETS], *v[COMPRESS_SETS];
    const tappa_tensor **lq, **lk, **lv; /* (layers): the set each layer uses */
    tappa_compress_layer *report;        /* (layers) */
    tappa_compress_params params;
} compress_state;

static void compress_destroy(void *p)
{
    compress_state *s = p;
    for (int i = 0; i < COMPRESS_SETS; i++) {
        tappa_tensor_destroy(&s->q[i]);
        tappa_tensor_destroy(&s->k[i]);
        tappa_tensor_destroy(&s->v[i]);
    }
    free(s->lq);
    free(s->lk);
    free(s->lv);
    free(s->report);
    free(s);
}

static tappa_status compress_run(void *p, tappa_error *err)
{
    compress_state *s = p;
    tappa_kv_cache *cache = NULL;
    tappa_status st = tappa_compress(&s->params, s->layers, s->lq, s->lk, s->lv, NULL, &cache, s->report, err);
    tappa_compress_report_free(s->report, s->layers);
    tappa_kv_cache_destroy(&cache);
    return st;
}

static tappa_status add_compress(builder *b, bool f16, bool quick, tappa_error *err)
{
    const int64_t hq = quick ? 8 : 32, hkv = quick ? 2 : 8, d = 128, n = quick ? 1024 : 32768;
    const int layers = quick ? 2 : 32;
    tappa_dtype dt = f16 ? TAPPA_F16 : TAPPA_F32;
    char text[96];
    state *ps = NULL;
    /* One layer's prefill: the yardstick. */
    tensor_spec in[3] = { { 3, { hq, n, d }, TAPPA_F32 }, { 3, { hkv, n, d }, dt }, { 3, { hkv, n, d }, dt } };
    tensor_spec out[2] = { { 3, { hq, n, d }, TAPPA_F32 }, { 2, { hq, n }, TAPPA_F32 } };
    snprintf(text, sizeof text, "prefill causal hq=%lld n=%lld (1 layer)", (long long)hq, (long long)n);
    tappa_status st = add_case(b, K_PREFILL, "compress", text, tappa_dtype_name(dt), 3, in, 2, out, 0,
                               2.0 * 2.0 * hq * n * n * d / 2, 3, &ps, err);
    if (!st) st = attention_prefill_prepare(b->ctx, ps->in[0][0], ps->in[0][1], err);
    if (st) return st;
    compress_state *s = calloc(1, sizeof *s);
    if (!s) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    s->layers = layers;
    tappa_compress_defaults(&s->params);
    if (quick) s->params.cache_size = 128;
    s->lq = calloc((size_t)layers, sizeof *s->lq);
    s->lk = calloc((size_t)layers, sizeof *s->lk);
    s->lv = calloc((size_t)layers, sizeof *s->lv);
    s->report = calloc((size_t)layers, sizeof *s->report);
    if (!s->lq || !s->lk || !s->lv || !s->report) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (int i = 0; i < COMPRESS_SETS && !st; i++) {
        st = random_tensor(b->ctx, &b->r, &in[0], &s->q[i], err);
        if (!st) st = random_tensor(b->ctx, &b->r, &in[1], &s->k[i], err);
        if (!st) st = random_tensor(b->ctx, &b->r, &in[2], &s->v[i], err);
    }
    for (int l = 0; l < layers && !st; l++) {
        s->lq[l] = s->q[l % COMPRESS_SETS];
        s->lk[l] = s->k[l % COMPRESS_SETS];
        s->lv[l] = s->v[l % COMPRESS_SETS];
    }
    if (st) {
        compress_destroy(s);
        return st;
    }
    bench_case c = { .run = compress_run, .destroy = compress_destroy, .state = s, .sets = 1,
                     .max_reps = 5, .layers = layers };
    snprintf(c.op, sizeof c.op, "compress");
    snprintf(c.shape, sizeof c.shape, "tappa L=%d hq=%lld n=%lld C=%lld (whole step)", layers,
             (long long)hq, (long long)n, (long long)s->params.cache_size);
    snprintf(c.dtype, sizeof c.dtype, "%s", tappa_dtype_name(dt));
    return push(b, c, err);
}

/* Window statistics of a 32K prompt, W 32, from the prefill's lse; alone and
 * with the h2o column sums over all queries. */
static tappa_status add_window_stats(builder *b, tappa_dtype kv, bool quick, tappa_error *err)
{
    const int64_t hq = quick ? 8 : 32, hkv = quick ? 2 : 8, d = 128, w = 32, n = quick ? 512 : 32768;
    char text[96];
    state *s = NULL;
    tappa_status st = TAPPA_OK;
    for (int h2o = 0; h2o < 2 && !st; h2o++) {
        tensor_spec in[2] = { { 3, { hq, n, d }, TAPPA_F32 }, { 3, { hkv, n, d }, kv } };
        tensor_spec out[3] = { { 2, { hq, n }, TAPPA_F32 }, { 2, { hq, n }, TAPPA_F32 }, { 2, { hq, n }, TAPPA_F32 } };
        snprintf(text, sizeof text, "hq=%lld hkv=%lld n=%lld d=%lld w=%lld%s", (long long)hq,
                 (long long)hkv, (long long)n, (long long)d, (long long)w, h2o ? " +h2o" : "");
        /* The stats read the window queries and every key; h2o reads all queries. */
        double q_bytes = h2o ? spec_bytes(&in[0]) : 4.0 * hq * w * d;
        double bytes = q_bytes + spec_bytes(&in[1]) + (2 + h2o) * spec_bytes(&out[0]);
        double flops = 2.0 * hq * w * n * d + (h2o ? 2.0 * hq * n * n * d / 2 : 0);
        st = add_case(b, K_WINDOW_STATS, "window_stats", text, tappa_dtype_name(kv), 2, in,
                      2 + h2o, out, bytes, flops, h2o ? 5 : 0, &s, err);
        if (st) break;
        s->window = w;
        s->h2o = h2o;
        /* Any lse of a few units keeps exp() finite; the timing does not depend on it. */
        tensor_spec ls = { 2, { hq, n }, TAPPA_F32 };
        st = random_tensor(b->ctx, &b->r, &ls, &s->aux, err);
    }
    return st;
}

tappa_status bench_cases_create(tappa_context *ctx, bool quick, const char *op, const int64_t *contexts,
                                int n_contexts, const char *dtype, bench_case **cases, size_t *count,
                                tappa_error *err)
{
    builder b = { .ctx = ctx, .only = op };
    rng_seed(&b.r, rng_fresh_seed());
    const tappa_device_info *info = tappa_context_device(ctx);
    bool f16 = info && info->storage_16bit;
    state *s = NULL;
    char text[96];
    tappa_status st = TAPPA_OK;
    if (dtype && !strcmp(dtype, "f16") && !f16)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "--dtype f16: %s has no 16-bit storage",
                          tappa_context_name(ctx));

    /* copy is the yardstick: the best of a few unroll depths, so the ratios
     * below are against what this device can really move. */
    int64_t copy_n = quick ? (8 << 20) : (256 << 20); /* f32 elements: 32 MiB / 1 GiB */
    for (uint32_t unroll = 1; unroll <= 8 && !st; unroll *= 2) {
        tensor_spec t = { 1, { copy_n }, TAPPA_F32 };
        snprintf(text, sizeof text, "n=%lld (%.0f MiB) unroll=%u", (long long)copy_n,
                 copy_n * 4.0 / (1 << 20), unroll);
        st = add_case(&b, K_COPY, "copy", text, "f32", 1, &t, 1, &t, 2 * spec_bytes(&t), 0, 0, &s, err);
        if (!st) {
            s->unroll = unroll;
            b.cases[b.count - 1].yardstick = true;
        }
    }
    if (b.only && !strcmp(b.only, "copy"))
        /* Copy asked for by name: also shorter copies (unroll 2), whose times
         * show what a call costs on this device beyond moving its bytes. */
        for (int64_t mib = 1; mib < copy_n * 4 >> 20 && !st; mib *= 4) {
            tensor_spec t = { 1, { mib << 18 }, TAPPA_F32 };
            snprintf(text, sizeof text, "n=%lld (%lld MiB) unroll=2", (long long)(mib << 18), (long long)mib);
            st = add_case(&b, K_COPY, "copy", text, "f32", 1, &t, 1, &t, 2 * spec_bytes(&t), 0, 0, &s, err);
            if (!st) s->unroll = 2;
        }
    /* Each decode's copy goes beside the last dtype the sweep keeps. */
    tappa_dtype copies_dt = f16 && (!dtype || !strcmp(dtype, "f16")) ? TAPPA_F16 : TAPPA_F32;
    for (int dti = 0; dti < 2 && !st; dti++) {
        tappa_dtype dt = dti ? TAPPA_F16 : TAPPA_F32;
        if ((dt == TAPPA_F16 && !f16) || (dtype && strcmp(dtype, tappa_dtype_name(dt)))) continue;
        st = add_basic(&b, dt, quick, err);
        if (!st && (wants(&b, "attention") || wants(&b, "attention_rows") || wants(&b, "pattern_profiles") ||
                    wants(&b, "rope_energy")))
            st = add_attention(&b, dt, quick, err);
        if (!st && b.only && !strcmp(b.only, "decode")) {
            /* The decode sweep, asked for by name: every context from 1K to 128K. */
            const int64_t sweep[8] = { 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072 };
            st = contexts ? add_decode(&b, dt, quick, contexts, n_contexts, dt == copies_dt, err)
                          : add_decode(&b, dt, quick, sweep, quick ? 2 : 8, dt == copies_dt, err);
        }
        if (!st && b.only && !strcmp(b.only, "prefill")) {
            /* The prefill sweep, asked for by name: causal prompts from 1K to 16K. */
            const int64_t sweep[5] = { 1024, 2048, 4096, 8192, 16384 }, quick_sweep[2] = { 128, 256 };
            st = contexts ? add_prefill(&b, dt, quick, contexts, n_contexts, err)
                          : add_prefill(&b, dt, quick, quick ? quick_sweep : sweep, quick ? 2 : 5, err);
        }
        if (!st && wants(&b, "window_stats")) st = add_window_stats(&b, dt, quick, err);
        if (!st && dt == TAPPA_F32 && wants(&b, "token_scores")) {
            /* Scores of a 32K prompt's keys: Hq 32, Hkv 8, W 32. */
            int64_t n = quick ? 4096 : 32768, w = 32;
            tensor_spec in[2] = { { 2, { 32, n }, TAPPA_F32 }, { 2, { 32, n }, TAPPA_F32 } };
            tensor_spec out = { 2, { 8, n - w }, TAPPA_F32 };
            snprintf(text, sizeof text, "hq=32 hkv=8 n=%lld w=%lld k=5", (long long)n, (long long)w);
            st = add_case(&b, K_TOKEN_SCORES, "token_scores", text, "f32", 2, in, 1, &out,
                          spec_bytes(&in[0]) + spec_bytes(&in[1]) + spec_bytes(&out),
                          4.0 * 32 * 5 * (n - w), 0, &s, err);
            if (!st) s->window = w;
        }
    }
    if (!st) st = add_selection(&b, f16, quick, err);
    if (!st && (wants(&b, "matvec") || wants(&b, "matvec_swiglu") || wants(&b, "matvec_norm_out") || wants(&b, "rmsnorm") ||
                 wants(&b, "swiglu") || wants(&b, "swiglu_prescaled")))
        st = add_matvec(&b, quick, err);
    if (!st && (b.only && !strcmp(b.only, "compress"))) st = add_compress(&b, f16, quick, err);
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
