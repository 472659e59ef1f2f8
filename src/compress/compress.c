/* compress: the whole KV compression step of a prompt (SPEC.md steps 1-5),
 * composed of the device ops; only per-layer numbers (q-similarity, cake's
 * totals) and the kept positions come to the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tappa/compress.h"
#include "../ops/ops_internal.h"

static const char *const method_names[TAPPA_METHOD_COUNT] = {
    "full", "streamingllm", "h2o", "snapkv", "pyramidkv", "cake", "tappa",
};

void tappa_compress_defaults(tappa_compress_params *p)
{
    *p = (tappa_compress_params){ .method = TAPPA_METHOD_TAPPA, .cache_size = 1024, .window = 32,
                                  .gamma = 200, .alpha = INFINITY, .tau1 = 1, .tau2 = 1,
                                  .pyramid_beta = 20, .kernel = 5, .extra = 0 };
}

const char *tappa_method_name(tappa_method m)
{
    return (unsigned)m < TAPPA_METHOD_COUNT ? method_names[m] : "unknown";
}

tappa_status tappa_method_parse(const char *name, tappa_method *m, tappa_error *err)
{
    for (int i = 0; i < TAPPA_METHOD_COUNT; i++)
        if (!strcmp(name, method_names[i])) {
            *m = (tappa_method)i;
            return TAPPA_OK;
        }
    return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                      "unknown method '%s' (full, streamingllm, h2o, snapkv, pyramidkv, cake, tappa)", name);
}

void tappa_compress_report_free(tappa_compress_layer *report, int layers)
{
    for (int l = 0; report && l < layers; l++) {
        free(report[l].keep);
        report[l].keep = NULL;
    }
}

static tappa_status check_params(const tappa_compress_params *p, tappa_error *err)
{
    if ((unsigned)p->method >= TAPPA_METHOD_COUNT)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: unknown method %d", (int)p->method);
    if (p->window < 1 || p->cache_size <= p->window)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: needs 1 <= window (%lld) < cache size (%lld)",
                          (long long)p->window, (long long)p->cache_size);
    if (!(p->gamma >= 0) || !isfinite(p->gamma))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: gamma must be finite and >= 0");
    if (!(p->alpha >= 0))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: alpha must be >= 0 (inf for q-similarity alone)");
    if (!(p->tau1 > 0) || !(p->tau2 > 0) || !isfinite(p->tau1) || !isfinite(p->tau2))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: tau1 and tau2 must be finite and > 0");
    if (p->pyramid_beta < 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: pyramid beta must be >= 1");
    if (p->kernel < 1 || p->kernel % 2 == 0 || p->kernel > 63)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: the pooling kernel must be odd, 1..63");
    if (p->extra < 0 || p->extra > ((int64_t)1 << 32))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: extra cache positions %lld", (long long)p->extra);
    return TAPPA_OK;
}

static tappa_status check_layers(int layers, const tappa_tensor *const *q, const tappa_tensor *const *k,
                                 const tappa_tensor *const *v, const tappa_tensor *const *lse,
                                 tappa_error *err)
{
    if (layers < 1 || !q || !k || !v)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: needs q, k and v of at least one layer");
    const tappa_tensor *k0 = k[0];
    for (int l = 0; l < layers; l++) {
        if (!q[l] || !k[l] || !v[l])
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: layer %d lacks q, k or v", l);
        if (q[l]->ctx != k0->ctx || k[l]->ctx != k0->ctx || v[l]->ctx != k0->ctx)
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: layer %d's tensors belong to another context", l);
        if (k[l]->ndim != 3 || v[l]->ndim != 3 || k[l]->dtype != k0->dtype || v[l]->dtype != k0->dtype ||
            k0->dtype == TAPPA_I32 || memcmp(k[l]->shape, k0->shape, sizeof k0->shape) ||
            memcmp(v[l]->shape, k0->shape, sizeof k0->shape))
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                              "compress: layer %d: k and v must be [Hkv, N, D] of one float dtype, as layer 0's", l);
        if (q[l]->ndim != 3 || q[l]->dtype != TAPPA_F32 || q[l]->shape[1] != k0->shape[1] ||
            q[l]->shape[2] != k0->shape[2] || q[l]->shape[0] % k0->shape[0] ||
            q[l]->shape[0] != q[0]->shape[0])
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                              "compress: layer %d: q must be [Hq, N, D] f32 with Hq a multiple of Hkv", l);
        if (lse && (!lse[l] || lse[l]->ctx != k0->ctx || lse[l]->dtype != TAPPA_F32 ||
                    lse[l]->numel != (size_t)(q[l]->shape[0] * q[l]->shape[1])))
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "compress: layer %d: lse must be [Hq, N] f32", l);
    }
    return TAPPA_OK;
}

typedef struct window_args {
    const tappa_tensor *q;
    int64_t w;
    tappa_tensor *out;
} window_args;

/* The last w rows of each head of q into out [Hq, w, D]. */
static tappa_status record_window(void *p, tappa_error *err)
{
    window_args *a = p;
    size_t n = (size_t)a->q->shape[1], d = (size_t)a->q->shape[2], w = (size_t)a->w;
    tappa_status st = TAPPA_OK;
    for (size_t h = 0; h < (size_t)a->q->shape[0] && !st; h++)
        st = tensor_copy_range(a->q, (h * n + n - w) * d, a->out, h * w * d, w * d, err);
    return st;
}

/* Download an f32 tensor's values and return their sum in double. */
static tappa_status download_sum(const tappa_tensor *t, double *sum, tappa_error *err)
{
    float *v = malloc(t->numel * sizeof *v + 1);
    if (!v) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "compress: out of host memory");
    tappa_status st = tappa_tensor_download(t, v, t->numel * sizeof *v, err);
    double s = 0;
    for (size_t i = 0; i < t->numel; i++) s += v[i];
    free(v);
    *sum = s;
    return st;
}

/* Cosine q-similarity of the last w queries, the mean over heads. */
static tappa_status layer_qsim(const tappa_tensor *q, int64_t w, double *qsim, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    int64_t hq = q->shape[0], ws[3] = { hq, w, q->shape[2] };
    tappa_tensor *win = NULL, *out = NULL;
    tappa_status st = tappa_tensor_create(ctx, TAPPA_F32, 3, ws, &win, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 1, &hq, &out, err);
    window_args args = { q, w, win };
    if (!st) st = ctx->backend == TAPPA_BACKEND_CPU ? record_window(&args, err)
                                                   : op_submit(ctx->vk, record_window, &args, err);
    if (!st) st = tappa_qsim(win, out, TAPPA_QSIM_COSINE, err);
    double sum = 0;
    if (!st) st = download_sum(out, &sum, err);
    *qsim = sum / (double)hq;
    tappa_tensor_destroy(&win);
    tappa_tensor_destroy(&out);
    return st;
}

static bool uses_cake(const tappa_compress_params *p)
{
    return p->method == TAPPA_METHOD_CAKE || (p->method == TAPPA_METHOD_TAPPA && isfinite(p->alpha));
}

/* Token scores of one layer into *scores [Hkv, N - W] (created here), and
 * cake's entropy and variance totals when the method needs them. */
static tappa_status layer_scores(const tappa_compress_params *p, const tappa_tensor *q,
                                 const tappa_tensor *k, const tappa_tensor *v,
                                 const tappa_tensor *lse, tappa_tensor **scores, double *entropy,
                                 double *variance, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    int64_t hq = q->shape[0], hkv = k->shape[0], n = q->shape[1], w = p->window;
    int64_t hs[2] = { hq, n }, ss[2] = { hkv, n - w };
    bool h2o = p->method == TAPPA_METHOD_H2O, cake = uses_cake(p);
    tappa_tensor *mean = NULL, *var = NULL, *colsum = NULL, *ent = NULL, *sums = NULL;
    tappa_tensor *own_lse = NULL, *out = NULL;
    tappa_status st = tappa_tensor_create(ctx, TAPPA_F32, 2, hs, &mean, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, hs, &var, err);
    if (!st && h2o) st = tappa_tensor_create(ctx, TAPPA_F32, 2, hs, &colsum, err);
    if (!st && cake) st = tappa_tensor_create(ctx, TAPPA_F32, 2, hs, &ent, err);
    if (!st && h2o && !lse) {
        /* h2o sums over every query, which needs every row's lse: the prefill's. */
        st = tappa_tensor_create(ctx, TAPPA_F32, 3, q->shape, &out, err);
        if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, hs, &own_lse, err);
        if (!st) st = tappa_attention(q, k, v, true, out, own_lse, err);
        tappa_tensor_destroy(&out);
        lse = own_lse;
    }
    if (!st) st = tappa_window_stats(q, k, w, lse, mean, var, colsum, ent, err);
    if (!st && cake) {
        st = tappa_tensor_create(ctx, TAPPA_F32, 1, &hq, &sums, err);
        if (!st) st = tappa_row_sums(ent, n - w, sums, err);
        if (!st) st = download_sum(sums, entropy, err);
        if (!st) st = tappa_row_sums(var, n - w, sums, err);
        if (!st) st = download_sum(sums, variance, err);
    }
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, ss, scores, err);
    if (!st) {
        if (h2o) st = tappa_token_scores(colsum, colsum, 1.0, 0.0, w, p->kernel, *scores, err);
        else if (p->method == TAPPA_METHOD_SNAPKV || p->method == TAPPA_METHOD_PYRAMIDKV)
            st = tappa_token_scores(mean, mean, (double)w, 0.0, w, p->kernel, *scores, err);
        else st = tappa_token_scores(mean, var, 1.0, p->gamma, w, p->kernel, *scores, err);
    }
    tappa_tensor *all[] = { mean, var, colsum, ent, sums, own_lse };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tappa_tensor_destroy(&all[i]);
    return st;
}

/* Budgets of every layer from the method (SPEC.md step 4 and the baselines). */
static tappa_status plan_budgets(const tappa_compress_params *p, int layers, int64_t n,
                                 tappa_compress_layer *report, int64_t *budgets, tappa_error *err)
{
    int64_t c = p->cache_size, w = p->window;
    switch (p->method) {
    case TAPPA_METHOD_TAPPA:
    case TAPPA_METHOD_CAKE: {
        double *prefs = malloc((size_t)layers * sizeof *prefs);
        if (!prefs) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "compress: out of host memory");
        for (int l = 0; l < layers; l++) {
            tappa_compress_layer *r = &report[l];
            double cake = uses_cake(p) ? pow(r->entropy, 1.0 / p->tau1) * pow(r->variance, 1.0 / p->tau2) : 0;
            r->pref = p->method == TAPPA_METHOD_CAKE ? cake
                      : isfinite(p->alpha)           ? cake + p->alpha * (1.0 - r->qsim)
                                                     : 1.0 - r->qsim;
            prefs[l] = r->pref;
        }
        tappa_status st = tappa_budgets_from_prefs(prefs, layers, c, w, n, budgets, err);
        free(prefs);
        return st;
    }
    case TAPPA_METHOD_PYRAMIDKV:
        return tappa_budgets_pyramid(layers, c, w, n, p->pyramid_beta, budgets, err);
    default:
        return tappa_budgets_uniform(layers, c, w, n, budgets, err);
    }
}

/* Kept positions of one layer into *keep ([Hkv, b] i32, NULL when b = 0) and
 * report->keep: the top b by score, or the first b positions (streamingllm,
 * and every method when the layer keeps all). */
static tappa_status layer_keep(tappa_context *ctx, int64_t hkv, int64_t b, const tappa_tensor *scores,
                               tappa_tensor **keep, tappa_compress_layer *report, tappa_error *err)
{
    *keep = NULL;
    if (b == 0) return TAPPA_OK;
    size_t count = (size_t)(hkv * b);
    int64_t ks[2] = { hkv, b };
    report->keep = malloc(count * sizeof *report->keep);
    if (!report->keep) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "compress: out of host memory");
    tappa_status st = tappa_tensor_create(ctx, TAPPA_I32, 2, ks, keep, err);
    if (st) return st;
    if (scores && b < scores->shape[1]) {
        st = tappa_topk_positions(scores, b, *keep, err);
        if (!st) st = tappa_tensor_download(*keep, report->keep, count * sizeof *report->keep, err);
        return st;
    }
    for (size_t i = 0; i < count; i++) report->keep[i] = (int32_t)(i % (size_t)b);
    return tappa_tensor_upload(*keep, report->keep, count * sizeof *report->keep, err);
}

tappa_status tappa_compress(const tappa_compress_params *p, int layers,
                            const tappa_tensor *const *q, const tappa_tensor *const *k,
                            const tappa_tensor *const *v, const tappa_tensor *const *lse,
                            tappa_kv_cache **cache, tappa_compress_layer *report,
                            tappa_error *err)
{
    *cache = NULL;
    tappa_status st = check_params(p, err);
    if (!st) st = check_layers(layers, q, k, v, lse, err);
    if (st) return st;
    tappa_context *ctx = k[0]->ctx;
    int64_t hkv = k[0]->shape[0], n = k[0]->shape[1], d = k[0]->shape[2];
    int64_t w = n < p->window ? n : p->window, m = n - w;
    /* Short prompts (N <= C + W) and full keep everything: no scores needed. */
    bool compress = p->method != TAPPA_METHOD_FULL && n > p->cache_size + p->window;
    bool scored = compress && p->method != TAPPA_METHOD_STREAMINGLLM;
    memset(report, 0, (size_t)layers * sizeof *report);
    tappa_tensor **scores = calloc((size_t)layers, sizeof *scores);
    int64_t *budgets = malloc((size_t)layers * sizeof *budgets);
    if (!scores || !budgets) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "compress: out of host memory");
    for (int l = 0; l < layers && !st; l++) {
        tappa_compress_layer *r = &report[l];
        r->pref = r->entropy = r->variance = NAN;
        r->window = w;
        st = layer_qsim(q[l], w, &r->qsim, err);
        if (!st && scored)
            st = layer_scores(p, q[l], k[l], v[l], lse ? lse[l] : NULL, &scores[l], &r->entropy,
                              &r->variance, err);
    }
    if (!st && compress) st = plan_budgets(p, layers, n, report, budgets, err);
    if (!st && !compress)
        for (int l = 0; l < layers; l++) budgets[l] = m;
    /* The reference's adjust_budgets hands a capped layer's excess to the others
     * in one pass, which can lift one of them past the m = N - W positions it
     * has when the pool nearly fills the prompt (a short prompt); a layer keeps
     * at most what exists. */
    for (int l = 0; !st && l < layers; l++) budgets[l] = budgets[l] < m ? budgets[l] : m;
    int64_t most = 0;
    for (int l = 0; !st && l < layers; l++) most = budgets[l] > most ? budgets[l] : most;
    if (!st) st = tappa_kv_cache_create(ctx, layers, hkv, most + w + p->extra, d, k[0]->dtype, cache, err);
    for (int l = 0; l < layers && !st; l++) {
        tappa_tensor *keep = NULL;
        report[l].budget = budgets[l];
        st = layer_keep(ctx, hkv, budgets[l], scores[l], &keep, &report[l], err);
        if (!st) st = tappa_kv_compact(k[l], keep, w, tappa_kv_cache_keys(*cache, l), err);
        if (!st) st = tappa_kv_compact(v[l], keep, w, tappa_kv_cache_values(*cache, l), err);
        if (!st) st = tappa_kv_cache_set_length(*cache, l, budgets[l] + w, err);
        tappa_tensor_destroy(&keep);
    }
    for (int l = 0; scores && l < layers; l++) tappa_tensor_destroy(&scores[l]);
    free(scores);
    free(budgets);
    if (st) {
        tappa_kv_cache_destroy(cache);
        tappa_compress_report_free(report, layers);
    }
    return st;
}
