/* One calibration chunk's per-layer pruning scores on a device: block
 * influence from the hidden states, q-similarity from the pre-RoPE queries.
 * Only per-token and per-head results come back to the host, where they are
 * averaged in double. */
#include <stdlib.h>

#include "tappa/ops.h"
#include "tappa/prune.h"
#include "tappa/tensor.h"

/* Mean of the n f32 values of t. */
static tappa_status mean_of(const tappa_tensor *t, size_t n, double *mean, tappa_error *err)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    tappa_status st = tappa_tensor_download(t, v, n * sizeof *v, err);
    double sum = 0;
    for (size_t i = 0; i < n && !st; i++) sum += v[i];
    if (!st) *mean = sum / (double)n;
    free(v);
    return st;
}

tappa_status tappa_prune_chunk_bi(tappa_context *ctx, int layers, const tappa_array *const *hidden,
                                  double *bi, tappa_error *err)
{
    if (layers < 1) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "block influence: needs at least one layer");
    const tappa_array *h0 = hidden[0];
    if (h0->ndim != 2 || h0->dtype == TAPPA_I32 || h0->shape[0] < 1 || h0->shape[1] < 1)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "block influence: hidden state 0 must be [N, d_model] f32 or f16 with N, d_model >= 1");
    for (int l = 1; l <= layers; l++) {
        const tappa_array *h = hidden[l];
        if (h->ndim != 2 || h->dtype != h0->dtype || h->shape[0] != h0->shape[0] || h->shape[1] != h0->shape[1])
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                              "block influence: hidden state %d is not [%lld, %lld] %s like hidden state 0", l,
                              (long long)h0->shape[0], (long long)h0->shape[1], tappa_dtype_name(h0->dtype));
    }
    int64_t n = h0->shape[0];
    tappa_tensor *in = NULL, *out = NULL, *per_token = NULL;
    tappa_status st = tappa_tensor_from_array(ctx, h0, &in, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 1, &n, &per_token, err);
    for (int l = 0; l < layers && !st; l++) {
        st = tappa_tensor_from_array(ctx, hidden[l + 1], &out, err);
        if (!st) st = tappa_block_influence(in, out, per_token, err);
        if (!st) st = mean_of(per_token, (size_t)n, &bi[l], err);
        tappa_tensor_destroy(&in);
        in = out; /* layer l's output enters layer l + 1 */
        out = NULL;
    }
    tappa_tensor_destroy(&in);
    tappa_tensor_destroy(&per_token);
    return st;
}

tappa_status tappa_prune_chunk_qsim(tappa_context *ctx, int layers, const tappa_array *const *q_pre,
                                    double *qsim, tappa_error *err)
{
    if (layers < 1) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "q-similarity: needs at least one layer");
    tappa_status st = TAPPA_OK;
    for (int l = 0; l < layers && !st; l++) {
        const tappa_array *q = q_pre[l];
        if (q->ndim != 3 || q->dtype == TAPPA_I32 || q->shape[0] < 1 || q->shape[2] < 1)
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                              "q-similarity: layer %d's queries must be [Hq, N, D] f32 or f16 with Hq, D >= 1", l);
        int64_t heads = q->shape[0];
        tappa_tensor *tq = NULL, *per_head = NULL;
        st = tappa_tensor_from_array(ctx, q, &tq, err);
        if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 1, &heads, &per_head, err);
        if (!st) st = tappa_qsim(tq, per_head, TAPPA_QSIM_COSINE, err);
        if (!st) st = mean_of(per_head, (size_t)heads, &qsim[l], err);
        tappa_tensor_destroy(&tq);
        tappa_tensor_destroy(&per_head);
    }
    return st;
}
