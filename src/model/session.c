/* Sessions: a model's KV cache and position, evaluation, trace recording. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "tappa/compress.h"
#include "tappa/prune.h"
#include "tappa/tensor_io.h"

tappa_status tappa_session_create(tappa_model *m, int64_t max_tokens, tappa_session **out, tappa_error *err)
{
    *out = NULL;
    const tappa_model_info *in = &m->info;
    if (max_tokens < 1 || max_tokens > (1 << 24))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "session: room for %lld tokens", (long long)max_tokens);
    tappa_session *s = calloc(1, sizeof *s);
    if (!s) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    s->m = m;
    s->cap = max_tokens;
    size_t cache = (size_t)in->layers * in->kv_heads * (size_t)max_tokens * in->head_dim;
    tappa_status st = TAPPA_OK;
    if (!(s->kv_len = calloc((size_t)in->layers, sizeof *s->kv_len))) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (st) {
    } else if (m->dev) {
        st = session_vk_create(s, err);
    } else {
        s->k = malloc(cache * sizeof *s->k);
        s->v = malloc(cache * sizeof *s->v);
    }
    if (st) {
        tappa_session_free(&s);
        return st;
    }
    if (!m->dev && (!s->k || !s->v)) {
        tappa_session_free(&s);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "session: no host memory for a %lld-token KV cache",
                          (long long)max_tokens);
    }
    *out = s;
    return TAPPA_OK;
}

static void free_rows(trace_rows *r, int n)
{
    for (int i = 0; r && i < n; i++) free(r[i].v);
    free(r);
}

void tappa_session_free(tappa_session **sp)
{
    if (!sp || !*sp) return;
    tappa_session *s = *sp;
    int L = s->m->info.layers;
    free(s->k);
    free(s->v);
    free(s->kv_len);
    session_vk_free(s);
    free_rows(s->q, L);
    free_rows(s->q_pre, L);
    free_rows(s->tk, L);
    free_rows(s->tv, L);
    free_rows(s->hidden, L + 1);
    free(s);
    *sp = NULL;
}

int64_t tappa_session_length(const tappa_session *s) { return s->len; }

size_t tappa_session_kv_bytes(const tappa_session *s)
{
    const tappa_model_info *in = &s->m->info;
    size_t positions = 0;
    for (int l = 0; l < in->layers; l++) positions += (size_t)s->kv_len[l];
    return 2 * sizeof(float) * (size_t)in->kv_heads * positions * in->head_dim;
}

tappa_status tappa_session_eval(tappa_session *s, const int32_t *ids, size_t n, bool all_logits, float *logits,
                                tappa_error *err)
{
    if (n == 0) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "session: no tokens to evaluate");
    /* Positions past the capacity have no RoPE table rows on the device. */
    if ((int64_t)n > s->cap - s->len)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "session: %zu more tokens would pass its %lld positions", n,
                          (long long)s->cap);
    for (int l = 0; l < s->m->info.layers; l++)
        if ((int64_t)n > s->cap - s->kv_len[l])
            return tappa_fail(err, TAPPA_ERR_LIMIT, "session: %zu more tokens would pass the %lld-token KV cache", n,
                              (long long)s->cap);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->m->info.vocab)
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "session: token id %d outside the vocabulary of %d", ids[i],
                              s->m->info.vocab);
    return s->dev ? forward_vk(s, ids, n, all_logits, logits, err) : forward_cpu(s, ids, n, all_logits, logits, err);
}

tappa_status trace_append(trace_rows *t, const float *x, size_t n, tappa_error *err)
{
    if (n > t->cap - t->n) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap - t->n < n) cap *= 2;
        float *grown = realloc(t->v, cap * sizeof *grown);
        if (!grown) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "trace: out of host memory");
        t->v = grown;
        t->cap = cap;
    }
    memcpy(t->v + t->n, x, n * sizeof *x);
    t->n += n;
    return TAPPA_OK;
}

tappa_status tappa_session_record_trace(tappa_session *s, tappa_error *err)
{
    if (s->len) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "trace: start recording before the first token");
    if (s->tracing) return TAPPA_OK;
    int L = s->m->info.layers;
    s->q = calloc((size_t)L, sizeof *s->q);
    s->q_pre = calloc((size_t)L, sizeof *s->q_pre);
    s->tk = calloc((size_t)L, sizeof *s->tk);
    s->tv = calloc((size_t)L, sizeof *s->tv);
    s->hidden = calloc((size_t)L + 1, sizeof *s->hidden);
    if (!s->q || !s->q_pre || !s->tk || !s->tv || !s->hidden) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (s->dev) {
        tappa_status st = session_vk_trace(s, err);
        if (st) return st;
    }
    s->tracing = true;
    return TAPPA_OK;
}

/* Token-major rows (N, H * D) to a head-major array [H, N, D]. */
static tappa_status head_major(const trace_rows *r, int64_t n, int heads, int d, tappa_array *a, tappa_error *err)
{
    int64_t shape[3] = { heads, n, d };
    tappa_status st = tappa_array_alloc(a, TAPPA_F32, 3, shape, err);
    if (st) return st;
    float *dst = a->data;
    for (int64_t t = 0; t < n; t++)
        for (int h = 0; h < heads; h++)
            memcpy(dst + ((size_t)h * n + t) * d, r->v + ((size_t)t * heads + h) * d, (size_t)d * sizeof *dst);
    return TAPPA_OK;
}

tappa_status tappa_session_write_trace(const tappa_session *s, const char *path, tappa_error *err)
{
    if (!s->tracing || !s->traced) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "trace: nothing recorded");
    const tappa_model_info *in = &s->m->info;
    int L = in->layers;
    size_t count = 4 * (size_t)L + (size_t)L + 1;
    tappa_array *arrays = calloc(count, sizeof *arrays);
    char **names = calloc(count, sizeof *names);
    const tappa_array **ptrs = calloc(count, sizeof *ptrs);
    tappa_status st = arrays && names && ptrs ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    size_t k = 0;
    for (int l = 0; l < L && !st; l++) {
        static const char *const parts[4] = { "q", "q_pre", "k", "v" };
        const trace_rows *rows[4] = { &s->q[l], &s->q_pre[l], &s->tk[l], &s->tv[l] };
        for (int p = 0; p < 4 && !st; p++) {
            int heads = p < 2 ? in->heads : in->kv_heads;
            st = head_major(rows[p], s->traced, heads, in->head_dim, &arrays[k], err);
            if (!st && (names[k] = malloc(32))) snprintf(names[k], 32, "layer.%d.%s", l, parts[p]);
            if (!st && !names[k]) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
            k++;
        }
    }
    for (int l = 0; l <= L && !st; l++) {
        int64_t shape[2] = { s->traced, in->embd };
        st = tappa_array_alloc(&arrays[k], TAPPA_F32, 2, shape, err);
        if (!st) memcpy(arrays[k].data, s->hidden[l].v, arrays[k].bytes);
        if (!st && (names[k] = malloc(32))) snprintf(names[k], 32, "hidden.%d", l);
        if (!st && !names[k]) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        k++;
    }
    for (size_t i = 0; i < k; i++) ptrs[i] = &arrays[i];
    if (!st) st = tappa_safetensors_write(path, k, (const char *const *)names, ptrs, err);
    for (size_t i = 0; arrays && i < count; i++) tappa_array_free(&arrays[i]);
    for (size_t i = 0; names && i < count; i++) free(names[i]);
    free(arrays);
    free(names);
    free(ptrs);
    return st;
}

tappa_status tappa_session_prune_scores(const tappa_session *s, tappa_context *ctx, double *bi, double *qsim,
                                        tappa_error *err)
{
    if (!s->tracing || s->traced < 1) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "prune scores: nothing recorded");
    const tappa_model_info *in = &s->m->info;
    int L = in->layers;
    tappa_array *hidden = calloc((size_t)L + 1, sizeof *hidden), *qpre = calloc((size_t)L, sizeof *qpre);
    const tappa_array **hp = calloc((size_t)L + 1, sizeof *hp), **qp = calloc((size_t)L, sizeof *qp);
    tappa_status st = hidden && qpre && hp && qp ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (int l = 0; l <= L && !st; l++) {
        int64_t shape[2] = { s->traced, in->embd };
        st = tappa_array_alloc(&hidden[l], TAPPA_F32, 2, shape, err);
        if (!st) memcpy(hidden[l].data, s->hidden[l].v, hidden[l].bytes);
        hp[l] = &hidden[l];
    }
    for (int l = 0; l < L && !st; l++) {
        st = head_major(&s->q_pre[l], s->traced, in->heads, in->head_dim, &qpre[l], err);
        qp[l] = &qpre[l];
    }
    if (!st) st = tappa_prune_chunk_bi(ctx, L, hp, bi, err);
    if (!st) st = tappa_prune_chunk_qsim(ctx, L, qp, qsim, err);
    for (int l = 0; hidden && l <= L; l++) tappa_array_free(&hidden[l]);
    for (int l = 0; qpre && l < L; l++) tappa_array_free(&qpre[l]);
    free(hidden);
    free(qpre);
    free(hp);
    free(qp);
    return st;
}

int64_t tappa_session_layer_length(const tappa_session *s, int layer)
{
    return layer >= 0 && layer < s->m->info.layers ? s->kv_len[layer] : 0;
}

static void stop_tracing(tappa_session *s)
{
    int L = s->m->info.layers;
    free_rows(s->q, L);
    free_rows(s->q_pre, L);
    free_rows(s->tk, L);
    free_rows(s->tv, L);
    free_rows(s->hidden, L + 1);
    s->q = s->q_pre = s->tk = s->tv = s->hidden = NULL;
    s->tracing = false;
}

/* The compressed cache's layers into the host cache of a CPU session. */
static tappa_status install_host(tappa_session *s, const tappa_kv_cache *cache, tappa_error *err)
{
    const tappa_model_info *in = &s->m->info;
    size_t HK = (size_t)in->kv_heads, D = (size_t)in->head_dim, cap2 = (size_t)tappa_kv_cache_capacity(cache);
    float *k = malloc(sizeof(float) * HK * cap2 * D), *v = malloc(sizeof(float) * HK * cap2 * D);
    tappa_status st = k && v ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (int l = 0; l < in->layers && !st; l++) {
        size_t len = (size_t)tappa_kv_cache_length(cache, l);
        st = tappa_tensor_download(tappa_kv_cache_keys(cache, l), k, sizeof(float) * HK * cap2 * D, err);
        if (!st) st = tappa_tensor_download(tappa_kv_cache_values(cache, l), v, sizeof(float) * HK * cap2 * D, err);
        for (size_t h = 0; h < HK && !st; h++) {
            size_t at = ((size_t)l * HK + h) * (size_t)s->cap * D;
            memcpy(s->k + at, k + h * cap2 * D, sizeof(float) * len * D);
            memcpy(s->v + at, v + h * cap2 * D, sizeof(float) * len * D);
        }
        if (!st) s->kv_len[l] = (int64_t)len;
    }
    free(k);
    free(v);
    return st;
}

tappa_status tappa_session_compress(tappa_session *s, const tappa_compress_params *p, tappa_compress_layer *report,
                                    tappa_error *err)
{
    if (!s->tracing || s->traced != s->len || s->len < 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "compress: the session must record its trace from the first token (tappa_session_record_trace)");
    const tappa_model_info *in = &s->m->info;
    tappa_context *ctx = s->m->ctx;
    int L = in->layers;
    tappa_tensor **q = calloc((size_t)L, sizeof *q), **k = calloc((size_t)L, sizeof *k), **v = calloc((size_t)L, sizeof *v);
    tappa_status st = q && k && v ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (int l = 0; l < L && !st; l++) {
        const trace_rows *rows[3] = { &s->q[l], &s->tk[l], &s->tv[l] };
        tappa_tensor **dst[3] = { &q[l], &k[l], &v[l] };
        for (int i = 0; i < 3 && !st; i++) {
            tappa_array a = { 0 };
            st = head_major(rows[i], s->traced, i ? in->kv_heads : in->heads, in->head_dim, &a, err);
            if (!st) st = tappa_tensor_from_array(ctx, &a, dst[i], err);
            tappa_array_free(&a);
        }
    }
    tappa_compress_params params = *p;
    params.extra = s->cap - s->len; /* room for every token still to come */
    tappa_kv_cache *cache = NULL;
    if (!st)
        st = tappa_compress(&params, L, (const tappa_tensor *const *)q, (const tappa_tensor *const *)k,
                            (const tappa_tensor *const *)v, NULL, &cache, report, err);
    for (int l = 0; l < L; l++) {
        if (q) tappa_tensor_destroy(&q[l]);
        if (k) tappa_tensor_destroy(&k[l]);
        if (v) tappa_tensor_destroy(&v[l]);
    }
    free(q);
    free(k);
    free(v);
    if (!st && s->dev) {
        tappa_kv_cache_destroy(&s->dev->cache);
        s->dev->cache = cache;
        cache = NULL;
        for (int l = 0; l < L; l++) s->kv_len[l] = tappa_kv_cache_length(s->dev->cache, l);
    } else if (!st) {
        st = install_host(s, cache, err);
    }
    tappa_kv_cache_destroy(&cache);
    if (!st) stop_tracing(s);
    return st;
}
