/* The per-layer KV cache: [Hkv][capacity][D] K and V tensors and lengths. */
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

struct tappa_kv_cache {
    tappa_context *ctx;
    int layers;
    int64_t hkv, capacity, d;
    tappa_tensor **k, **v;  /* (layers) */
    int64_t *length;        /* (layers) */
};

tappa_status tappa_kv_cache_create(tappa_context *ctx, int layers, int64_t hkv, int64_t capacity,
                                   int64_t d, tappa_dtype dtype, tappa_kv_cache **out,
                                   tappa_error *err)
{
    *out = NULL;
    if (layers < 1 || hkv < 1 || capacity < 1 || d < 1 || dtype == TAPPA_I32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "kv cache: needs layers, heads, capacity, dim >= 1 and an f32 or f16 dtype");
    tappa_kv_cache *c = calloc(1, sizeof *c);
    if (!c) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "kv cache: out of host memory");
    c->ctx = ctx;
    c->layers = layers;
    c->hkv = hkv;
    c->capacity = capacity;
    c->d = d;
    c->k = calloc((size_t)layers, sizeof *c->k);
    c->v = calloc((size_t)layers, sizeof *c->v);
    c->length = calloc((size_t)layers, sizeof *c->length);
    tappa_status st = (!c->k || !c->v || !c->length)
                          ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "kv cache: out of host memory") : TAPPA_OK;
    int64_t shape[3] = { hkv, capacity, d };
    for (int l = 0; l < layers && !st; l++) {
        st = tappa_tensor_create(ctx, dtype, 3, shape, &c->k[l], err);
        if (!st) st = tappa_tensor_create(ctx, dtype, 3, shape, &c->v[l], err);
    }
    if (st) {
        tappa_kv_cache_destroy(&c);
        return st;
    }
    *out = c;
    return TAPPA_OK;
}

void tappa_kv_cache_destroy(tappa_kv_cache **pc)
{
    tappa_kv_cache *c = pc ? *pc : NULL;
    if (!c) return;
    for (int l = 0; l < c->layers; l++) {
        if (c->k) tappa_tensor_destroy(&c->k[l]);
        if (c->v) tappa_tensor_destroy(&c->v[l]);
    }
    free(c->k);
    free(c->v);
    free(c->length);
    free(c);
    *pc = NULL;
}

int tappa_kv_cache_layers(const tappa_kv_cache *c) { return c->layers; }
int64_t tappa_kv_cache_capacity(const tappa_kv_cache *c) { return c->capacity; }

int64_t tappa_kv_cache_length(const tappa_kv_cache *c, int layer)
{
    return layer >= 0 && layer < c->layers ? c->length[layer] : 0;
}

tappa_tensor *tappa_kv_cache_keys(const tappa_kv_cache *c, int layer)
{
    return layer >= 0 && layer < c->layers ? c->k[layer] : NULL;
}

tappa_tensor *tappa_kv_cache_values(const tappa_kv_cache *c, int layer)
{
    return layer >= 0 && layer < c->layers ? c->v[layer] : NULL;
}

static tappa_status check_layer(const tappa_kv_cache *c, int layer, tappa_error *err)
{
    if (layer < 0 || layer >= c->layers)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "kv cache: layer %d of %d", layer, c->layers);
    return TAPPA_OK;
}

tappa_status tappa_kv_cache_set_length(tappa_kv_cache *c, int layer, int64_t length,
                                       tappa_error *err)
{
    tappa_status st = check_layer(c, layer, err);
    if (st) return st;
    if (length < 0 || length > c->capacity)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "kv cache: length %lld outside 0..%lld",
                          (long long)length, (long long)c->capacity);
    c->length[layer] = length;
    return TAPPA_OK;
}

typedef struct append_args {
    tappa_kv_cache *c;
    int layer;
    const tappa_tensor *k, *v;
    size_t t;      /* positions to append */
    size_t stride; /* positions between heads in k and v */
    /* K rotated on the way in (kv_append's ROPE variant), or table NULL */
    const tappa_tensor *table;
    bool interleaved;
    uint32_t table_pos; /* table position of row 0 */
    const rms_prescale *pre; /* with table: K's and V's rows scaled first, or NULL */
} append_args;

/* Whether one kv_append dispatch takes all heads' new rows: the sources and
 * the layer's cache each in one binding, rows of whole 32-bit words, and for
 * the rotating variant f32 rows and a table in one binding. A cache longer
 * than one binding holds takes the copies (which check and report what does
 * not fit). */
static bool append_fits(const append_args *a)
{
    tappa_kv_cache *c = a->c;
    const tappa_tensor *ck = c->k[a->layer], *cv = c->v[a->layer];
    size_t d = (size_t)c->d, esize = tappa_dtype_bytes(ck->dtype);
    size_t src_span = (((size_t)c->hkv - 1) * a->stride + a->t) * d;
    if (a->table && (ck->dtype != TAPPA_F32 || d % 2 || a->table->n_segments != 1)) return false;
    if (a->pre && (!a->table || a->t > RMS_PRESCALE_MAX_ROWS || a->pre->tokens != a->t || a->pre->x->n_segments != 1)) return false;
    return c->ctx->vk && (d * esize) % 4 == 0 && a->k->dtype == ck->dtype && a->v->dtype == cv->dtype &&
           a->k->numel >= src_span && a->v->numel >= src_span && a->k->n_segments == 1 && a->v->n_segments == 1 &&
           ck->n_segments == 1 && cv->n_segments == 1;
}

/* The kv_append dispatch of append_fits' case, at position at. */
static tappa_status append_dispatch(const append_args *a, size_t at, tappa_error *err)
{
    tappa_kv_cache *c = a->c;
    tvk_device *dev = c->ctx->vk;
    tappa_tensor *ck = c->k[a->layer], *cv = c->v[a->layer];
    size_t t = a->t, d = (size_t)c->d, cap = (size_t)c->capacity, heads = (size_t)c->hkv;
    size_t words = tappa_dtype_bytes(ck->dtype) * d / 4; /* per row */
    uint32_t spec[3] = { op_workgroup_size(dev), a->table != NULL, a->pre != NULL };
    tvk_pipeline *p;
    tappa_status st = tvk_pipeline_get(dev, SHADER(kv_append), 6, spec, 3, &p, err);
    if (st) return st;
    const tappa_tensor *resid = a->pre ? a->pre->x : a->k;
    float eps = a->pre ? (float)a->pre->eps : 0.0f;
    tvk_binding b[6] = { tensor_binding(a->k, 0), tensor_binding(a->v, 0), tensor_binding(ck, 0),
                         tensor_binding(cv, 0), tensor_binding(a->table ? a->table : a->k, 0),
                         tensor_binding(resid, 0) };
    uint32_t push[12] = { (uint32_t)(a->table ? t * d / 2 : t * words), (uint32_t)heads, (uint32_t)(a->stride * words),
                          (uint32_t)(at * words), (uint32_t)(cap * words), (uint32_t)(d / 2), a->interleaved,
                          a->table_pos, a->pre ? a->pre->tokens : 0,
                          a->pre ? (uint32_t)(resid->numel / (size_t)resid->shape[0]) : 0, 0, 0 };
    memcpy(&push[11], &eps, sizeof eps);
    uint32_t gx, gy;
    tvk_grid(dev, ((uint64_t)push[0] * heads + spec[0] - 1) / spec[0], &gx, &gy);
    return tvk_dispatch(dev, p, b, push, sizeof push, gx, gy, 1, err);
}

static tappa_status record_append(void *p, tappa_error *err)
{
    append_args *a = p;
    tappa_kv_cache *c = a->c;
    size_t t = a->t, d = (size_t)c->d, cap = (size_t)c->capacity;
    size_t at = (size_t)c->length[a->layer];
    tappa_status st = TAPPA_OK;
    if (append_fits(a)) return append_dispatch(a, at, err);
    for (size_t h = 0; h < (size_t)c->hkv && !st; h++) {
        st = tensor_copy_range(a->k, h * a->stride * d, c->k[a->layer], (h * cap + at) * d, t * d, err);
        if (!st) st = tensor_copy_range(a->v, h * a->stride * d, c->v[a->layer], (h * cap + at) * d, t * d, err);
    }
    return st;
}

/* Record a's append into the open recording and count the positions held;
 * a rotating append only as its one dispatch (the copies cannot rotate). */
static tappa_status record_counted(append_args *a, tappa_error *err)
{
    tappa_kv_cache *c = a->c;
    if (c->length[a->layer] + (int64_t)a->t > c->capacity)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "kv cache: layer %d is full", a->layer);
    if (a->table && !append_fits(a))
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "kv cache: no rotating%s append for these tensors",
                          a->pre ? ", prescaled" : "");
    tappa_status st = record_append(a, err);
    if (!st) c->length[a->layer] += (int64_t)a->t;
    return st;
}

tappa_status kv_cache_append_record(tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                                    int64_t t, tappa_error *err)
{
    append_args args = { c, layer, k, v, (size_t)t, (size_t)k->shape[1], NULL, false, 0, NULL };
    return record_counted(&args, err);
}

bool kv_cache_append_rope_fits(const tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                               int64_t t, const tappa_tensor *table)
{
    append_args args = { (tappa_kv_cache *)c, layer, k, v, (size_t)t, (size_t)k->shape[1], table, false, 0, NULL };
    return append_fits(&args);
}

tappa_status kv_cache_append_rope_record(tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                                         int64_t t, const tappa_tensor *table, bool interleaved, uint32_t table_pos,
                                         const rms_prescale *pre, tappa_error *err)
{
    append_args args = { c, layer, k, v, (size_t)t, (size_t)k->shape[1], table, interleaved, table_pos, pre };
    return record_counted(&args, err);
}

/* What tappa_kv_cache_append and tappa_kv_cache_append_rope take. */
static tappa_status check_append(const tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                                 tappa_error *err)
{
    tappa_status st = check_layer(c, layer, err);
    if (st) return st;
    if (k->ctx != c->ctx || v->ctx != c->ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "kv cache: tensors belong to another context");
    st = tensor_check_same(k, v, "kv cache append (k vs v)", err);
    if (st) return st;
    if (k->ndim != 3 || k->shape[0] != c->hkv || k->shape[2] != c->d || k->dtype != c->k[0]->dtype)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "kv cache: append needs k, v [%lld, T, %lld] %s", (long long)c->hkv,
                          (long long)c->d, tappa_dtype_name(c->k[0]->dtype));
    if (c->length[layer] + k->shape[1] > c->capacity)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "kv cache: layer %d is full (%lld + %lld > %lld)",
                          layer, (long long)c->length[layer], (long long)k->shape[1],
                          (long long)c->capacity);
    return TAPPA_OK;
}

tappa_status tappa_kv_cache_append(tappa_kv_cache *c, int layer, const tappa_tensor *k,
                                   const tappa_tensor *v, tappa_error *err)
{
    tappa_status st = check_append(c, layer, k, v, err);
    if (st) return st;
    append_args args = { c, layer, k, v, (size_t)k->shape[1], (size_t)k->shape[1], NULL, false, 0, NULL };
    st = c->ctx->backend == TAPPA_BACKEND_CPU ? record_append(&args, err)
                                              : op_submit(c->ctx->vk, record_append, &args, err);
    if (!st) c->length[layer] += k->shape[1];
    return st;
}

static tappa_status append_rope(tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                                const tappa_rope_params *params, const rms_prescale *pre, tappa_error *err);

/* The CPU's prescaled append: scaled copies of k and v, then the rotating append. */
static tappa_status append_scaled(tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                                  const tappa_rope_params *params, const rms_prescale *pre, tappa_error *err)
{
    size_t t = (size_t)k->shape[1], d = (size_t)c->d, embd = pre->x->numel / t;
    double *kd = NULL, *vd = NULL, *x = NULL;
    tappa_tensor *ks = NULL, *vs = NULL;
    tappa_status st = op_to_double(k, &kd, err);
    if (!st) st = op_to_double(v, &vd, err);
    if (!st) st = op_to_double(pre->x, &x, err);
    for (size_t r = 0; r < t && !st; r++) {
        double s = tappa_ref_rms_scale(x + r * embd, embd, pre->eps);
        for (size_t h = 0; h < (size_t)c->hkv; h++)
            for (size_t j = 0; j < d; j++) {
                kd[(h * t + r) * d + j] *= s;
                vd[(h * t + r) * d + j] *= s;
            }
    }
    if (!st) st = tappa_tensor_create(c->ctx, k->dtype, 3, k->shape, &ks, err);
    if (!st) st = tappa_tensor_create(c->ctx, v->dtype, 3, v->shape, &vs, err);
    if (!st) st = op_from_double(ks, kd, err);
    if (!st) st = op_from_double(vs, vd, err);
    if (!st) st = append_rope(c, layer, ks, vs, params, NULL, err);
    tappa_tensor_destroy(&ks);
    tappa_tensor_destroy(&vs);
    free(kd); free(vd); free(x);
    return st;
}

/* tappa_kv_cache_append_rope, with pre: K's and V's rows scaled first. */
static tappa_status append_rope(tappa_kv_cache *c, int layer, const tappa_tensor *k, const tappa_tensor *v,
                                const tappa_rope_params *params, const rms_prescale *pre, tappa_error *err)
{
    tappa_status st = check_append(c, layer, k, v, err);
    if (st) return st;
    if (c->d % 2)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "kv cache: RoPE needs an even head dim, got %lld",
                          (long long)c->d);
    st = rope_check_params(params, "kv cache append", err);
    if (st) return st;
    tappa_tensor *table = NULL, *rotated = NULL;
    int64_t t = k->shape[1];
    append_args args = { c, layer, k, v, (size_t)t, (size_t)t, NULL, params->layout == TAPPA_ROPE_INTERLEAVED, 0, pre };
    if (c->ctx->backend != TAPPA_BACKEND_CPU) st = rope_table_create(c->ctx, t, c->d, params, &table, err);
    args.table = table;
    if (!st && table && append_fits(&args)) {
        st = op_submit(c->ctx->vk, record_append, &args, err);
        if (!st) c->length[layer] += t;
    } else if (!st && pre && c->ctx->backend != TAPPA_BACKEND_CPU) {
        st = tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                        "kv cache: no prescaled append here (it needs f32 rows, each tensor in one binding)");
    } else if (!st && pre) {
        st = append_scaled(c, layer, k, v, params, pre, err);
    } else if (!st) {
        /* No rotating dispatch here (the CPU, f16 rows, a cache past one
         * binding): RoPE into a copy of k, then the plain append. */
        st = tappa_tensor_create(c->ctx, k->dtype, 3, k->shape, &rotated, err);
        if (!st) st = tappa_rope(k, rotated, params, err);
        if (!st) st = tappa_kv_cache_append(c, layer, rotated, v, err);
    }
    tappa_tensor_destroy(&table);
    tappa_tensor_destroy(&rotated);
    return st;
}

tappa_status tappa_kv_cache_append_rope(tappa_kv_cache *c, int layer, const tappa_tensor *k,
                                        const tappa_tensor *v, const tappa_rope_params *params,
                                        tappa_error *err)
{
    return append_rope(c, layer, k, v, params, NULL, err);
}

tappa_status tappa_kv_cache_append_rope_prescaled(tappa_kv_cache *c, int layer, const tappa_tensor *k,
                                                  const tappa_tensor *v, const tappa_rope_params *params,
                                                  const tappa_tensor *resid, double eps, tappa_error *err)
{
    if (k->ndim != 3 || resid->ctx != c->ctx || resid->dtype != TAPPA_F32 || resid->ndim != 2 ||
        resid->shape[0] != k->shape[1] || resid->shape[0] > RMS_PRESCALE_MAX_ROWS || !(eps >= 0))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "kv cache: a prescaled append needs k, v [Hkv, T, D] with T <= %d, resid [T, embd] f32 of "
                          "the cache's context, eps >= 0", RMS_PRESCALE_MAX_ROWS);
    rms_prescale pre = { resid, eps, (uint32_t)resid->shape[0] };
    return append_rope(c, layer, k, v, params, &pre, err);
}

tappa_status tappa_attention_decode(const tappa_tensor *q, const tappa_kv_cache *c, int layer,
                                    tappa_tensor *out, tappa_tensor *lse, tappa_error *err)
{
    tappa_status st = check_layer(c, layer, err);
    if (st) return st;
    if (c->length[layer] < 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "kv cache: layer %d is empty", layer);
    return attention_decode_cache(q, c->k[layer], c->v[layer], c->length[layer], out, lse, err);
}

typedef struct read_args {
    const tappa_kv_cache *c;
    int layer;
    tappa_tensor *k, *v;
} read_args;

static tappa_status record_read(void *p, tappa_error *err)
{
    read_args *a = p;
    const tappa_kv_cache *c = a->c;
    size_t len = (size_t)c->length[a->layer], d = (size_t)c->d, cap = (size_t)c->capacity;
    tappa_status st = TAPPA_OK;
    for (size_t h = 0; h < (size_t)c->hkv && !st; h++) {
        st = tensor_copy_range(c->k[a->layer], h * cap * d, a->k, h * len * d, len * d, err);
        if (!st) st = tensor_copy_range(c->v[a->layer], h * cap * d, a->v, h * len * d, len * d, err);
    }
    return st;
}

tappa_status tappa_kv_cache_read_layer(const tappa_kv_cache *c, int layer, tappa_tensor *k,
                                       tappa_tensor *v, tappa_error *err)
{
    tappa_status st = check_layer(c, layer, err);
    if (st) return st;
    int64_t len = c->length[layer];
    for (int i = 0; i < 2; i++) {
        const tappa_tensor *t = i ? v : k;
        if (t->ctx != c->ctx || t->ndim != 3 || t->shape[0] != c->hkv || t->shape[1] != len ||
            t->shape[2] != c->d || t->dtype != c->k[0]->dtype)
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "kv cache: reading layer %d needs k, v [%lld, %lld, %lld] %s",
                              layer, (long long)c->hkv, (long long)len, (long long)c->d,
                              tappa_dtype_name(c->k[0]->dtype));
    }
    read_args args = { c, layer, k, v };
    return c->ctx->backend == TAPPA_BACKEND_CPU ? record_read(&args, err)
                                                : op_submit(c->ctx->vk, record_read, &args, err);
}
