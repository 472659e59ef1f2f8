/* attention: the public call, its float64 reference and argument checks. The
 * kernels live in attention_prefill.c (many queries) and attention_decode.c
 * (one query per head, split-K). */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_attention(const double *q, const double *k, const double *v, double *out,
                         double *lse, size_t hq, size_t hkv, size_t nq, size_t nk, size_t d,
                         bool causal)
{
    size_t group = hq / hkv;
    double scale = 1.0 / sqrt((double)d);
    double *p = malloc(nk * sizeof *p + 1); /* (nk) one row's weights */
    if (!p) return;
    for (size_t h = 0; h < hq; h++) {
        const double *kh = k + (h / group) * nk * d; /* (nk, d) */
        const double *vh = v + (h / group) * nk * d;
        for (size_t i = 0; i < nq; i++) {
            const double *qi = q + (h * nq + i) * d; /* (d) */
            double *oi = out + (h * nq + i) * d;
            size_t visible = causal ? nk - nq + i + 1 : nk;
            double m = -INFINITY, s = 0;
            for (size_t j = 0; j < visible; j++) {
                double acc = 0;
                for (size_t c = 0; c < d; c++) acc += qi[c] * kh[j * d + c];
                p[j] = acc * scale;
                if (p[j] > m) m = p[j];
            }
            for (size_t j = 0; j < visible; j++) s += (p[j] = exp(p[j] - m));
            for (size_t c = 0; c < d; c++) oi[c] = 0;
            for (size_t j = 0; j < visible; j++)
                for (size_t c = 0; c < d; c++) oi[c] += p[j] / s * vh[j * d + c];
            if (lse) lse[h * nq + i] = m + log(s);
        }
    }
    free(p);
}

tappa_status attention_check(const tappa_tensor *q, const tappa_tensor *k, const tappa_tensor *v,
                             int64_t nk, const tappa_tensor *out, const tappa_tensor *lse,
                             tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    if (k->ctx != ctx || v->ctx != ctx || out->ctx != ctx || (lse && lse->ctx != ctx))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention: tensors belong to different contexts");
    if (q->ndim != 3 || k->ndim != 3 || q->dtype != TAPPA_F32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention: q must be [Hq, Nq, D] f32 and k [Hkv, Nk, D]");
    if (tensor_check_same(k, v, "attention (k vs v)", err)) return TAPPA_ERR_INVALID_ARG;
    if (k->dtype == TAPPA_I32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention: k and v must be f32 or f16");
    int64_t hq = q->shape[0], nq = q->shape[1], d = q->shape[2], hkv = k->shape[0];
    if (hkv < 1 || hq < 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention: q has %lld heads and k %lld: each needs at least one",
                          (long long)hq, (long long)hkv);
    if (hq % hkv)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "attention: %lld query heads are not a multiple of %lld KV heads",
                          (long long)hq, (long long)hkv);
    if (k->shape[2] != d)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention: q has head dim %lld, k %lld",
                          (long long)d, (long long)k->shape[2]);
    if (d < 16 || d > 256 || d % 16)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "attention: head dim %lld (supported: multiples of 16 up to 256)", (long long)d);
    if (nq < 1 || nk < nq || nk > k->shape[1])
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "attention: needs 1 <= Nq (%lld) <= Nk (%lld)", (long long)nq, (long long)nk);
    if (out->dtype != TAPPA_F32 || out->ndim != 3 || out->shape[0] != hq || out->shape[1] != nq ||
        out->shape[2] != d)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention: out must be [Hq, Nq, D] f32 like q");
    if (lse && (lse->dtype != TAPPA_F32 || lse->numel != (size_t)(hq * nq)))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention: lse must be [Hq, Nq] f32");
    if (q->numel > UINT32_MAX || k->numel > UINT32_MAX)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "attention: more than 2^32 elements in a tensor");
    if (ctx->backend == TAPPA_BACKEND_VULKAN && k->dtype == TAPPA_F16 && !ctx->vk->info.storage_16bit)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "attention: %s lacks 16-bit storage for f16 K/V",
                          ctx->name);
    return TAPPA_OK;
}

/* CPU backend: the reference on the first nk rows of each KV head. */
static tappa_status attention_cpu(const tappa_tensor *q, const tappa_tensor *k,
                                  const tappa_tensor *v, int64_t nk, bool causal,
                                  tappa_tensor *out, tappa_tensor *lse, tappa_error *err)
{
    size_t hq = (size_t)q->shape[0], nq = (size_t)q->shape[1], d = (size_t)q->shape[2];
    size_t hkv = (size_t)k->shape[0], cap = (size_t)k->shape[1];
    double *qv = NULL, *kall = NULL, *vall = NULL;
    double *kv = malloc(hkv * (size_t)nk * d * sizeof *kv + 1), *vv = malloc(hkv * (size_t)nk * d * sizeof *vv + 1);
    double *ov = malloc(q->numel * sizeof *ov + 1), *lv = malloc(hq * nq * sizeof *lv + 1);
    tappa_status st = (!kv || !vv || !ov || !lv)
                          ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "attention: out of host memory") : TAPPA_OK;
    if (!st) st = op_to_double(q, &qv, err);
    if (!st) st = op_to_double(k, &kall, err);
    if (!st) st = op_to_double(v, &vall, err);
    if (!st) {
        for (size_t h = 0; h < hkv; h++)
            for (size_t i = 0; i < (size_t)nk * d; i++) {
                kv[h * nk * d + i] = kall[h * cap * d + i];
                vv[h * nk * d + i] = vall[h * cap * d + i];
            }
        tappa_ref_attention(qv, kv, vv, ov, lv, hq, hkv, nq, (size_t)nk, d, causal);
        op_from_double(out, ov, err);
        if (lse) op_from_double(lse, lv, err);
    }
    free(qv); free(kall); free(vall); free(kv); free(vv); free(ov); free(lv);
    return st;
}

typedef struct attention_args {
    const tappa_tensor *q, *k, *v;
    int64_t nk;
    bool causal;
    tappa_tensor *out, *lse;
} attention_args;

static tappa_status record_prefill(void *p, tappa_error *err)
{
    attention_args *a = p;
    return attention_prefill_record(a->q, a->k, a->v, a->causal, a->out, a->lse, err);
}

static tappa_status record_decode(void *p, tappa_error *err)
{
    attention_args *a = p;
    return attention_decode_record(a->q, a->k, a->v, a->nk, a->out, a->lse, err);
}

/* Run on ctx: decode kernel for one query per head (causal or not, a single
 * query sees every key), prefill kernel otherwise. */
static tappa_status attention_run(const tappa_tensor *q, const tappa_tensor *k,
                                  const tappa_tensor *v, int64_t nk, bool causal,
                                  tappa_tensor *out, tappa_tensor *lse, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    if (ctx->backend == TAPPA_BACKEND_CPU) return attention_cpu(q, k, v, nk, causal, out, lse, err);
    int64_t hq = q->shape[0], nq = q->shape[1];
    if (!lse) {
        /* The kernels always write an lse; give them scratch. */
        if (!ctx->decode_lse || ctx->decode_lse->numel < (size_t)(hq * nq)) {
            tappa_tensor_destroy(&ctx->decode_lse);
            int64_t n = hq * nq;
            tappa_status st = tappa_tensor_create(ctx, TAPPA_F32, 1, &n, &ctx->decode_lse, err);
            if (st) return st;
        }
        lse = ctx->decode_lse;
    }
    attention_args args = { q, k, v, nk, causal, out, lse };
    if (nq == 1) {
        tappa_status st = attention_decode_prepare(ctx, q, k, nk, err);
        if (st) return st;
        return op_submit(ctx->vk, record_decode, &args, err);
    }
    if (nk != k->shape[1])
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention: prefill needs Nk = all rows of k");
    tappa_status st = attention_prefill_prepare(ctx, q, k, err);
    if (st) return st;
    return op_submit(ctx->vk, record_prefill, &args, err);
}

tappa_status tappa_attention(const tappa_tensor *q, const tappa_tensor *k, const tappa_tensor *v,
                             bool causal, tappa_tensor *out, tappa_tensor *lse, tappa_error *err)
{
    tappa_status st = attention_check(q, k, v, k->ndim == 3 ? k->shape[1] : 0, out, lse, err);
    if (st) return st;
    return attention_run(q, k, v, k->shape[1], causal, out, lse, err);
}

tappa_status attention_decode_cache(const tappa_tensor *q, const tappa_tensor *k,
                                    const tappa_tensor *v, int64_t n, tappa_tensor *out,
                                    tappa_tensor *lse, tappa_error *err)
{
    tappa_status st = attention_check(q, k, v, n, out, lse, err);
    if (st) return st;
    if (q->shape[1] != 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "attention_decode: q must be [Hq, 1, D]");
    return attention_run(q, k, v, n, true, out, lse, err);
}
