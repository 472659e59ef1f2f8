/* Perplexity over windows of a text, the quality measure of pruned and
 * compressed models. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tappa/compress.h"
#include "tappa/model.h"

/* -log softmax(row)[token]. */
static double nll_of(const float *row, size_t V, int32_t token)
{
    double mx = row[0], sum = 0;
    for (size_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    for (size_t v = 0; v < V; v++) sum += exp(row[v] - mx);
    return mx + log(sum) - row[token];
}

tappa_status tappa_eval_window(tappa_model *m, const int32_t *seq, size_t len, size_t first,
                               const tappa_compress_params *kv, float *logits, tappa_error *err)
{
    if (first < 1 || first >= len)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "eval: score from token %zu of %zu", first, len);
    const tappa_model_info *in = tappa_model_get_info(m);
    size_t V = (size_t)in->vocab;
    /* The context part, then (compressed, when asked) the scored part: token j
     * is scored by the logits after token j - 1. */
    tappa_session *s = NULL;
    tappa_status st = tappa_session_create(m, (int64_t)len, &s, err);
    if (!st && kv) st = tappa_session_record_trace(s, err);
    if (!st) st = tappa_session_eval(s, seq, first, false, logits, err);
    if (!st && kv) {
        tappa_compress_layer *report = calloc((size_t)in->layers, sizeof *report);
        st = report ? tappa_session_compress(s, kv, report, err)
                    : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "eval: out of host memory");
        if (report) tappa_compress_report_free(report, in->layers);
        free(report);
    }
    if (!st && len - first > 1) st = tappa_session_eval(s, seq + first, len - first - 1, true, logits + V, err);
    tappa_session_free(&s);
    return st;
}

tappa_status tappa_eval_perplexity(tappa_model *m, const int32_t *ids, size_t n, int64_t window,
                                   const tappa_compress_params *kv,
                                   void (*progress)(int done, int total, void *user), void *user,
                                   tappa_perplexity *out, tappa_error *err)
{
    memset(out, 0, sizeof *out);
    if (window < 4) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "perplexity: a window of %lld tokens", (long long)window);
    size_t windows = n / (size_t)window;
    if (windows == 0)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "perplexity: %zu tokens; one window needs %lld", n,
                          (long long)window);
    const tappa_model_info *in = tappa_model_get_info(m);
    int32_t bos = tappa_tokenizer_bos(tappa_model_tokenizer(m));
    size_t V = (size_t)in->vocab, len = (size_t)window + (bos >= 0);
    int32_t *seq = malloc(sizeof(int32_t) * len);
    float *logits = malloc(sizeof(float) * V * len);
    tappa_status st = seq && logits ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "perplexity: out of host memory");
    double total = 0;
    int64_t scored = 0;
    for (size_t w = 0; w < windows && !st; w++) {
        size_t k = 0;
        if (bos >= 0) seq[k++] = bos;
        memcpy(seq + k, ids + w * (size_t)window, sizeof(int32_t) * (size_t)window);
        size_t first = len - (size_t)window / 2;
        st = tappa_eval_window(m, seq, len, first, kv, logits, err);
        for (size_t j = first; j < len && !st; j++) {
            total += nll_of(logits + (j - first) * V, V, seq[j]);
            scored++;
        }
        if (!st && progress) progress((int)w + 1, (int)windows, user);
    }
    free(seq);
    free(logits);
    if (st) return st;
    out->nll = total / (double)scored;
    out->ppl = exp(out->nll);
    out->scored = scored;
    out->windows = (int)windows;
    return TAPPA_OK;
}
