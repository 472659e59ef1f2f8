/* KV-cache compression of a whole prompt at the end of prefill (SPEC.md, "KV
 * compression"): per layer the window statistics, token scores and layer
 * preference on the device, budgets across layers on the host (a few numbers
 * per layer come back), then per-KV-head top-k and compaction into a KV cache
 * on the device. K and V never leave the device. */
#ifndef TAPPA_COMPRESS_H
#define TAPPA_COMPRESS_H

#include "tappa/kv_cache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tappa_method {
    TAPPA_METHOD_FULL = 0,      /* keep everything */
    TAPPA_METHOD_STREAMINGLLM,  /* the first C - W positions and the window */
    TAPPA_METHOD_H2O,           /* column sums over all queries, uniform budget */
    TAPPA_METHOD_SNAPKV,        /* window sums, uniform budget */
    TAPPA_METHOD_PYRAMIDKV,     /* window sums, budgets falling with depth */
    TAPPA_METHOD_CAKE,          /* mean + gamma var, entropy x variance preference */
    TAPPA_METHOD_TAPPA,         /* mean + gamma var, 1 - q-similarity preference */
} tappa_method;
#define TAPPA_METHOD_COUNT 7

typedef struct tappa_compress_params {
    tappa_method method;
    int64_t cache_size;   /* C: average positions per layer, window included (1024) */
    int64_t window;       /* W: the observation window, always kept (32) */
    double gamma;         /* weight of the window variance in tappa/cake scores (200) */
    double alpha;         /* tappa: INFINITY (default) for 1 - qsim alone, else cake + alpha (1 - qsim) */
    double tau1, tau2;    /* cake's exponents 1/tau on entropy and variance (1, 1) */
    int64_t pyramid_beta; /* pyramidkv (20) */
    int64_t kernel;       /* pooling kernel along the keys, odd (5) */
    int64_t extra;        /* free positions per layer left in the cache for decoding (0) */
} tappa_compress_params;

void tappa_compress_defaults(tappa_compress_params *p);
const char *tappa_method_name(tappa_method m);
/* Parse a method name (full, streamingllm, h2o, snapkv, pyramidkv, cake, tappa). */
tappa_status tappa_method_parse(const char *name, tappa_method *m, tappa_error *err);

/* What compression did to one layer. */
typedef struct tappa_compress_layer {
    double qsim;       /* cosine q-similarity of the window queries, mean over heads */
    double pref;       /* the layer preference (tappa, cake), else NAN */
    double entropy;    /* cake's E and V (cake, tappa with finite alpha), else NAN */
    double variance;
    int64_t budget;    /* kept non-window positions per KV head */
    int64_t window;    /* window positions kept after them: min(W, N) */
    int32_t *keep;     /* [Hkv, budget] kept prompt positions, ascending; owned */
} tappa_compress_layer;

/* Compress a prompt of N tokens over `layers` layers. Per layer l: q[l]
 * [Hq, N, D] f32 post-RoPE queries, k[l], v[l] [Hkv, N, D] f32 or f16 (one
 * dtype and shape for all layers), lse[l] [Hq, N] f32 from the prefill or
 * lse == NULL (h2o then runs the prefill attention itself for it). Creates
 * *cache ([Hkv, max_l(b_l + W) + extra, D], k's dtype, caller owns) holding
 * each layer's kept positions then its window, lengths b_l + W, and fills
 * report[0..layers-1] (free with tappa_compress_report_free). */
tappa_status tappa_compress(const tappa_compress_params *p, int layers,
                            const tappa_tensor *const *q, const tappa_tensor *const *k,
                            const tappa_tensor *const *v, const tappa_tensor *const *lse,
                            tappa_kv_cache **cache, tappa_compress_layer *report,
                            tappa_error *err);
/* Free the keep arrays of a report; accepts a partly filled one. */
void tappa_compress_report_free(tappa_compress_layer *report, int layers);

/* Copy the first length positions of a cache layer's K and V into k, v
 * [Hkv, length, D] (the cache's dtype), e.g. to save or check them. */
tappa_status tappa_kv_cache_read_layer(const tappa_kv_cache *cache, int layer, tappa_tensor *k,
                                       tappa_tensor *v, tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
