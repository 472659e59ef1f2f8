/* Conformance cases: one function per op draws inputs, runs the op on the
 * context and the float64 reference on the same (dtype-rounded) inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "../model/quant.h"
#include "conform.h"
#include "rng.h"

const char *const conform_ops[] = { "copy", "softmax", "rope", "rope_prescaled", "qsim", "window_stats", "attention",
                                    "token_scores", "topk", "kv_compact", "row_sums", "block_influence",
                                    "matvec", "matvec_swiglu", "matvec_norm_out", "rmsnorm", "swiglu", "swiglu_prescaled", "kv_append_rope", "kv_append_rope_prescaled", "attention_rows", "pattern_profiles",
                                    "rope_energy", NULL };

/* Tolerances of SPEC.md. */
#define TOL_F32 1e-5
#define TOL_F16 2e-3
#define TOL_ATTENTION_F32 1e-4

static uint32_t poison_bits(tappa_dtype dt) { return dt == TAPPA_F16 ? 0x7e00u : 0x7fc00000u; }

/* A tensor holding v (n values), with v rounded in place to what dtype stores,
 * so the reference sees exactly the device's inputs. */
static tappa_status tensor_from_doubles(tappa_context *ctx, tappa_dtype dt, int ndim,
                                        const int64_t *shape, double *v, tappa_tensor **out,
                                        tappa_error *err)
{
    tappa_array a;
    tappa_status st = tappa_array_alloc(&a, dt, ndim, shape, err);
    if (st) return st;
    size_t n = tappa_array_numel(&a);
    for (size_t i = 0; i < n; i++) {
        if (dt == TAPPA_F16) {
            uint16_t h = tappa_f32_to_f16((float)v[i]);
            ((uint16_t *)a.data)[i] = h;
            v[i] = tappa_f16_to_f32(h);
        } else {
            ((float *)a.data)[i] = (float)v[i];
            v[i] = (float)v[i];
        }
    }
    st = tappa_tensor_from_array(ctx, &a, out, err);
    tappa_array_free(&a);
    return st;
}

static tappa_status poisoned(tappa_context *ctx, tappa_dtype dt, int ndim, const int64_t *shape,
                             tappa_tensor **out, tappa_error *err)
{
    tappa_status st = tappa_tensor_create(ctx, dt, ndim, shape, out, err);
    if (!st) st = tappa_tensor_fill_bits(*out, poison_bits(dt), err);
    if (st) tappa_tensor_destroy(out);
    return st;
}

/* Compare t with ref: normalised L2 error, NaN if any element is not finite. */
static tappa_status compare(const tappa_tensor *t, const double *ref, double *error, tappa_error *err)
{
    tappa_array a;
    tappa_status st = tappa_tensor_to_array(t, &a, err);
    if (st) return st;
    size_t n = tappa_array_numel(&a);
    double diff = 0, norm = 0;
    bool finite = true;
    for (size_t i = 0; i < n; i++) {
        double v = a.dtype == TAPPA_F16 ? tappa_f16_to_f32(((uint16_t *)a.data)[i])
                                        : ((float *)a.data)[i];
        if (!isfinite(v)) finite = false;
        diff += (v - ref[i]) * (v - ref[i]);
        norm += ref[i] * ref[i];
    }
    tappa_array_free(&a);
    *error = !finite ? NAN : norm > 0 ? sqrt(diff / norm) : sqrt(diff);
    return TAPPA_OK;
}

static double *doubles(size_t n) { return malloc((n ? n : 1) * sizeof(double)); }

/* ---- copy ---------------------------------------------------------------- */
static tappa_status case_copy(tappa_context *ctx, rng *r, int64_t n, conform_result *res,
                              tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "n=%lld", (long long)n);
    res->tolerance = 0;
    double *v = doubles((size_t)n);
    tappa_tensor *src = NULL, *dst = NULL;
    if (!v) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (int64_t i = 0; i < n; i++) v[i] = rng_uniform(r, -1e3, 1e3);
    tappa_status st = tensor_from_doubles(ctx, TAPPA_F32, 1, &n, v, &src, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 1, &n, &dst, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_copy(src, dst, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) st = compare(dst, v, &res->error, err);
    if (!st) res->segments = tappa_tensor_segments(dst);
    tappa_tensor_destroy(&src);
    tappa_tensor_destroy(&dst);
    free(v);
    return st;
}

/* ---- shape-preserving ops (softmax, rope) ------------------------------ */
/* y = op(x) with y shaped like x: draw x, run the op into a poisoned y, and
 * compare with the reference run on the same rounded x. */
typedef struct unary_op {
    tappa_status (*run)(const tappa_tensor *x, tappa_tensor *y, const void *params,
                        tappa_error *err);
    void (*reference)(const double *x, double *y, const int64_t *shape, const void *params);
    const void *params;
} unary_op;

static tappa_status check_unary(tappa_context *ctx, tappa_dtype dt, int ndim, const int64_t *shape,
                                double *x, const unary_op *op, conform_result *res,
                                tappa_error *err)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    res->tolerance = dt == TAPPA_F16 ? TOL_F16 : TOL_F32;
    double *ref = doubles(n);
    tappa_tensor *tx = NULL, *ty = NULL;
    tappa_status st = !ref ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) st = tensor_from_doubles(ctx, dt, ndim, shape, x, &tx, err);
    if (!st) st = poisoned(ctx, dt, ndim, shape, &ty, err);
    if (!st) {
        double t0 = clock_ms();
        st = op->run(tx, ty, op->params, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        op->reference(x, ref, shape, op->params);
        st = compare(ty, ref, &res->error, err);
        res->segments = tappa_tensor_segments(tx);
    }
    tappa_tensor_destroy(&tx);
    tappa_tensor_destroy(&ty);
    free(ref);
    return st;
}

static tappa_status run_softmax(const tappa_tensor *x, tappa_tensor *y, const void *params,
                                tappa_error *err)
{
    (void)params;
    return tappa_softmax(x, y, err);
}

static void ref_softmax(const double *x, double *y, const int64_t *shape, const void *params)
{
    (void)params;
    tappa_ref_softmax(x, y, (size_t)shape[0], (size_t)shape[1]);
}

static tappa_status case_softmax(tappa_context *ctx, rng *r, tappa_dtype dt, int64_t rows,
                                 int64_t cols, conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "rows=%lld cols=%lld", (long long)rows, (long long)cols);
    int64_t shape[2] = { rows, cols };
    double *x = doubles((size_t)(rows * cols));
    if (!x) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (int64_t i = 0; i < rows * cols; i++) x[i] = rng_uniform(r, -6, 6);
    const unary_op op = { run_softmax, ref_softmax, NULL };
    tappa_status st = check_unary(ctx, dt, 2, shape, x, &op, res, err);
    free(x);
    return st;
}

static tappa_status run_rope(const tappa_tensor *x, tappa_tensor *y, const void *params,
                             tappa_error *err)
{
    return tappa_rope(x, y, params, err);
}

static void ref_rope(const double *x, double *y, const int64_t *shape, const void *params)
{
    tappa_ref_rope(x, y, (size_t)shape[0], (size_t)shape[1], (size_t)shape[2], params);
}

static tappa_status case_rope(tappa_context *ctx, rng *r, tappa_dtype dt, int64_t h, int64_t n,
                              int64_t d, tappa_rope_params p, conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "h=%lld n=%lld d=%lld %s base=%g pos=%lld",
             (long long)h, (long long)n, (long long)d,
             p.layout == TAPPA_ROPE_INTERLEAVED ? "interleaved" : "half", p.base,
             (long long)p.pos_offset);
    int64_t shape[3] = { h, n, d };
    double *x = doubles((size_t)(h * n * d));
    if (!x) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (int64_t i = 0; i < h * n * d; i++) x[i] = rng_normal(r);
    const unary_op op = { run_rope, ref_rope, &p };
    tappa_status st = check_unary(ctx, dt, 3, shape, x, &op, res, err);
    free(x);
    return st;
}

/* Rows of a residual stream for the prescaled ops: each row at its own
 * scale, so a missing or misplaced per-token scale fails. */
static void draw_resid(rng *r, double *x, int64_t rows, int64_t embd)
{
    for (int64_t i = 0; i < rows * embd; i++) x[i] = rng_normal(r) * (double)(1 + (i / embd) % 5) * 0.5;
}

/* tappa_rope_prescaled against the reference on rows of varied scale. */
static tappa_status case_rope_prescaled(tappa_context *ctx, rng *r, int64_t h, int64_t n, int64_t d, int64_t embd,
                                        tappa_rope_params p, conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "h=%lld n=%lld d=%lld embd=%lld %s pos=%lld", (long long)h, (long long)n,
             (long long)d, (long long)embd, p.layout == TAPPA_ROPE_INTERLEAVED ? "interleaved" : "half",
             (long long)p.pos_offset);
    res->tolerance = TOL_F32;
    size_t count = (size_t)(h * n * d);
    int64_t shape[3] = { h, n, d }, rs[2] = { n, embd };
    double *x = doubles(count), *y = doubles(count), *resid = doubles((size_t)(n * embd));
    tappa_tensor *tx = NULL, *ty = NULL, *tr = NULL;
    tappa_status st = (!x || !y || !resid) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        for (size_t i = 0; i < count; i++) x[i] = rng_normal(r);
        draw_resid(r, resid, n, embd);
        st = tensor_from_doubles(ctx, TAPPA_F32, 3, shape, x, &tx, err);
    }
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 2, rs, resid, &tr, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 3, shape, &ty, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_rope_prescaled(tx, ty, &p, tr, 1e-5, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_rope_prescaled(x, y, (size_t)h, (size_t)n, (size_t)d, &p, resid, (size_t)embd, 1e-5);
        st = compare(ty, y, &res->error, err);
        res->segments = 1;
    }
    tappa_tensor_destroy(&tx);
    tappa_tensor_destroy(&ty);
    tappa_tensor_destroy(&tr);
    free(x); free(y); free(resid);
    return st;
}

/* tappa_kv_cache_append_rope after held plain rows: the layer read back
 * against those rows, then the new K rotated by the reference at
 * p.pos_offset + i (not at held + i: a compressed layer holds fewer rows than
 * its position) and the new V as given; the read poisoned first. With embd,
 * tappa_kv_cache_append_rope_prescaled: the new rows scaled by those of a
 * residual stream [t, embd] first. */
static tappa_status case_kv_append_rope(tappa_context *ctx, rng *r, tappa_dtype dt, int64_t hkv, int64_t t,
                                        int64_t d, int64_t held, int64_t embd, tappa_rope_params p,
                                        conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "hkv=%lld t=%lld d=%lld held=%lld %s pos=%lld", (long long)hkv,
             (long long)t, (long long)d, (long long)held, p.layout == TAPPA_ROPE_INTERLEAVED ? "interleaved" : "half",
             (long long)p.pos_offset);
    if (embd) {
        size_t len = strlen(res->shape);
        snprintf(res->shape + len, sizeof res->shape - len, " embd=%lld", (long long)embd);
    }
    res->tolerance = dt == TAPPA_F16 ? TOL_F16 : TOL_F32;
    int64_t n = held + t, old_s[3] = { hkv, held, d }, new_s[3] = { hkv, t, d }, all_s[3] = { hkv, n, d };
    double *old_k = doubles((size_t)(hkv * held * d)), *old_v = doubles((size_t)(hkv * held * d));
    double *k = doubles((size_t)(hkv * t * d)), *v = doubles((size_t)(hkv * t * d));
    double *rot = doubles((size_t)(hkv * t * d)), *want_k = doubles((size_t)(hkv * n * d)),
           *want_v = doubles((size_t)(hkv * n * d));
    tappa_kv_cache *cache = NULL;
    double *resid = doubles((size_t)(t * (embd ? embd : 1)));
    tappa_tensor *tok = NULL, *tov = NULL, *tk = NULL, *tv = NULL, *rk = NULL, *rv = NULL, *tr = NULL;
    tappa_status st = (!old_k || !old_v || !k || !v || !rot || !want_k || !want_v || !resid)
                          ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    for (int64_t i = 0; !st && i < hkv * held * d; i++) {
        old_k[i] = rng_normal(r);
        old_v[i] = rng_normal(r);
    }
    for (int64_t i = 0; !st && i < hkv * t * d; i++) {
        k[i] = rng_normal(r);
        v[i] = rng_normal(r);
    }
    if (!st) st = tappa_kv_cache_create(ctx, 2, hkv, n + 3, d, dt, &cache, err);
    if (!st && held) st = tensor_from_doubles(ctx, dt, 3, old_s, old_k, &tok, err);
    if (!st && held) st = tensor_from_doubles(ctx, dt, 3, old_s, old_v, &tov, err);
    if (!st && held) st = tappa_kv_cache_append(cache, 1, tok, tov, err);
    if (!st) st = tensor_from_doubles(ctx, dt, 3, new_s, k, &tk, err);
    if (!st) st = tensor_from_doubles(ctx, dt, 3, new_s, v, &tv, err);
    int64_t rs[2] = { t, embd };
    if (!st && embd) {
        draw_resid(r, resid, t, embd);
        st = tensor_from_doubles(ctx, TAPPA_F32, 2, rs, resid, &tr, err);
    }
    if (!st) {
        double t0 = clock_ms();
        st = embd ? tappa_kv_cache_append_rope_prescaled(cache, 1, tk, tv, &p, tr, 1e-5, err)
                  : tappa_kv_cache_append_rope(cache, 1, tk, tv, &p, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) st = poisoned(ctx, dt, 3, all_s, &rk, err);
    if (!st) st = poisoned(ctx, dt, 3, all_s, &rv, err);
    if (!st) st = tappa_kv_cache_read_layer(cache, 1, rk, rv, err);
    if (!st) {
        double sc[8]; /* t <= 8: the prescaled append's limit */
        for (int64_t i = 0; embd && i < t && i < 8; i++) sc[i] = tappa_ref_rms_scale(resid + i * embd, (size_t)embd, 1e-5);
        for (int64_t i = 0; embd && i < hkv * t * d; i++) {
            k[i] *= sc[(i / d) % t];
            v[i] *= sc[(i / d) % t];
        }
        tappa_ref_rope(k, rot, (size_t)hkv, (size_t)t, (size_t)d, &p);
        for (int64_t h = 0; h < hkv; h++) {
            size_t to = (size_t)(h * n * d), a = (size_t)(held * d), b = (size_t)(t * d);
            memcpy(want_k + to, old_k + h * a, a * sizeof *want_k);
            memcpy(want_v + to, old_v + h * a, a * sizeof *want_v);
            memcpy(want_k + to + a, rot + h * b, b * sizeof *want_k);
            memcpy(want_v + to + a, v + h * b, b * sizeof *want_v);
        }
        double ek, ev;
        st = compare(rk, want_k, &ek, err);
        if (!st) st = compare(rv, want_v, &ev, err);
        res->error = ek > ev || isnan(ek) ? ek : ev;
        res->segments = 1;
    }
    tappa_kv_cache_destroy(&cache);
    tappa_tensor *ts[] = { tok, tov, tk, tv, rk, rv, tr };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) tappa_tensor_destroy(&ts[i]);
    free(old_k); free(old_v); free(k); free(v); free(rot); free(want_k); free(want_v); free(resid);
    return st;
}

/* ---- qsim ---------------------------------------------------------------- */
/* Queries drift around a per-head mean direction with per-head noise, as real
 * heads do; isotropic noise would put q-similarity near 0, where a relative
 * error measures cancellation rather than the kernel. */
static void draw_queries(rng *r, double *q, int64_t h, int64_t t, int64_t d)
{
    double *mean = doubles((size_t)d);
    if (!mean) return;
    for (int64_t hh = 0; hh < h; hh++) {
        double noise = 0.2 + 1.5 * (double)hh / (double)(h > 1 ? h - 1 : 1);
        for (int64_t k = 0; k < d; k++) mean[k] = rng_normal(r);
        for (int64_t i = 0; i < t; i++)
            for (int64_t k = 0; k < d; k++)
                q[(hh * t + i) * d + k] = mean[k] + noise * rng_normal(r);
    }
    free(mean);
}

static tappa_status case_qsim(tappa_context *ctx, rng *r, tappa_dtype dt, int64_t h, int64_t t,
                              int64_t d, tappa_qsim_mode mode, conform_result *res, tappa_error *err)
{
    static const char *const names[] = { "cosine", "dot", "pearson", "euclidean", "l1", "rbf", "angular", "kl" };
    /* An RBF width on the scale of the pair distances, so weights are not all 0. */
    double sigma = mode == TAPPA_QSIM_RBF ? 2.0 * sqrt((double)d) : 1.0;
    snprintf(res->shape, sizeof res->shape, "h=%lld t=%lld d=%lld %s", (long long)h, (long long)t,
             (long long)d, names[mode]);
    res->tolerance = dt == TAPPA_F16 ? TOL_F16 : TOL_F32;
    int64_t shape[3] = { h, t, d };
    size_t count = (size_t)(h * t * d);
    double *q = doubles(count), *ref = doubles((size_t)h);
    tappa_tensor *tq = NULL, *tout = NULL;
    tappa_status st = (!q || !ref) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        draw_queries(r, q, h, t, d);
        st = tensor_from_doubles(ctx, dt, 3, shape, q, &tq, err);
    }
    if (!st) st = poisoned(ctx, TAPPA_F32, 1, &h, &tout, err);
    if (!st) {
        double t0 = clock_ms();
        st = mode == TAPPA_QSIM_RBF ? tappa_qsim_rbf(tq, tout, sigma, err) : tappa_qsim(tq, tout, mode, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_qsim(q, ref, (size_t)h, (size_t)t, (size_t)d, mode, sigma);
        st = compare(tout, ref, &res->error, err);
        res->segments = tappa_tensor_segments(tq);
    }
    tappa_tensor_destroy(&tq);
    tappa_tensor_destroy(&tout);
    free(q);
    free(ref);
    return st;
}

/* ---- window_stats -------------------------------------------------------- */
/* Without h2o: the op finds the window rows' lse itself. With h2o: the lse
 * comes from a causal prefill on the same device, as in a real compression,
 * and the column sums over all queries are checked too. */
static tappa_status case_window_stats(tappa_context *ctx, rng *r, tappa_dtype dt, int64_t hq,
                                      int64_t hkv, int64_t n, int64_t d, int64_t w, bool h2o,
                                      conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "hq=%lld hkv=%lld n=%lld d=%lld w=%lld%s",
             (long long)hq, (long long)hkv, (long long)n, (long long)d, (long long)w,
             h2o ? " h2o" : "");
    res->tolerance = dt == TAPPA_F16 ? TOL_F16 : TOL_ATTENTION_F32;
    int64_t qs[3] = { hq, n, d }, ks[3] = { hkv, n, d }, os[2] = { hq, n };
    size_t nq = (size_t)(hq * n * d), nk = (size_t)(hkv * n * d), no = (size_t)(hq * n);
    double *q = doubles(nq), *k = doubles(nk), *v = doubles(nk);
    double *mean = doubles(no), *var = doubles(no), *colsum = doubles(no), *ent = doubles(no);
    tappa_tensor *tq = NULL, *tk = NULL, *tv = NULL, *to = NULL, *tl = NULL;
    tappa_tensor *tm = NULL, *tvar = NULL, *tc = NULL, *te = NULL;
    tappa_status st = (!q || !k || !v || !mean || !var || !colsum || !ent)
                          ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        /* Scaled so logits spread over a few units: peaked but not one-hot. */
        for (size_t i = 0; i < nq; i++) q[i] = 1.5 * rng_normal(r);
        for (size_t i = 0; i < nk; i++) k[i] = rng_normal(r);
        for (size_t i = 0; i < nk; i++) v[i] = rng_normal(r);
        st = tensor_from_doubles(ctx, TAPPA_F32, 3, qs, q, &tq, err);
    }
    if (!st) st = tensor_from_doubles(ctx, dt, 3, ks, k, &tk, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, os, &tm, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, os, &tvar, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, os, &te, err);
    if (!st && h2o) {
        st = tensor_from_doubles(ctx, dt, 3, ks, v, &tv, err);
        if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 3, qs, &to, err);
        if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, os, &tl, err);
        if (!st) st = poisoned(ctx, TAPPA_F32, 2, os, &tc, err);
        if (!st) st = tappa_attention(tq, tk, tv, true, to, tl, err);
    }
    if (!st) {
        double t0 = clock_ms();
        st = tappa_window_stats(tq, tk, w, tl, tm, tvar, tc, te, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        double e[4] = { 0, 0, 0, 0 };
        tappa_ref_window_stats(q, k, mean, var, h2o ? colsum : NULL, ent, (size_t)hq, (size_t)hkv,
                               (size_t)n, (size_t)d, (size_t)w);
        st = compare(tm, mean, &e[0], err);
        if (!st) st = compare(tvar, var, &e[1], err);
        if (!st && h2o) st = compare(tc, colsum, &e[2], err);
        if (!st) st = compare(te, ent, &e[3], err);
        /* Report the worst of the outputs (NaN wins). */
        res->error = 0;
        for (int i = 0; i < 4; i++) res->error = isnan(e[i]) || e[i] > res->error ? e[i] : res->error;
        res->segments = tappa_tensor_segments(tk);
    }
    tappa_tensor *all[] = { tq, tk, tv, to, tl, tm, tvar, tc, te };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tappa_tensor_destroy(&all[i]);
    free(q); free(k); free(v); free(mean); free(var); free(colsum); free(ent);
    return st;
}

/* ---- attention ----------------------------------------------------------- */
typedef struct attention_case {
    int64_t hq, hkv, nq, nk, d;
    bool causal;
    bool cache; /* through tappa_kv_cache_append + tappa_attention_decode */
    bool rising; /* keys growing 5x along the context: the running max keeps rising */
} attention_case;

static tappa_status run_attention(tappa_context *ctx, tappa_dtype dt, const attention_case *a,
                                  double *q, double *k, double *v, tappa_tensor *tout,
                                  tappa_tensor *tlse, size_t *segments, tappa_error *err)
{
    int64_t qs[3] = { a->hq, a->nq, a->d }, ks[3] = { a->hkv, a->nk, a->d };
    tappa_tensor *tq = NULL, *tk = NULL, *tv = NULL;
    tappa_kv_cache *cache = NULL;
    tappa_status st = tensor_from_doubles(ctx, TAPPA_F32, 3, qs, q, &tq, err);
    if (!st) st = tensor_from_doubles(ctx, dt, 3, ks, k, &tk, err);
    if (!st) st = tensor_from_doubles(ctx, dt, 3, ks, v, &tv, err);
    if (!st && !a->cache) {
        st = tappa_attention(tq, tk, tv, a->causal, tout, tlse, err);
        *segments = tappa_tensor_segments(tk);
    } else if (!st) {
        /* A cache with spare capacity, filled by an append: decode must read
         * only the first length positions of each head. */
        st = tappa_kv_cache_create(ctx, 2, a->hkv, a->nk + 5, a->d, dt, &cache, err);
        if (!st) st = tappa_kv_cache_append(cache, 1, tk, tv, err);
        if (!st) st = tappa_attention_decode(tq, cache, 1, tout, tlse, err);
        if (!st) *segments = tappa_tensor_segments(tappa_kv_cache_keys(cache, 1));
    }
    tappa_kv_cache_destroy(&cache);
    tappa_tensor_destroy(&tq);
    tappa_tensor_destroy(&tk);
    tappa_tensor_destroy(&tv);
    return st;
}

static tappa_status case_attention(tappa_context *ctx, rng *r, tappa_dtype dt,
                                   const attention_case *a, conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "hq=%lld hkv=%lld nq=%lld nk=%lld d=%lld%s%s%s",
             (long long)a->hq, (long long)a->hkv, (long long)a->nq, (long long)a->nk,
             (long long)a->d, a->causal ? " causal" : "", a->cache ? " cache" : "", a->rising ? " rising" : "");
    res->tolerance = dt == TAPPA_F16 ? TOL_F16 : TOL_ATTENTION_F32;
    size_t nqe = (size_t)(a->hq * a->nq * a->d), nke = (size_t)(a->hkv * a->nk * a->d);
    int64_t os[3] = { a->hq, a->nq, a->d }, ls[2] = { a->hq, a->nq };
    double *q = doubles(nqe), *k = doubles(nke), *v = doubles(nke);
    double *out = doubles(nqe), *lse = doubles((size_t)(a->hq * a->nq));
    tappa_tensor *tout = NULL, *tlse = NULL;
    tappa_status st = (!q || !k || !v || !out || !lse)
                          ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        /* Logits spread over a few units, like trained heads: peaked, not one-hot. */
        for (size_t i = 0; i < nqe; i++) q[i] = 1.5 * rng_normal(r);
        for (size_t i = 0; i < nke; i++) k[i] = rng_normal(r);
        /* Logits up to about 30 at the end: a kernel that keeps its sums
         * against a stale maximum, or rescales them wrongly as the maximum
         * rises, fails here. */
        if (a->rising)
            for (size_t i = 0; i < nke; i++) k[i] *= 1.0 + 4.0 * (double)((i / (size_t)a->d) % (size_t)a->nk) / (double)a->nk;
        for (size_t i = 0; i < nke; i++) v[i] = rng_normal(r);
        st = poisoned(ctx, TAPPA_F32, 3, os, &tout, err);
    }
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, ls, &tlse, err);
    if (!st) {
        double t0 = clock_ms();
        st = run_attention(ctx, dt, a, q, k, v, tout, tlse, &res->segments, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        double e_out, e_lse;
        tappa_ref_attention(q, k, v, out, lse, (size_t)a->hq, (size_t)a->hkv, (size_t)a->nq,
                            (size_t)a->nk, (size_t)a->d, a->causal || a->cache);
        st = compare(tout, out, &e_out, err);
        if (!st) st = compare(tlse, lse, &e_lse, err);
        res->error = isnan(e_out) || isnan(e_lse) ? NAN : e_out > e_lse ? e_out : e_lse;
    }
    tappa_tensor_destroy(&tout);
    tappa_tensor_destroy(&tlse);
    free(q);
    free(k);
    free(v);
    free(out);
    free(lse);
    return st;
}

/* ---- token_scores -------------------------------------------------------- */
/* Window means and variances on their real scales (weights of about 1/N, a
 * small variance), pooled and averaged per KV head; snapkv scales the mean by
 * W and drops the variance. */
static tappa_status case_token_scores(tappa_context *ctx, rng *r, int64_t hq, int64_t hkv,
                                      int64_t n, int64_t w, int64_t kernel, bool snapkv,
                                      conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "hq=%lld hkv=%lld n=%lld w=%lld k=%lld %s", (long long)hq,
             (long long)hkv, (long long)n, (long long)w, (long long)kernel, snapkv ? "snapkv" : "tappa");
    res->tolerance = TOL_F32;
    int64_t shape[2] = { hq, n }, os[2] = { hkv, n - w };
    size_t count = (size_t)(hq * n);
    double *a = doubles(count), *b = doubles(count), *ref = doubles((size_t)(hkv * (n - w)));
    tappa_tensor *ta = NULL, *tb = NULL, *to = NULL;
    double a_scale = snapkv ? (double)w : 1.0, gamma = snapkv ? 0.0 : 200.0;
    tappa_status st = (!a || !b || !ref) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        for (size_t i = 0; i < count; i++) a[i] = rng_uniform(r, 0, 2.0 / (double)n);
        for (size_t i = 0; i < count; i++) b[i] = rng_uniform(r, 0, 1e-3 / (double)n);
        st = tensor_from_doubles(ctx, TAPPA_F32, 2, shape, a, &ta, err);
    }
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 2, shape, b, &tb, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, os, &to, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_token_scores(ta, tb, a_scale, gamma, w, kernel, to, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_token_scores(a, b, a_scale, gamma, (size_t)hq, (size_t)hkv, (size_t)n, (size_t)w,
                               (size_t)kernel, ref);
        st = compare(to, ref, &res->error, err);
        res->segments = tappa_tensor_segments(ta);
    }
    tappa_tensor_destroy(&ta);
    tappa_tensor_destroy(&tb);
    tappa_tensor_destroy(&to);
    free(a);
    free(b);
    free(ref);
    return st;
}

/* ---- topk ------------------------------------------------------------------ */
/* Kept positions must equal the reference's exactly: both rank the same f32
 * scores, ties towards the lower position. variant 1 draws scores from 7
 * levels (many ties at the threshold), variant 2 makes them all equal. The
 * error is the fraction of kept positions that differ. */
static tappa_status case_topk(tappa_context *ctx, rng *r, int64_t rows, int64_t m, int64_t k,
                              int variant, conform_result *res, tappa_error *err)
{
    static const char *const kinds[] = { "distinct", "7 levels", "all equal" };
    snprintf(res->shape, sizeof res->shape, "rows=%lld m=%lld k=%lld %s", (long long)rows,
             (long long)m, (long long)k, kinds[variant]);
    res->tolerance = 0;
    int64_t ss[2] = { rows, m }, ks[2] = { rows, k };
    size_t count = (size_t)(rows * m), kept = (size_t)(rows * k);
    double *s = doubles(count);
    int32_t *ref = malloc(kept * sizeof *ref), *got = malloc(kept * sizeof *got);
    tappa_tensor *ts = NULL, *tk = NULL;
    tappa_status st = (!s || !ref || !got) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        /* Pooled scores are positive and small, about 1 / N. */
        for (size_t i = 0; i < count; i++)
            s[i] = variant == 2 ? 0.25 : variant == 1 ? (double)(rng_next(r) % 7) / 64.0
                                                      : rng_uniform(r, 0, 2.0 / (double)m);
        st = tensor_from_doubles(ctx, TAPPA_F32, 2, ss, s, &ts, err);
    }
    if (!st) st = tappa_tensor_create(ctx, TAPPA_I32, 2, ks, &tk, err);
    if (!st) st = tappa_tensor_fill_bits(tk, 0xffffffffu, err); /* -1: no position */
    if (!st) {
        double t0 = clock_ms();
        st = tappa_topk_positions(ts, k, tk, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) st = tappa_tensor_download(tk, got, kept * sizeof *got, err);
    if (!st) {
        tappa_ref_topk_positions(s, (size_t)rows, (size_t)m, (size_t)k, ref);
        size_t wrong = 0;
        for (size_t i = 0; i < kept; i++) wrong += got[i] != ref[i];
        res->error = (double)wrong / (double)kept;
        res->segments = tappa_tensor_segments(ts);
    }
    tappa_tensor_destroy(&ts);
    tappa_tensor_destroy(&tk);
    free(s);
    free(ref);
    free(got);
    return st;
}

/* ---- kv_compact ------------------------------------------------------------ */
/* Rows of random K copied to a poisoned cache-layout tensor by a random sorted
 * set of kept positions plus the window; a copy must be exact (error 0). */
static tappa_status case_kv_compact(tappa_context *ctx, rng *r, tappa_dtype dt, int64_t heads,
                                    int64_t n, int64_t d, int64_t b, int64_t w,
                                    conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "heads=%lld n=%lld d=%lld b=%lld w=%lld", (long long)heads,
             (long long)n, (long long)d, (long long)b, (long long)w);
    res->tolerance = 0;
    int64_t ss[3] = { heads, n, d }, ds[3] = { heads, b + w, d }, ks[2] = { heads, b };
    size_t count = (size_t)(heads * n * d), out = (size_t)(heads * (b + w) * d);
    double *src = doubles(count), *ref = doubles(out);
    int32_t *keep = malloc((size_t)(heads * b + 1) * sizeof *keep);
    tappa_tensor *ts = NULL, *tk = NULL, *td = NULL;
    tappa_status st = (!src || !ref || !keep) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        for (size_t i = 0; i < count; i++) src[i] = rng_normal(r);
        /* Selection sampling: b of the n - w positions, in ascending order. */
        for (int64_t h = 0; h < heads; h++) {
            int64_t chosen = 0;
            for (int64_t j = 0; j < n - w && chosen < b; j++)
                if ((double)(rng_next(r) % (uint64_t)(n - w - j)) < (double)(b - chosen))
                    keep[h * b + chosen++] = (int32_t)j;
        }
        st = tensor_from_doubles(ctx, dt, 3, ss, src, &ts, err);
    }
    if (!st && b) st = tappa_tensor_create(ctx, TAPPA_I32, 2, ks, &tk, err);
    if (!st && b) st = tappa_tensor_upload(tk, keep, (size_t)(heads * b) * sizeof *keep, err);
    if (!st) st = poisoned(ctx, dt, 3, ds, &td, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_kv_compact(ts, tk, w, td, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        for (int64_t h = 0; h < heads; h++)
            for (int64_t i = 0; i < b + w; i++) {
                int64_t row = i < b ? keep[h * b + i] : n - w + (i - b);
                memcpy(ref + (size_t)((h * (b + w) + i) * d), src + (size_t)((h * n + row) * d),
                       (size_t)d * sizeof *ref);
            }
        st = compare(td, ref, &res->error, err);
        res->segments = tappa_tensor_segments(ts);
    }
    tappa_tensor_destroy(&ts);
    tappa_tensor_destroy(&tk);
    tappa_tensor_destroy(&td);
    free(src);
    free(ref);
    free(keep);
    return st;
}

/* ---- row_sums -------------------------------------------------------------- */
static tappa_status case_row_sums(tappa_context *ctx, rng *r, int64_t rows, int64_t stride,
                                  int64_t cols, conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "rows=%lld stride=%lld cols=%lld", (long long)rows,
             (long long)stride, (long long)cols);
    res->tolerance = TOL_F32;
    int64_t xs[2] = { rows, stride }, os[1] = { rows };
    size_t count = (size_t)(rows * stride);
    double *x = doubles(count), *ref = doubles((size_t)rows);
    tappa_tensor *tx = NULL, *to = NULL;
    tappa_status st = (!x || !ref) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        /* Non-negative like the entropies and variances it sums. */
        for (size_t i = 0; i < count; i++) x[i] = rng_uniform(r, 0, 1);
        st = tensor_from_doubles(ctx, TAPPA_F32, 2, xs, x, &tx, err);
    }
    if (!st) st = poisoned(ctx, TAPPA_F32, 1, os, &to, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_row_sums(tx, cols, to, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_row_sums(x, (size_t)rows, (size_t)stride, (size_t)cols, ref);
        st = compare(to, ref, &res->error, err);
        res->segments = tappa_tensor_segments(tx);
    }
    tappa_tensor_destroy(&tx);
    tappa_tensor_destroy(&to);
    free(x);
    free(ref);
    return st;
}

/* ---- attention_rows -------------------------------------------------------- */
static tappa_status case_attention_rows(tappa_context *ctx, rng *r, tappa_dtype dt, int64_t hq,
                                        int64_t hkv, int64_t n, int64_t d, int64_t rows,
                                        conform_result *res, tappa_error *err)
{
    int64_t row0 = n - rows; /* the last rows, as tappa patterns takes them */
    snprintf(res->shape, sizeof res->shape, "hq=%lld hkv=%lld n=%lld d=%lld rows=%lld", (long long)hq,
             (long long)hkv, (long long)n, (long long)d, (long long)rows);
    res->tolerance = dt == TAPPA_F16 ? TOL_F16 : TOL_ATTENTION_F32;
    int64_t qs[3] = { hq, n, d }, ks[3] = { hkv, n, d }, os[3] = { hq, rows, n };
    size_t nq = (size_t)(hq * n * d), nk = (size_t)(hkv * n * d), no = (size_t)(hq * rows * n);
    double *q = doubles(nq), *k = doubles(nk), *ref = doubles(no);
    tappa_tensor *tq = NULL, *tk = NULL, *to = NULL;
    tappa_status st = (!q || !k || !ref) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        /* Logits over a few units: peaked rows, not one-hot ones. */
        for (size_t i = 0; i < nq; i++) q[i] = 1.5 * rng_normal(r);
        for (size_t i = 0; i < nk; i++) k[i] = rng_normal(r);
        st = tensor_from_doubles(ctx, TAPPA_F32, 3, qs, q, &tq, err);
    }
    if (!st) st = tensor_from_doubles(ctx, dt, 3, ks, k, &tk, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 3, os, &to, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_attention_rows(tq, tk, row0, to, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_attention_rows(q, k, ref, (size_t)hq, (size_t)hkv, (size_t)n, (size_t)d, (size_t)row0,
                                 (size_t)rows);
        st = compare(to, ref, &res->error, err);
        res->segments = tappa_tensor_segments(tk);
    }
    tappa_tensor_destroy(&tq);
    tappa_tensor_destroy(&tk);
    tappa_tensor_destroy(&to);
    free(q);
    free(k);
    free(ref);
    return st;
}

/* ---- pattern_profiles ------------------------------------------------------ */
/* Rows like attention's: causal (0 past each row's position), each a softmax
 * of random logits, so they sum to 1. */
static tappa_status case_pattern_profiles(tappa_context *ctx, rng *r, int64_t heads, int64_t s, int64_t n,
                                          conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "heads=%lld rows=%lld n=%lld", (long long)heads, (long long)s,
             (long long)n);
    res->tolerance = TOL_F32;
    int64_t rs[3] = { heads, s, n }, ps[2] = { heads, n }, qs[2] = { heads, s };
    size_t nr = (size_t)(heads * s * n), np = (size_t)(heads * n), nq = (size_t)(heads * s);
    double *rows = doubles(nr), *col = doubles(np), *off = doubles(np), *pred = doubles(nq);
    tappa_tensor *tr = NULL, *tc = NULL, *to = NULL, *tp = NULL;
    tappa_status st = (!rows || !col || !off || !pred) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory")
                                                      : TAPPA_OK;
    if (!st) {
        for (int64_t i = 0; i < heads * s; i++) {
            int64_t p = n - s + i % s;
            double *a = rows + i * n, sum = 0;
            for (int64_t j = 0; j < n; j++) sum += (a[j] = j <= p ? exp(2 * rng_normal(r)) : 0);
            for (int64_t j = 0; j <= p; j++) a[j] /= sum;
        }
        st = tensor_from_doubles(ctx, TAPPA_F32, 3, rs, rows, &tr, err);
    }
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, ps, &tc, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, ps, &to, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, qs, &tp, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_pattern_profiles(tr, tc, to, tp, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        double e[3] = { 0, 0, 0 };
        tappa_ref_pattern_profiles(rows, (size_t)heads, (size_t)s, (size_t)n, col, off, pred);
        st = compare(tc, col, &e[0], err);
        if (!st) st = compare(to, off, &e[1], err);
        if (!st) st = compare(tp, pred, &e[2], err);
        res->error = fmax(e[0], fmax(e[1], e[2]));
        res->segments = tappa_tensor_segments(tr);
    }
    tappa_tensor_destroy(&tr);
    tappa_tensor_destroy(&tc);
    tappa_tensor_destroy(&to);
    tappa_tensor_destroy(&tp);
    free(rows);
    free(col);
    free(off);
    free(pred);
    return st;
}

/* ---- rope_energy ----------------------------------------------------------- */
static tappa_status case_rope_energy(tappa_context *ctx, rng *r, tappa_dtype dt, int64_t hq, int64_t hkv, int64_t n,
                                     int64_t d, bool interleaved, conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "hq=%lld hkv=%lld n=%lld d=%lld %s", (long long)hq, (long long)hkv,
             (long long)n, (long long)d, interleaved ? "interleaved" : "half");
    res->tolerance = dt == TAPPA_F16 ? TOL_F16 : TOL_F32;
    int64_t qs[3] = { hq, n, d }, ks[3] = { hkv, n, d }, os[2] = { hq, d / 2 };
    size_t nq = (size_t)(hq * n * d), nk = (size_t)(hkv * n * d), no = (size_t)(hq * (d / 2));
    double *q = doubles(nq), *k = doubles(nk), *ref = doubles(no);
    tappa_tensor *tq = NULL, *tk = NULL, *to = NULL;
    tappa_status st = (!q || !k || !ref) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        /* Pairs of different sizes, so the shares differ. */
        for (size_t i = 0; i < nq; i++) q[i] = rng_normal(r) * (1 + (double)(i % (size_t)d) / 8);
        for (size_t i = 0; i < nk; i++) k[i] = rng_normal(r);
        st = tensor_from_doubles(ctx, TAPPA_F32, 3, qs, q, &tq, err);
    }
    if (!st) st = tensor_from_doubles(ctx, dt, 3, ks, k, &tk, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, os, &to, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_rope_energy(tq, tk, interleaved ? TAPPA_ROPE_INTERLEAVED : TAPPA_ROPE_HALF, to, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_rope_energy(q, k, (size_t)hq, (size_t)hkv, (size_t)n, (size_t)d, interleaved, ref);
        st = compare(to, ref, &res->error, err);
        res->segments = tappa_tensor_segments(tk);
    }
    tappa_tensor_destroy(&tq);
    tappa_tensor_destroy(&tk);
    tappa_tensor_destroy(&to);
    free(q);
    free(k);
    free(ref);
    return st;
}

/* ---- block_influence ------------------------------------------------------ */
/* Hidden states leaving a layer are the ones entering it plus a smaller update,
 * as in a residual stream (so 1 - cos is small and cancellation would show);
 * row 0 of h_in is zero and row 2 of h_out holds an infinity (both NaN
 * cosines: 0.5), and row 1 of h_out is a scaled copy of h_in (influence 0). */
static tappa_status case_block_influence(tappa_context *ctx, rng *r, tappa_dtype dt, int64_t n,
                                         int64_t dm, conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "n=%lld d_model=%lld", (long long)n, (long long)dm);
    res->tolerance = dt == TAPPA_F16 ? TOL_F16 : TOL_F32;
    int64_t hs[2] = { n, dm }, os[1] = { n };
    size_t count = (size_t)(n * dm);
    double *a = doubles(count), *b = doubles(count), *ref = doubles((size_t)n);
    tappa_tensor *ta = NULL, *tb = NULL, *to = NULL;
    tappa_status st = (!a || !b || !ref) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        for (int64_t t = 0; t < n; t++) {
            double step = rng_uniform(r, 0.02, 0.5); /* update size relative to the state */
            for (int64_t i = 0; i < dm; i++) {
                size_t e = (size_t)(t * dm + i);
                a[e] = t == 0 ? 0.0 : rng_uniform(r, -2, 2);
                b[e] = t == 1 ? 1.5 * a[e] : a[e] + step * rng_uniform(r, -2, 2);
            }
            if (t == 2) b[(size_t)(t * dm)] = INFINITY;
        }
        st = tensor_from_doubles(ctx, dt, 2, hs, a, &ta, err);
    }
    if (!st) st = tensor_from_doubles(ctx, dt, 2, hs, b, &tb, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 1, os, &to, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_block_influence(ta, tb, to, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_block_influence(a, b, (size_t)n, (size_t)dm, ref);
        st = compare(to, ref, &res->error, err);
        res->segments = tappa_tensor_segments(ta);
    }
    tappa_tensor_destroy(&ta);
    tappa_tensor_destroy(&tb);
    tappa_tensor_destroy(&to);
    free(a);
    free(b);
    free(ref);
    return st;
}

/* ---- matvec ---------------------------------------------------------------- */
/* Weights drawn, stored in the ggml type, and the reference run on the values
 * the type holds (dequantised), so only the arithmetic differs. variant bit 0:
 * a bias; bit 1: accumulate into y (filled with values, not poison). */
/* A [rows, cols] matrix of type t from normal values (sd 0.05), and into w
 * (rows * cols doubles) the values it holds after quantisation. */
static tappa_status random_matrix(tappa_context *ctx, rng *r, tappa_ggml_type t, int64_t rows, int64_t cols, double *w,
                                  tappa_matrix **m, tappa_error *err)
{
    size_t n = (size_t)(rows * cols);
    float *wf = malloc(n * sizeof *wf);
    void *packed = malloc(tappa_ggml_bytes(t, n) + 1);
    tappa_status st = wf && packed ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (!st) {
        for (size_t i = 0; i < n; i++) wf[i] = (float)rng_normal(r) * 0.05f;
        quant_from_f32(t, wf, n, packed);
        quant_to_f32(t, packed, n, wf);
        for (size_t i = 0; i < n; i++) w[i] = wf[i];
        st = tappa_matrix_create(ctx, t, rows, cols, packed, m, err);
    }
    free(wf);
    free(packed);
    return st;
}

/* The tensor-core path (matvec_coopmat.comp) multiplies x rounded to f16,
 * x_c (1 + d_c) with |d_c| <= 2^-11 (2^-10 if the device rounds toward zero),
 * so an output moves by sum_c w_c x_c d_c. Term by term that is at most 2^-11
 * sum_c |w_c x_c|, which for these inputs is 2^-11 (2 / pi) sqrt(cols) |y|:
 * 2e-2 relative at 4096 columns, some 70 times what the rounding does. The
 * d_c are independent and of either sign, so the normalised error over all
 * outputs is about their rms weighted by (w_c x_c)^2: at most 2^-11 / sqrt(3)
 * = 2.8e-4 (5.6e-4 rounding toward zero), plus f32 accumulation. SPEC.md's
 * tier for f16 storage with f32 accumulation, 2e-3, holds that with a margin
 * of 3.5 or more; the portable path keeps 1e-5. */
static double matvec_tolerance(const tvk_device *dev, uint64_t coopmat_before)
{
    return dev && dev->coopmat_dispatches != coopmat_before ? TOL_F16 : TOL_F32;
}

static tappa_status case_matvec(tappa_context *ctx, rng *r, int64_t type, int64_t rows, int64_t cols,
                                int64_t tokens, int variant, conform_result *res, tappa_error *err)
{
    tappa_ggml_type t = (tappa_ggml_type)type;
    bool with_bias = variant & 1, acc = variant & 2;
    snprintf(res->shape, sizeof res->shape, "%s %lldx%lld t=%lld%s%s", tappa_ggml_type_name(t), (long long)rows,
             (long long)cols, (long long)tokens, with_bias ? " bias" : "", acc ? " +=" : "");
    tvk_device *dev = ctx->vk;
    uint64_t coopmat_before = dev ? dev->coopmat_dispatches : 0;
    double *w = doubles((size_t)(rows * cols)), *x = doubles((size_t)(tokens * cols)), *b = doubles((size_t)rows),
           *y = doubles((size_t)(tokens * rows));
    tappa_matrix *m = NULL;
    tappa_tensor *tx = NULL, *tb = NULL, *ty = NULL;
    tappa_status st = (!w || !x || !b || !y) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        for (int64_t i = 0; i < tokens * cols; i++) x[i] = rng_normal(r);
        for (int64_t i = 0; i < rows; i++) b[i] = rng_normal(r);
        for (int64_t i = 0; i < tokens * rows; i++) y[i] = rng_normal(r);
        st = random_matrix(ctx, r, t, rows, cols, w, &m, err);
    }
    int64_t xs[2] = { tokens, cols }, ys[2] = { tokens, rows };
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 2, xs, x, &tx, err);
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 1, &rows, b, &tb, err);
    if (!st) st = acc ? tensor_from_doubles(ctx, TAPPA_F32, 2, ys, y, &ty, err) : poisoned(ctx, TAPPA_F32, 2, ys, &ty, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_matvec(m, tx, with_bias ? tb : NULL, acc, ty, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_matvec(w, (size_t)rows, (size_t)cols, x, (size_t)tokens, with_bias ? b : NULL, acc, y);
        st = compare(ty, y, &res->error, err);
        res->segments = 1;
    }
    res->tolerance = matvec_tolerance(dev, coopmat_before);
    tappa_matrix_destroy(&m);
    tappa_tensor_destroy(&tx);
    tappa_tensor_destroy(&tb);
    tappa_tensor_destroy(&ty);
    free(w); free(x); free(b); free(y);
    return st;
}

/* tappa_matvec_norm_out: y += W x against the reference, and h = y *
 * weight, both read back (h poisoned first, y random). */
static tappa_status case_matvec_norm_out(tappa_context *ctx, rng *r, int64_t type, int64_t rows, int64_t cols,
                                         int64_t tokens, conform_result *res, tappa_error *err)
{
    tappa_ggml_type t = (tappa_ggml_type)type;
    snprintf(res->shape, sizeof res->shape, "%s %lldx%lld t=%lld", tappa_ggml_type_name(t), (long long)rows,
             (long long)cols, (long long)tokens);
    size_t n = (size_t)(tokens * rows);
    double *w = doubles((size_t)(rows * cols)), *x = doubles((size_t)(tokens * cols)), *g = doubles((size_t)rows),
           *y = doubles(n), *h = doubles(n);
    tappa_matrix *m = NULL;
    tappa_tensor *tx = NULL, *tg = NULL, *ty = NULL, *th = NULL;
    tappa_status st = (!w || !x || !g || !y || !h) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory")
                                                   : TAPPA_OK;
    if (!st) {
        for (int64_t i = 0; i < tokens * cols; i++) x[i] = rng_normal(r);
        for (int64_t i = 0; i < rows; i++) g[i] = rng_uniform(r, 0.5, 1.5);
        for (size_t i = 0; i < n; i++) y[i] = rng_normal(r);
        st = random_matrix(ctx, r, t, rows, cols, w, &m, err);
    }
    int64_t xs[2] = { tokens, cols }, ys[2] = { tokens, rows };
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 2, xs, x, &tx, err);
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 1, &rows, g, &tg, err);
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 2, ys, y, &ty, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, ys, &th, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_matvec_norm_out(m, tx, ty, tg, th, err);
        res->ms = clock_ms() - t0;
    }
    double ey = 0, eh = 0;
    if (!st) {
        tappa_ref_matvec(w, (size_t)rows, (size_t)cols, x, (size_t)tokens, NULL, true, y);
        for (size_t i = 0; i < n; i++) h[i] = y[i] * g[i % (size_t)rows];
        st = compare(ty, y, &ey, err);
    }
    if (!st) st = compare(th, h, &eh, err);
    if (!st) {
        res->error = ey > eh || ey != ey ? ey : eh; /* NaN in either fails */
        res->segments = 1;
    }
    res->tolerance = TOL_F32;
    tappa_matrix_destroy(&m);
    tappa_tensor_destroy(&tx);
    tappa_tensor_destroy(&tg);
    tappa_tensor_destroy(&ty);
    tappa_tensor_destroy(&th);
    free(w); free(x); free(g); free(y); free(h);
    return st;
}

/* tappa_matvec_swiglu against the reference's two products and SwiGLU. */
static tappa_status case_matvec_swiglu(tappa_context *ctx, rng *r, int64_t type, int64_t rows, int64_t cols,
                                       int64_t tokens, conform_result *res, tappa_error *err)
{
    tappa_ggml_type t = (tappa_ggml_type)type;
    snprintf(res->shape, sizeof res->shape, "%s %lldx%lld t=%lld", tappa_ggml_type_name(t), (long long)rows,
             (long long)cols, (long long)tokens);
    tvk_device *dev = ctx->vk;
    uint64_t coopmat_before = dev ? dev->coopmat_dispatches : 0;
    size_t n = (size_t)(tokens * rows);
    double *wg = doubles((size_t)(rows * cols)), *wu = doubles((size_t)(rows * cols)),
           *x = doubles((size_t)(tokens * cols)), *g = doubles(n), *u = doubles(n);
    tappa_matrix *mg = NULL, *mu = NULL;
    tappa_tensor *tx = NULL, *ty = NULL;
    tappa_status st = (!wg || !wu || !x || !g || !u) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory")
                                                     : TAPPA_OK;
    /* Inputs of sd 1 against weights of sd 0.05: gate values of sd
     * 0.05 sqrt(cols), so SwiGLU sees both signs well past its knee. */
    for (int64_t i = 0; !st && i < tokens * cols; i++) x[i] = rng_normal(r);
    if (!st) st = random_matrix(ctx, r, t, rows, cols, wg, &mg, err);
    if (!st) st = random_matrix(ctx, r, t, rows, cols, wu, &mu, err);
    int64_t xs[2] = { tokens, cols }, ys[2] = { tokens, rows };
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 2, xs, x, &tx, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, ys, &ty, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_matvec_swiglu(mg, mu, tx, ty, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_matvec(wg, (size_t)rows, (size_t)cols, x, (size_t)tokens, NULL, false, g);
        tappa_ref_matvec(wu, (size_t)rows, (size_t)cols, x, (size_t)tokens, NULL, false, u);
        tappa_ref_swiglu(g, u, n, g);
        st = compare(ty, g, &res->error, err);
        res->segments = 1;
    }
    res->tolerance = matvec_tolerance(dev, coopmat_before);
    tappa_matrix_destroy(&mg);
    tappa_matrix_destroy(&mu);
    tappa_tensor_destroy(&tx);
    tappa_tensor_destroy(&ty);
    free(wg); free(wu); free(x); free(g); free(u);
    return st;
}

/* ---- rmsnorm, swiglu ----------------------------------------------------- */
static tappa_status case_rmsnorm(tappa_context *ctx, rng *r, int64_t rows, int64_t n, conform_result *res,
                                 tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "rows=%lld n=%lld", (long long)rows, (long long)n);
    res->tolerance = TOL_F32;
    int64_t xs[2] = { rows, n };
    double *x = doubles((size_t)(rows * n)), *w = doubles((size_t)n), *y = doubles((size_t)(rows * n));
    tappa_tensor *tx = NULL, *tw = NULL, *ty = NULL;
    tappa_status st = (!x || !w || !y) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        for (int64_t i = 0; i < rows * n; i++) x[i] = rng_normal(r) * (1 + i % 7); /* rows of varied scale */
        for (int64_t i = 0; i < n; i++) w[i] = rng_uniform(r, 0.5, 1.5);
        st = tensor_from_doubles(ctx, TAPPA_F32, 2, xs, x, &tx, err);
    }
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 1, &n, w, &tw, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, xs, &ty, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_rmsnorm(tx, tw, 1e-5, ty, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_rmsnorm(x, w, (size_t)rows, (size_t)n, 1e-5, y);
        st = compare(ty, y, &res->error, err);
        res->segments = 1;
    }
    tappa_tensor_destroy(&tx);
    tappa_tensor_destroy(&tw);
    tappa_tensor_destroy(&ty);
    free(x); free(w); free(y);
    return st;
}

static tappa_status case_swiglu(tappa_context *ctx, rng *r, int64_t n, conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "n=%lld", (long long)n);
    res->tolerance = TOL_F32;
    double *g = doubles((size_t)n), *u = doubles((size_t)n), *o = doubles((size_t)n);
    tappa_tensor *tg = NULL, *tu = NULL, *to = NULL;
    tappa_status st = (!g || !u || !o) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    if (!st) {
        for (int64_t i = 0; i < n; i++) {
            g[i] = rng_normal(r) * 4; /* both tails of the sigmoid */
            u[i] = rng_normal(r);
        }
        st = tensor_from_doubles(ctx, TAPPA_F32, 1, &n, g, &tg, err);
    }
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 1, &n, u, &tu, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 1, &n, &to, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_swiglu(tg, tu, to, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_swiglu(g, u, (size_t)n, o);
        st = compare(to, o, &res->error, err);
        res->segments = 1;
    }
    tappa_tensor_destroy(&tg);
    tappa_tensor_destroy(&tu);
    tappa_tensor_destroy(&to);
    free(g); free(u); free(o);
    return st;
}

/* tappa_swiglu_prescaled: rows of x at varied scales (so a missing or
 * misplaced per-token scale fails), gate in both tails of the sigmoid. */
static tappa_status case_swiglu_prescaled(tappa_context *ctx, rng *r, int64_t tokens, int64_t n, int64_t embd,
                                          conform_result *res, tappa_error *err)
{
    snprintf(res->shape, sizeof res->shape, "t=%lld n=%lld embd=%lld", (long long)tokens, (long long)n, (long long)embd);
    res->tolerance = TOL_F32;
    size_t gn = (size_t)(tokens * n), xn = (size_t)(tokens * embd);
    double *g = doubles(gn), *u = doubles(gn), *x = doubles(xn), *o = doubles(gn);
    tappa_tensor *tg = NULL, *tu = NULL, *tx = NULL, *to = NULL;
    tappa_status st = (!g || !u || !x || !o) ? tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory") : TAPPA_OK;
    int64_t gs[2] = { tokens, n }, xs[2] = { tokens, embd };
    if (!st) {
        for (size_t i = 0; i < gn; i++) {
            g[i] = rng_normal(r) * 4;
            u[i] = rng_normal(r);
        }
        draw_resid(r, x, tokens, embd);
        st = tensor_from_doubles(ctx, TAPPA_F32, 2, gs, g, &tg, err);
    }
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 2, gs, u, &tu, err);
    if (!st) st = poisoned(ctx, TAPPA_F32, 2, gs, &to, err);
    if (!st) st = tensor_from_doubles(ctx, TAPPA_F32, 2, xs, x, &tx, err);
    if (!st) {
        double t0 = clock_ms();
        st = tappa_swiglu_prescaled(tg, tu, tx, 1e-5, to, err);
        res->ms = clock_ms() - t0;
    }
    if (!st) {
        tappa_ref_swiglu_prescaled(g, u, x, (size_t)tokens, (size_t)n, (size_t)embd, 1e-5, o);
        st = compare(to, o, &res->error, err);
        res->segments = 1;
    }
    tappa_tensor_destroy(&tg);
    tappa_tensor_destroy(&tu);
    tappa_tensor_destroy(&tx);
    tappa_tensor_destroy(&to);
    free(g); free(u); free(x); free(o);
    return st;
}

/* ---- the case table ------------------------------------------------------ */
typedef struct conform_case {
    const char *op;
    tappa_dtype dtype;
    int64_t a, b, c, d, e; /* the op's dimensions, in the order its function takes them */
    tappa_rope_params rope;
    int variant; /* qsim: its tappa_qsim_mode; window_stats: 1 = with h2o sums; token_scores: 1 = snapkv;
                    topk: score kind (case_topk) */
    bool large;
    attention_case attn;
} conform_case;

/* Llama-3-style divisors for D = 16: short wavelengths kept, long ones divided by 4. */
static const float llama3_divisors[8] = { 1, 1, 1, 1.3f, 2.2f, 3.6f, 4, 4 };
#define HALF(base, pos) { TAPPA_ROPE_HALF, base, pos, NULL, 1 }
#define INTER(base, pos) { TAPPA_ROPE_INTERLEAVED, base, pos, NULL, 1 }

/* Reference and odd shapes of SPEC.md, scaled so lavapipe runs them all in
 * seconds; both dtypes where the op takes them. */
static const conform_case cases[] = {
    { "copy", TAPPA_F32, 1000003, 0, 0, 0, 0, { 0 }, 0, false, { 0 } },
    { "copy", TAPPA_F32, 4 << 20, 0, 0, 0, 0, { 0 }, 0, false, { 0 } },
#define SOFTMAX(dt)                                                              \
    { "softmax", dt, 1, 1, 0, 0, 0, { 0 }, 0, false, { 0 } },                           \
    { "softmax", dt, 7, 33, 0, 0, 0, { 0 }, 0, false, { 0 } },                          \
    { "softmax", dt, 64, 1000, 0, 0, 0, { 0 }, 0, false, { 0 } },                       \
    { "softmax", dt, 3, 4097, 0, 0, 0, { 0 }, 0, false, { 0 } },                        \
    { "softmax", dt, 4096, 128, 0, 0, 0, { 0 }, 0, false, { 0 } }
    SOFTMAX(TAPPA_F32),
    SOFTMAX(TAPPA_F16),
    /* 9000 x 4096 f32 = 141 MiB: above the 128 MiB binding minimum. */
    { "softmax", TAPPA_F32, 9000, 4096, 0, 0, 0, { 0 }, 0, true, { 0 } },
#define ROPE(dt)                                                                 \
    { "rope", dt, 1, 1, 64, 0, 0, HALF(10000, 0), 0, false, { 0 } },                    \
    { "rope", dt, 4, 37, 64, 0, 0, INTER(10000, 0), 0, false, { 0 } },                  \
    { "rope", dt, 3, 50, 16, 0, 0, { TAPPA_ROPE_INTERLEAVED, 10000, 700, llama3_divisors, 2 }, 0, false, { 0 } }, \
    { "rope", dt, 8, 100, 128, 0, 0, HALF(500000, 4000), 0, false, { 0 } },             \
    { "rope", dt, 8, 100, 128, 0, 0, INTER(500000, 4000), 0, false, { 0 } },            \
    { "rope", dt, 3, 513, 80, 0, 0, HALF(10000, 131000), 0, false, { 0 } },             \
    { "rope", dt, 2, 17, 96, 0, 0, INTER(1000000, 7), 0, false, { 0 } }
    ROPE(TAPPA_F32),
    ROPE(TAPPA_F16),
#define QSIM(dt)                                                                 \
    { "qsim", dt, 2, 1, 64, 0, 0, { 0 }, TAPPA_QSIM_COSINE, false, { 0 } },             \
    { "qsim", dt, 4, 64, 64, 0, 0, { 0 }, TAPPA_QSIM_COSINE, false, { 0 } },            \
    { "qsim", dt, 8, 1000, 128, 0, 0, { 0 }, TAPPA_QSIM_COSINE, false, { 0 } },         \
    { "qsim", dt, 3, 33, 80, 0, 0, { 0 }, TAPPA_QSIM_DOT, false, { 0 } },               \
    { "qsim", dt, 4, 257, 96, 0, 0, { 0 }, TAPPA_QSIM_DOT, false, { 0 } },           \
    { "qsim", dt, 5, 300, 128, 0, 0, { 0 }, TAPPA_QSIM_PEARSON, false, { 0 } },      \
    { "qsim", dt, 2, 32, 64, 0, 0, { 0 }, TAPPA_QSIM_PEARSON, false, { 0 } },        \
    { "qsim", dt, 2, 50, 320, 0, 0, { 0 }, TAPPA_QSIM_PEARSON, false, { 0 } }, /* d > WG */ \
    { "qsim", dt, 3, 70, 520, 0, 0, { 0 }, TAPPA_QSIM_COSINE, false, { 0 } },        \
    { "qsim", dt, 3, 33, 64, 0, 0, { 0 }, TAPPA_QSIM_EUCLIDEAN, false, { 0 } },      \
    { "qsim", dt, 2, 130, 128, 0, 0, { 0 }, TAPPA_QSIM_EUCLIDEAN, false, { 0 } },    \
    { "qsim", dt, 3, 33, 80, 0, 0, { 0 }, TAPPA_QSIM_L1, false, { 0 } },             \
    { "qsim", dt, 3, 50, 64, 0, 0, { 0 }, TAPPA_QSIM_RBF, false, { 0 } },            \
    { "qsim", dt, 2, 130, 128, 0, 0, { 0 }, TAPPA_QSIM_ANGULAR, false, { 0 } },      \
    { "qsim", dt, 3, 33, 96, 0, 0, { 0 }, TAPPA_QSIM_KL, false, { 0 } },             \
    { "qsim", dt, 2, 1, 64, 0, 0, { 0 }, TAPPA_QSIM_KL, false, { 0 } }
    QSIM(TAPPA_F32),
    QSIM(TAPPA_F16),
#define WINDOW_STATS(dt)                                                         \
    { "window_stats", dt, 8, 2, 300, 64, 32, { 0 }, 0, false, { 0 } },           \
    { "window_stats", dt, 4, 4, 33, 80, 32, { 0 }, 0, false, { 0 } },            \
    { "window_stats", dt, 2, 1, 1000, 128, 16, { 0 }, 0, false, { 0 } },         \
    { "window_stats", dt, 7, 7, 129, 96, 2, { 0 }, 0, false, { 0 } },            \
    { "window_stats", dt, 8, 2, 300, 64, 32, { 0 }, 1, false, { 0 } },           \
    { "window_stats", dt, 4, 1, 1500, 128, 32, { 0 }, 1, false, { 0 } },         \
    { "window_stats", dt, 3, 3, 20, 80, 20, { 0 }, 1, false, { 0 } } /* N = W */
    WINDOW_STATS(TAPPA_F32),
    WINDOW_STATS(TAPPA_F16),
#define ATTN(dt, hq, hkv, nq, nk, d, causal, cache)                                  \
    { "attention", dt, 0, 0, 0, 0, 0, { 0 }, 0, false, { hq, hkv, nq, nk, d, causal, cache, false } }
#define ATTENTION(dt)                                                                \
    ATTN(dt, 8, 2, 300, 300, 128, true, false),   /* prefill, GQA 4 */               \
    ATTN(dt, 4, 4, 77, 77, 64, true, false),      /* Hkv = Hq */                     \
    ATTN(dt, 6, 2, 33, 33, 80, false, false),     /* not causal */                   \
    ATTN(dt, 7, 1, 17, 203, 96, true, false),     /* Nq < Nk: a chunk after a prefix */ \
    ATTN(dt, 2, 1, 2, 2, 64, true, false),                                           \
    ATTN(dt, 16, 4, 129, 129, 64, true, false),   /* small/mobile heads */           \
    ATTN(dt, 28, 4, 65, 65, 128, true, false),    /* Qwen2.5-7B heads */             \
    ATTN(dt, 32, 8, 1, 4097, 128, true, false),   /* decode, Llama-3-8B heads */     \
    ATTN(dt, 28, 4, 1, 1000, 128, true, false),   /* decode, Qwen2.5-7B heads (GQA 7) */ \
    ATTN(dt, 16, 16, 1, 5, 64, true, false),                                         \
    ATTN(dt, 4, 2, 1, 1, 80, true, false),        /* one key */                      \
    ATTN(dt, 6, 3, 1, 3001, 80, true, false),     /* decode, d / 4 not a power of 2 */ \
    ATTN(dt, 8, 4, 1, 777, 96, true, true),       /* decode on a KV cache */         \
    ATTN(dt, 16, 1, 1, 2500, 256, true, false),   /* decode, 16 heads of 256: the sums in many passes */ \
    ATTN(dt, 8, 2, 1, 70001, 128, true, false),   /* decode, long chunks (more than 256 keys each) */ \
    /* Keys that grow along the context, decode and prefill. */                   \
    { "attention", dt, 0, 0, 0, 0, 0, { 0 }, 0, false, { 32, 8, 1, 9000, 128, true, false, true } }, \
    { "attention", dt, 0, 0, 0, 0, 0, { 0 }, 0, false, { 8, 2, 40, 700, 64, true, false, true } }
    ATTENTION(TAPPA_F32),
    ATTENTION(TAPPA_F16),
    { "token_scores", TAPPA_F32, 8, 2, 300, 32, 5, { 0 }, 0, false, { 0 } },
    { "token_scores", TAPPA_F32, 28, 4, 1000, 32, 5, { 0 }, 1, false, { 0 } },
    { "token_scores", TAPPA_F32, 4, 4, 34, 32, 5, { 0 }, 0, false, { 0 } },  /* two keys */
    { "token_scores", TAPPA_F32, 32, 8, 4097, 32, 7, { 0 }, 0, false, { 0 } },
    /* topk: rows, M, k. A 32K prompt's budget; keep all; keep one; ties. */
    { "topk", TAPPA_F32, 8, 32736, 992, 0, 0, { 0 }, 0, false, { 0 } },
    { "topk", TAPPA_F32, 4, 4065, 1000, 0, 0, { 0 }, 0, false, { 0 } },
    { "topk", TAPPA_F32, 2, 1000, 1000, 0, 0, { 0 }, 0, false, { 0 } },
    { "topk", TAPPA_F32, 3, 1, 1, 0, 0, { 0 }, 0, false, { 0 } },
    { "topk", TAPPA_F32, 3, 777, 1, 0, 0, { 0 }, 0, false, { 0 } },
    { "topk", TAPPA_F32, 3, 5000, 700, 0, 0, { 0 }, 1, false, { 0 } },
    { "topk", TAPPA_F32, 1, 300, 150, 0, 0, { 0 }, 2, false, { 0 } },
#define KV_COMPACT(dt)                                                           \
    { "kv_compact", dt, 8, 4097, 128, 992, 32, { 0 }, 0, false, { 0 } },         \
    { "kv_compact", dt, 4, 3000, 128, 100, 32, { 0 }, 0, false, { 0 } },         \
    { "kv_compact", dt, 2, 40, 64, 0, 32, { 0 }, 0, false, { 0 } }, /* window only */ \
    { "kv_compact", dt, 3, 50, 80, 18, 32, { 0 }, 0, false, { 0 } } /* keep all */
    KV_COMPACT(TAPPA_F32),
    KV_COMPACT(TAPPA_F16),
    { "row_sums", TAPPA_F32, 32, 32768, 32736, 0, 0, { 0 }, 0, false, { 0 } },
    { "row_sums", TAPPA_F32, 7, 333, 1, 0, 0, { 0 }, 0, false, { 0 } },
    { "row_sums", TAPPA_F32, 3, 100, 0, 0, 0, { 0 }, 0, false, { 0 } },
#define ATTENTION_ROWS(dt)                                                          \
    { "attention_rows", dt, 4, 2, 2000, 64, 64, { 0 }, 0, false, { 0 } }, /* the bundled model */ \
    { "attention_rows", dt, 32, 8, 1031, 128, 33, { 0 }, 0, false, { 0 } },                      \
    { "attention_rows", dt, 6, 3, 77, 80, 77, { 0 }, 0, false, { 0 } }, /* every row, row 0 too */ \
    { "attention_rows", dt, 2, 2, 300, 96, 1, { 0 }, 0, false, { 0 } }
    ATTENTION_ROWS(TAPPA_F32),
    ATTENTION_ROWS(TAPPA_F16),
    /* pattern_profiles: heads, rows, keys. The bundled model's; every row; two keys. */
    { "pattern_profiles", TAPPA_F32, 4, 64, 1000, 0, 0, { 0 }, 0, false, { 0 } },
    { "pattern_profiles", TAPPA_F32, 3, 77, 77, 0, 0, { 0 }, 0, false, { 0 } },
    { "pattern_profiles", TAPPA_F32, 2, 2, 2, 0, 0, { 0 }, 0, false, { 0 } },
    { "pattern_profiles", TAPPA_F32, 32, 33, 1031, 0, 0, { 0 }, 0, false, { 0 } },
#define ROPE_ENERGY(dt)                                                                      \
    { "rope_energy", dt, 4, 2, 1000, 64, 0, { 0 }, 0, false, { 0 } },                        \
    { "rope_energy", dt, 8, 4, 300, 128, 0, { 0 }, 1, false, { 0 } }, /* interleaved pairs */ \
    { "rope_energy", dt, 2, 2, 5, 80, 0, { 0 }, 0, false, { 0 } },                           \
    { "rope_energy", dt, 2, 1, 40, 256, 0, { 0 }, 1, false, { 0 } }
    ROPE_ENERGY(TAPPA_F32),
    ROPE_ENERGY(TAPPA_F16),
#define BLOCK_INFLUENCE(dt)                                                           \
    { "block_influence", dt, 1024, 4096, 0, 0, 0, { 0 }, 0, false, { 0 } }, /* Llama-3-8B */ \
    { "block_influence", dt, 300, 3584, 0, 0, 0, { 0 }, 0, false, { 0 } },  /* Qwen2.5-7B */ \
    { "block_influence", dt, 77, 1001, 0, 0, 0, { 0 }, 0, false, { 0 } },                  \
    { "block_influence", dt, 2, 3, 0, 0, 0, { 0 }, 0, false, { 0 } }
    BLOCK_INFLUENCE(TAPPA_F32),
    BLOCK_INFLUENCE(TAPPA_F16),
#define MATVEC(type)                                                                   \
    { "matvec", TAPPA_F32, type, 256, 256, 1, 0, { 0 }, 0, false, { 0 } },  /* the bundled model */ \
    { "matvec", TAPPA_F32, type, 640, 256, 3, 0, { 0 }, 3, false, { 0 } },  /* bias, += */       \
    { "matvec", TAPPA_F32, type, 77, 4096, 8, 0, { 0 }, 1, false, { 0 } },                      \
    { "matvec", TAPPA_F32, type, 2048, 1024, 1, 0, { 0 }, 2, false, { 0 } }
    MATVEC(TAPPA_GGML_F32),
    MATVEC(TAPPA_GGML_F16),
    /* Tensor-core tiles: a tail of 13 rows, 75 column tiles (the last block's
     * 11 leave one subgroup idle), 8 tokens, bias, +=. */
    { "matvec", TAPPA_F32, TAPPA_GGML_F16, 333, 1200, 8, 0, { 0 }, 3, false, { 0 } },
    MATVEC(TAPPA_GGML_Q8_0),
    MATVEC(TAPPA_GGML_Q4_0),
    /* matvec_swiglu: type, rows, cols, tokens. Llama-3-8B's width at a
     * decode step; a prompt chunk; fewer rows than a workgroup takes. */
#define MATVEC_SWIGLU(type)                                                              \
    { "matvec_swiglu", TAPPA_F32, type, 1000, 4096, 1, 0, { 0 }, 0, false, { 0 } },       \
    { "matvec_swiglu", TAPPA_F32, type, 77, 1024, 5, 0, { 0 }, 0, false, { 0 } },         \
    { "matvec_swiglu", TAPPA_F32, type, 3, 256, 1, 0, { 0 }, 0, false, { 0 } }
    MATVEC_SWIGLU(TAPPA_GGML_F32),
    MATVEC_SWIGLU(TAPPA_GGML_F16),
    MATVEC_SWIGLU(TAPPA_GGML_Q8_0),
    MATVEC_SWIGLU(TAPPA_GGML_Q4_0),
    /* matvec_norm_out: type, rows, cols, tokens. Llama-3-8B's output
     * projection at a decode step; a prompt chunk; rows no workgroup divides. */
#define MATVEC_NORM_OUT(type)                                                            \
    { "matvec_norm_out", TAPPA_F32, type, 4096, 4096, 1, 0, { 0 }, 0, false, { 0 } },     \
    { "matvec_norm_out", TAPPA_F32, type, 256, 1024, 8, 0, { 0 }, 0, false, { 0 } },      \
    { "matvec_norm_out", TAPPA_F32, type, 77, 256, 3, 0, { 0 }, 0, false, { 0 } }
    MATVEC_NORM_OUT(TAPPA_GGML_F32),
    MATVEC_NORM_OUT(TAPPA_GGML_F16),
    MATVEC_NORM_OUT(TAPPA_GGML_Q8_0),
    MATVEC_NORM_OUT(TAPPA_GGML_Q4_0),
    { "rmsnorm", TAPPA_F32, 1, 4096, 0, 0, 0, { 0 }, 0, false, { 0 } },
    { "rmsnorm", TAPPA_F32, 8, 256, 0, 0, 0, { 0 }, 0, false, { 0 } },
    { "rmsnorm", TAPPA_F32, 3, 3584, 0, 0, 0, { 0 }, 0, false, { 0 } },
    { "swiglu", TAPPA_F32, 14336, 0, 0, 0, 0, { 0 }, 0, false, { 0 } },
    { "swiglu", TAPPA_F32, 1001, 0, 0, 0, 0, { 0 }, 0, false, { 0 } },
    /* swiglu_prescaled: tokens, n, embd. A Llama-3-8B decode step; a prompt
     * chunk of odd widths; a width below one workgroup. */
    { "swiglu_prescaled", TAPPA_F32, 1, 14336, 4096, 0, 0, { 0 }, 0, false, { 0 } },
    { "swiglu_prescaled", TAPPA_F32, 8, 1001, 3584, 0, 0, { 0 }, 0, false, { 0 } },
    { "swiglu_prescaled", TAPPA_F32, 3, 77, 5, 0, 0, { 0 }, 0, false, { 0 } },
    /* kv_append_rope: hkv, t, d, held. A Llama-3-8B decode step at a
     * compressed layer's length; a prompt chunk; the bundled model's heads,
     * interleaved; one head from an empty layer at position 0. */
#define KV_APPEND_ROPE(dt)                                                                         \
    { "kv_append_rope", dt, 8, 1, 128, 300, 0, HALF(500000, 1000), 0, false, { 0 } },               \
    { "kv_append_rope", dt, 8, 8, 128, 40, 0, HALF(500000, 70000), 0, false, { 0 } },               \
    { "kv_append_rope", dt, 2, 3, 64, 17, 0, INTER(10000, 17), 0, false, { 0 } },                   \
    { "kv_append_rope", dt, 1, 5, 80, 0, 0, { TAPPA_ROPE_HALF, 10000, 0, NULL, 2 }, 0, false, { 0 } }
    KV_APPEND_ROPE(TAPPA_F32),
    KV_APPEND_ROPE(TAPPA_F16),
    /* kv_append_rope_prescaled: hkv, t, d, held, embd (f32 rows: the one
     * step that scales; f16 caches keep the norm step). Llama-3-8B at a
     * decode step; a prompt chunk; the bundled model's heads, interleaved. */
    { "kv_append_rope_prescaled", TAPPA_F32, 8, 1, 128, 300, 4096, HALF(500000, 1000), 0, false, { 0 } },
    { "kv_append_rope_prescaled", TAPPA_F32, 8, 8, 128, 40, 4096, HALF(500000, 70000), 0, false, { 0 } },
    { "kv_append_rope_prescaled", TAPPA_F32, 2, 3, 64, 17, 77, INTER(10000, 17), 0, false, { 0 } },
    /* rope_prescaled: h, n, d, embd. Llama-3-8B's queries at a decode step
     * and a prompt chunk; the bundled model's, interleaved. */
    { "rope_prescaled", TAPPA_F32, 32, 1, 128, 4096, 0, HALF(500000, 4000), 0, false, { 0 } },
    { "rope_prescaled", TAPPA_F32, 32, 8, 128, 4096, 0, HALF(500000, 70000), 0, false, { 0 } },
    { "rope_prescaled", TAPPA_F32, 4, 5, 64, 77, 0, INTER(10000, 17), 0, false, { 0 } },
    /* K and V of 140 MiB (f32): above the 128 MiB binding minimum, both paths. */
    { "attention", TAPPA_F32, 0, 0, 0, 0, 0, { 0 }, 0, true, { 2, 2, 16, 140000, 128, true, false, false } },
    { "attention", TAPPA_F32, 0, 0, 0, 0, 0, { 0 }, 0, true, { 4, 2, 1, 140000, 128, true, true, false } },
    /* Hidden states of 8200 tokens of Llama-3-8B in f32: 128.1 MiB each, just over 128 MiB. */
    { "block_influence", TAPPA_F32, 8200, 4096, 0, 0, 0, { 0 }, 0, true, { 0 } },
};

static tappa_status run_case(tappa_context *ctx, const conform_case *c, rng *r,
                             conform_result *res, tappa_error *err)
{
    if (!strcmp(c->op, "copy")) return case_copy(ctx, r, c->a, res, err);
    if (!strcmp(c->op, "softmax")) return case_softmax(ctx, r, c->dtype, c->a, c->b, res, err);
    if (!strcmp(c->op, "rope")) return case_rope(ctx, r, c->dtype, c->a, c->b, c->c, c->rope, res, err);
    if (!strcmp(c->op, "qsim"))
        return case_qsim(ctx, r, c->dtype, c->a, c->b, c->c, (tappa_qsim_mode)c->variant, res, err);
    if (!strcmp(c->op, "attention")) return case_attention(ctx, r, c->dtype, &c->attn, res, err);
    if (!strcmp(c->op, "topk")) return case_topk(ctx, r, c->a, c->b, c->c, c->variant, res, err);
    if (!strcmp(c->op, "kv_compact"))
        return case_kv_compact(ctx, r, c->dtype, c->a, c->b, c->c, c->d, c->e, res, err);
    if (!strcmp(c->op, "row_sums")) return case_row_sums(ctx, r, c->a, c->b, c->c, res, err);
    if (!strcmp(c->op, "pattern_profiles")) return case_pattern_profiles(ctx, r, c->a, c->b, c->c, res, err);
    if (!strcmp(c->op, "rope_energy"))
        return case_rope_energy(ctx, r, c->dtype, c->a, c->b, c->c, c->d, c->variant == 1, res, err);
    if (!strcmp(c->op, "attention_rows"))
        return case_attention_rows(ctx, r, c->dtype, c->a, c->b, c->c, c->d, c->e, res, err);
    if (!strcmp(c->op, "block_influence")) return case_block_influence(ctx, r, c->dtype, c->a, c->b, res, err);
    if (!strcmp(c->op, "rmsnorm")) return case_rmsnorm(ctx, r, c->a, c->b, res, err);
    if (!strcmp(c->op, "swiglu")) return case_swiglu(ctx, r, c->a, res, err);
    if (!strcmp(c->op, "swiglu_prescaled")) return case_swiglu_prescaled(ctx, r, c->a, c->b, c->c, res, err);
    if (!strcmp(c->op, "matvec_norm_out")) return case_matvec_norm_out(ctx, r, c->a, c->b, c->c, c->d, res, err);
    if (!strcmp(c->op, "kv_append_rope"))
        return case_kv_append_rope(ctx, r, c->dtype, c->a, c->b, c->c, c->d, 0, c->rope, res, err);
    if (!strcmp(c->op, "kv_append_rope_prescaled"))
        return case_kv_append_rope(ctx, r, c->dtype, c->a, c->b, c->c, c->d, c->e, c->rope, res, err);
    if (!strcmp(c->op, "rope_prescaled"))
        return case_rope_prescaled(ctx, r, c->a, c->b, c->c, c->d, c->rope, res, err);
    if (!strcmp(c->op, "matvec")) return case_matvec(ctx, r, c->a, c->b, c->c, c->d, c->variant, res, err);
    if (!strcmp(c->op, "matvec_swiglu")) return case_matvec_swiglu(ctx, r, c->a, c->b, c->c, c->d, res, err);
    if (!strcmp(c->op, "token_scores"))
        return case_token_scores(ctx, r, c->a, c->b, c->c, c->d, c->e, c->variant, res, err);
    return case_window_stats(ctx, r, c->dtype, c->a, c->b, c->c, c->d, c->e, c->variant, res, err);
}

static bool selected(const conform_case *c, const conform_options *opt)
{
    return (!opt->op || !strcmp(opt->op, c->op)) && (!c->large || opt->large);
}

/* Run case i into res and judge it. */
static void run_judged(tappa_context *ctx, const conform_options *opt, size_t i, conform_result *res)
{
    const conform_case *c = &cases[i];
    snprintf(res->op, sizeof res->op, "%s", c->op);
    snprintf(res->dtype, sizeof res->dtype, "%s", tappa_dtype_name(c->dtype));
    /* Each case draws from its own stream, so one case reproduces alone. */
    rng r;
    rng_seed(&r, opt->seed ^ (0x9e3779b97f4a7c15ull * (i + 1)));
    tappa_error case_err = { 0 };
    tappa_status st = run_case(ctx, c, &r, res, &case_err);
    if (st == TAPPA_ERR_UNSUPPORTED) {
        res->unsupported = true;
        res->error = NAN;
        snprintf(res->note, sizeof res->note, "%s", case_err.message);
    } else if (st) {
        res->error = NAN;
        snprintf(res->note, sizeof res->note, "%s", case_err.message);
    } else {
        /* NaN compares false, so an unwritten (poisoned) output fails here. */
        res->pass = res->error <= res->tolerance;
    }
}

/* Whether a case may take a cooperative-matrix path (f16 attention, prefill
 * and decode, also under window statistics' h2o sums; f16 weights against
 * 2 or more tokens in matvec, whose dtype is that of x and y), for the
 * progress count; whether it did is counted by the device. */
static bool may_use_coopmat(const conform_case *c)
{
    if (!strcmp(c->op, "matvec") || !strcmp(c->op, "matvec_swiglu")) return c->a == TAPPA_GGML_F16 && c->d >= 2;
    if (c->dtype != TAPPA_F16) return false;
    if (!strcmp(c->op, "window_stats")) return c->variant == 1;
    return !strcmp(c->op, "attention");
}

tappa_status conform_run(tappa_context *ctx, const conform_options *opt,
                         void (*progress)(const conform_result *done, size_t index, size_t total, void *user),
                         void *user,
                         conform_result **results, size_t *count, tappa_error *err)
{
    size_t n_cases = sizeof cases / sizeof cases[0];
    /* A case that ran on a cooperative-matrix path runs again on the
     * portable path: both are checked on a device that has both. */
    conform_result *out = calloc(2 * n_cases, sizeof *out);
    if (!out) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    tvk_device *dev = ctx->vk;
    bool coopmat = dev && dev->coopmat;
    size_t total = 0;
    for (size_t i = 0; i < n_cases; i++)
        if (selected(&cases[i], opt)) total += 1 + (coopmat && may_use_coopmat(&cases[i]));
    size_t n = 0;
    for (size_t i = 0; i < n_cases; i++) {
        if (!selected(&cases[i], opt)) continue;
        conform_result *res = &out[n++];
        uint64_t before = dev ? dev->coopmat_dispatches : 0;
        run_judged(ctx, opt, i, res);
        if (!dev || dev->coopmat_dispatches == before) {
            if (progress) progress(res, n - 1, total, user);
            continue;
        }
        size_t len = strlen(res->shape);
        snprintf(res->shape + len, sizeof res->shape - len, " coopmat");
        if (progress) progress(res, n - 1, total, user);
        dev->coopmat = false;
        res = &out[n++];
        run_judged(ctx, opt, i, res);
        dev->coopmat = true;
        len = strlen(res->shape);
        snprintf(res->shape + len, sizeof res->shape - len, " portable");
        if (progress) progress(res, n - 1, total, user);
    }
    (void)err;
    *results = out;
    *count = n;
    return TAPPA_OK;
}
