/* tappa patterns for one layer of a trace: the sampled attention rows and
 * the q-similarities on the context's device, then each head's scores. */
#include <stdlib.h>
#include <string.h>

#include "tappa/patterns.h"
#include "tappa/tensor.h"

/* A float copy of an f32 or f16 array (caller frees), or NULL. */
static float *as_f32(const tappa_array *a)
{
    size_t n = tappa_array_numel(a);
    float *out = malloc(n * sizeof *out + 1);
    if (!out) return NULL;
    if (a->dtype == TAPPA_F16)
        for (size_t i = 0; i < n; i++) out[i] = tappa_f16_to_f32(((const uint16_t *)a->data)[i]);
    else memcpy(out, a->data, n * sizeof *out);
    return out;
}

static bool is_heads(const tappa_array *a)
{
    return a && a->ndim == 3 && (a->dtype == TAPPA_F32 || a->dtype == TAPPA_F16);
}

/* A device tensor of the host floats x with the given shape. */
static tappa_status upload(tappa_context *ctx, const float *x, const int64_t *shape, tappa_tensor **out,
                           tappa_error *err)
{
    tappa_status st = tappa_tensor_create(ctx, TAPPA_F32, 3, shape, out, err);
    if (!st) st = tappa_tensor_upload(*out, x, (size_t)(shape[0] * shape[1] * shape[2]) * sizeof *x, err);
    return st;
}

/* Cosine q-similarity per head of the queries tq [h, t, d] on the device. */
static tappa_status qsim_of(const tappa_tensor *tq, double *out, tappa_error *err)
{
    int64_t h = tappa_tensor_dim(tq, 0);
    tappa_tensor *to = NULL;
    float *res = malloc((size_t)h * sizeof *res);
    tappa_status st = res ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "patterns: out of host memory");
    if (!st) st = tappa_tensor_create(tappa_tensor_context(tq), TAPPA_F32, 1, &h, &to, err);
    if (!st) st = tappa_qsim(tq, to, TAPPA_QSIM_COSINE, err);
    if (!st) st = tappa_tensor_download(to, res, (size_t)h * sizeof *res, err);
    for (int64_t i = 0; !st && i < h; i++) out[i] = res[i];
    tappa_tensor_destroy(&to);
    free(res);
    return st;
}

tappa_status tappa_patterns_layer(tappa_context *ctx, const tappa_array *q, const tappa_array *q_pre,
                                  const tappa_array *k, tappa_rope_layout layout,
                                  const tappa_pattern_params *p, tappa_head_pattern *heads,
                                  double *rope_energy, float *attn, tappa_error *err)
{
    if (!is_heads(q) || !is_heads(k) || (q_pre && !is_heads(q_pre)))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "patterns: q, q_pre and k must be [heads, N, D] f32 or f16");
    int64_t hq = q->shape[0], n = q->shape[1], d = q->shape[2], hkv = k->shape[0];
    if (hkv < 1 || hq % hkv || k->shape[1] != n || k->shape[2] != d || d % 2 || n < 2 ||
        (q_pre && (q_pre->shape[0] != hq || q_pre->shape[1] != n || q_pre->shape[2] != d)))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "patterns: q [%lld, %lld, %lld] and k [%lld, %lld, %lld] do not match (Hq a multiple of "
                          "Hkv, D even, N >= 2)%s",
                          (long long)hq, (long long)n, (long long)d, (long long)hkv, (long long)k->shape[1],
                          (long long)k->shape[2], q_pre ? ", q_pre like q" : "");
    if (p->rows < 2 || p->window < 2 || p->top < 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "patterns: rows and window need at least 2, top at least 1");
    int64_t s = p->rows < n ? p->rows : n, w = p->window < n ? p->window : n, pairs = d / 2;
    float *qf = as_f32(q), *qp = q_pre ? as_f32(q_pre) : NULL, *qw = malloc((size_t)(hq * w * d) * sizeof *qw);
    float *col = malloc((size_t)(hq * n) * sizeof *col), *off = malloc((size_t)(hq * n) * sizeof *off);
    float *pred = malloc((size_t)(hq * s) * sizeof *pred), *energy = malloc((size_t)(hq * pairs) * sizeof *energy);
    double *qs = malloc((size_t)hq * sizeof *qs), *qsw = malloc((size_t)hq * sizeof *qsw);
    tappa_tensor *tq = NULL, *tpre = NULL, *tk = NULL, *trows = NULL, *tcol = NULL, *toff = NULL, *tpred = NULL,
                 *te = NULL, *tw = NULL;
    tappa_status st = TAPPA_OK;
    if (!qf || (q_pre && !qp) || !qw || !col || !off || !pred || !energy || !qs || !qsw)
        st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "patterns: out of host memory");
    const float *src = qp ? qp : qf; /* the queries q-similarity and the RoPE picture read */
    if (!st && qp) layout = tappa_rope_layout_of(qp, qf, n, d);
    int64_t rs[3] = { hq, s, n }, ps[2] = { hq, n }, prs[2] = { hq, s }, es[2] = { hq, pairs }, ws[3] = { hq, w, d };
    if (!st) st = upload(ctx, qf, q->shape, &tq, err);
    if (!st) st = tappa_tensor_from_array(ctx, k, &tk, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 3, rs, &trows, err);
    if (!st) st = tappa_attention_rows(tq, tk, n - s, trows, err);
    if (!st && attn) st = tappa_tensor_download(trows, attn, (size_t)(hq * s * n) * sizeof *attn, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, ps, &tcol, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, ps, &toff, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, prs, &tpred, err);
    if (!st) st = tappa_pattern_profiles(trows, tcol, toff, tpred, err);
    if (!st) st = tappa_tensor_download(tcol, col, (size_t)(hq * n) * sizeof *col, err);
    if (!st) st = tappa_tensor_download(toff, off, (size_t)(hq * n) * sizeof *off, err);
    if (!st) st = tappa_tensor_download(tpred, pred, (size_t)(hq * s) * sizeof *pred, err);
    tappa_tensor_destroy(&trows);
    /* q-similarity and the RoPE picture read the pre-RoPE queries when given. */
    if (!st && qp) st = upload(ctx, qp, q->shape, &tpre, err);
    const tappa_tensor *tsrc = qp ? tpre : tq;
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, es, &te, err);
    if (!st) st = tappa_rope_energy(tsrc, tk, layout, te, err);
    if (!st) st = tappa_tensor_download(te, energy, (size_t)(hq * pairs) * sizeof *energy, err);
    if (!st) st = qsim_of(tsrc, qs, err);
    for (int64_t h = 0; !st && h < hq; h++)
        memcpy(qw + h * w * d, src + (h * n + n - w) * d, (size_t)(w * d) * sizeof *qw);
    if (!st) st = upload(ctx, qw, ws, &tw, err);
    if (!st) st = qsim_of(tw, qsw, err);
    tappa_tensor *all[] = { tq, tpre, tk, tcol, toff, tpred, te, tw };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tappa_tensor_destroy(&all[i]);
    for (int64_t h = 0; !st && h < hq; h++) {
        st = tappa_pattern_scores(col + h * n, off + h * n, pred + h * s, s, n, p, &heads[h], err);
        heads[h].qsim = qs[h];
        heads[h].qsim_window = qsw[h];
        for (int64_t j = 0; j < pairs; j++) rope_energy[h * pairs + j] = energy[h * pairs + j];
    }
    free(qf);
    free(qp);
    free(qw);
    free(col);
    free(off);
    free(pred);
    free(energy);
    free(qs);
    free(qsw);
    return st;
}
