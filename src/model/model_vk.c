/* The forward pass on a Vulkan device: every matrix and norm weight uploaded
 * once; up to VK_CHUNK tokens (a prompt in chunks, or one decode step) go
 * through one command buffer that runs all layers (RMSNorm, Q/K/V for all the
 * chunk's tokens from one read of each weight, RoPE from a table made once for
 * the session (K's inside the KV-cache append), split-K decode attention per
 * token, the output projection added to the residual, the SwiGLU MLP) and the
 * LM head, with barriers between dependent steps. Embedding rows are looked up
 * on the host; they and the logits go in and out in the same submission. */
#include <stdlib.h>
#include <string.h>

#include "../ops/ops_internal.h"
#include "model_internal.h"
#include "tappa/kv_cache.h"
#include "tappa/matrix.h"

static tappa_status upload_matrix(tappa_context *ctx, const weight *w, tappa_matrix **out, tappa_error *err)
{
    return tappa_matrix_create(ctx, w->type, w->rows, w->cols, w->data, out, err);
}

/* A vector weight (norms, biases; stored f32) as a tensor, or NULL when absent. */
static tappa_status upload_vector(tappa_context *ctx, const weight *w, tappa_tensor **out, tappa_error *err)
{
    *out = NULL;
    if (!w->data) return TAPPA_OK;
    int64_t n = w->cols;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    weight_row(w, 0, v);
    tappa_status st = tappa_tensor_create(ctx, TAPPA_F32, 1, &n, out, err);
    if (!st) st = tappa_tensor_upload(*out, v, (size_t)n * sizeof *v, err);
    free(v);
    return st;
}

tappa_status model_vk_upload(tappa_model *m, tappa_error *err)
{
    tappa_context *ctx = m->ctx;
    int L = m->info.layers;
    m->dev = calloc(1, sizeof *m->dev);
    if (!m->dev || !(m->dev->layers = calloc((size_t)L, sizeof *m->dev->layers)))
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    tappa_status st = upload_matrix(ctx, &m->output, &m->dev->output, err);
    if (!st) st = upload_vector(ctx, &m->out_norm, &m->dev->out_norm, err);
    for (int l = 0; l < L && !st; l++) {
        const layer_weights *w = &m->layers[l];
        vk_layer *d = &m->dev->layers[l];
        st = upload_matrix(ctx, &w->q, &d->q, err);
        if (!st) st = upload_matrix(ctx, &w->k, &d->k, err);
        if (!st) st = upload_matrix(ctx, &w->v, &d->v, err);
        if (!st) st = upload_matrix(ctx, &w->o, &d->o, err);
        if (!st) st = upload_matrix(ctx, &w->gate, &d->gate, err);
        if (!st) st = upload_matrix(ctx, &w->up, &d->up, err);
        if (!st) st = upload_matrix(ctx, &w->down, &d->down, err);
        if (!st) st = upload_vector(ctx, &w->attn_norm, &d->attn_norm, err);
        if (!st) st = upload_vector(ctx, &w->ffn_norm, &d->ffn_norm, err);
        if (!st) st = upload_vector(ctx, &w->bq, &d->bq, err);
        if (!st) st = upload_vector(ctx, &w->bk, &d->bk, err);
        if (!st) st = upload_vector(ctx, &w->bv, &d->bv, err);
    }
    return st;
}

void model_vk_free(tappa_model *m)
{
    if (!m->dev) return;
    for (int l = 0; m->dev->layers && l < m->info.layers; l++) {
        vk_layer *d = &m->dev->layers[l];
        tappa_matrix *ms[] = { d->q, d->k, d->v, d->o, d->gate, d->up, d->down };
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) tappa_matrix_destroy(&ms[i]);
        tappa_tensor_destroy(&d->attn_norm);
        tappa_tensor_destroy(&d->ffn_norm);
        tappa_tensor_destroy(&d->bq);
        tappa_tensor_destroy(&d->bk);
        tappa_tensor_destroy(&d->bv);
    }
    free(m->dev->layers);
    tappa_matrix_destroy(&m->dev->output);
    tappa_tensor_destroy(&m->dev->out_norm);
    free(m->dev);
    m->dev = NULL;
}

static tappa_rope_params rope_params(const tappa_model *m)
{
    const tappa_model_info *in = &m->info;
    return (tappa_rope_params){ in->rope_interleaved ? TAPPA_ROPE_INTERLEAVED : TAPPA_ROPE_HALF, in->rope_base, 0,
                                m->rope_freqs, in->rope_scale };
}

tappa_status session_vk_create(tappa_session *s, tappa_error *err)
{
    const tappa_model *m = s->m;
    const tappa_model_info *in = &m->info;
    tappa_context *ctx = m->ctx;
    vk_session *d = s->dev = calloc(1, sizeof *s->dev);
    if (!d) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    int64_t E = in->embd, F = in->ffn, V = in->vocab, H = in->heads, HK = in->kv_heads, D = in->head_dim, C = VK_CHUNK;
    int64_t xs[2] = { C, E }, qs[3] = { H, C, D }, ks[3] = { HK, C, D }, l1s[2] = { H, 1 };
    int64_t as[2] = { C, H * D }, fs[2] = { C, F }, vs[2] = { C, V };
    tappa_status st = tappa_kv_cache_create(ctx, in->layers, HK, s->cap, D, TAPPA_F32, &d->cache, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, xs, &d->x, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, xs, &d->h, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 3, qs, &d->q, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 3, ks, &d->k, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 3, ks, &d->v, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, l1s, &d->lse1, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, as, &d->att, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, fs, &d->gate, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, fs, &d->up, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, vs, &d->logits, err);
    if (!st && !ctx->vk->tensor_memory_mapped) st = tensor_create_mapped(ctx, TAPPA_F32, 2, xs, &d->x_in, err);
    if (!st && !ctx->vk->tensor_memory_mapped) st = tensor_create_mapped(ctx, TAPPA_F32, 2, vs, &d->logits_out, err);
    /* Unused rows of a short chunk are rotated too: the table reaches past the cache. */
    tappa_rope_params rp = rope_params(m);
    if (!st) st = rope_table_create(ctx, s->cap + C, D, &rp, &d->rope_table, err);
    /* Decode's partial buffers, sized for the longest context this session reaches. */
    if (!st) st = attention_decode_prepare(ctx, d->q, tappa_kv_cache_keys(d->cache, 0), s->cap, err);
    return st;
}

void session_vk_free(tappa_session *s)
{
    vk_session *d = s->dev;
    if (!d) return;
    tappa_kv_cache_destroy(&d->cache);
    tappa_tensor *ts[] = { d->x, d->h, d->q, d->k, d->v, d->lse1, d->att, d->gate, d->up, d->logits,
                           d->rope_table, d->x_in, d->logits_out, d->t_hidden, d->t_qpre, d->t_q, d->t_k, d->t_v };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) tappa_tensor_destroy(&ts[i]);
    free(d);
    s->dev = NULL;
}

tappa_status session_vk_trace(tappa_session *s, tappa_error *err)
{
    const tappa_model_info *in = &s->m->info;
    vk_session *d = s->dev;
    tappa_context *ctx = s->m->ctx;
    int64_t L = in->layers, C = VK_CHUNK;
    int64_t hs[3] = { L + 1, C, in->embd }, qs[4] = { L, in->heads, C, in->head_dim }, ks[4] = { L, in->kv_heads, C, in->head_dim };
    tappa_status st = tappa_tensor_create(ctx, TAPPA_F32, 3, hs, &d->t_hidden, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 4, qs, &d->t_qpre, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 4, qs, &d->t_q, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 4, ks, &d->t_k, err);
    if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 4, ks, &d->t_v, err);
    return st;
}

/* Append a chunk's t tokens of a head-major [heads, VK_CHUNK, D] block as
 * token-major rows of heads * D. */
static tappa_status append_head_major(trace_rows *rows, const float *block, uint32_t t, int heads, int D,
                                      tappa_error *err)
{
    tappa_status st = TAPPA_OK;
    for (uint32_t i = 0; i < t && !st; i++)
        for (int h = 0; h < heads && !st; h++)
            st = trace_append(rows, block + ((size_t)h * VK_CHUNK + i) * D, (size_t)D, err);
    return st;
}

/* Read a traced chunk back into the session's trace rows. */
static tappa_status read_trace(tappa_session *s, uint32_t t, tappa_error *err)
{
    const tappa_model_info *in = &s->m->info;
    vk_session *d = s->dev;
    int L = in->layers, H = in->heads, HK = in->kv_heads, D = in->head_dim, E = in->embd;
    size_t biggest = d->t_hidden->numel > d->t_q->numel ? d->t_hidden->numel : d->t_q->numel;
    float *buf = malloc(biggest * sizeof *buf);
    if (!buf) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "trace: out of host memory");
    tappa_status st = tappa_tensor_download(d->t_hidden, buf, d->t_hidden->bytes, err);
    for (int l = 0; l <= L && !st; l++) st = trace_append(&s->hidden[l], buf + (size_t)l * VK_CHUNK * E, (size_t)t * E, err);
    tappa_tensor *blocks[4] = { d->t_qpre, d->t_q, d->t_k, d->t_v };
    trace_rows *dest[4] = { s->q_pre, s->q, s->tk, s->tv };
    for (int b = 0; b < 4 && !st; b++) {
        int heads = b < 2 ? H : HK;
        st = tappa_tensor_download(blocks[b], buf, blocks[b]->bytes, err);
        for (int l = 0; l < L && !st; l++)
            st = append_head_major(&dest[b][l], buf + (size_t)l * heads * VK_CHUNK * D, t, heads, D, err);
    }
    free(buf);
    return st;
}

/* Layers recorded per submission of a chunk (a Llama-3-8B decode step
 * records for about 1 ms, idle GPU time when it is submitted in one piece). */
#define FLUSH_LAYERS 4
/* 1: the MLP's gate and up through matvec_swiglu where it fits, one step
 * instead of the two products (side by side) and the SwiGLU step. Alone it
 * is faster (H200, f16 14336 x 4096: 65 us against 2 x 37 us), but in a
 * Llama-3-8B decode step gate, up, SwiGLU and down took 3.77 ms against
 * 3.66 (and 3.72 with 2 loads in flight a row): not on by default. */
#ifndef MODEL_FUSED_MLP
#define MODEL_FUSED_MLP 0
#endif

typedef struct chunk_args {
    tappa_session *s;
    int64_t pos; /* position of the chunk's first token */
    uint32_t t;  /* tokens in the chunk, 1..VK_CHUNK */
    bool logits;
    bool all_logits; /* every token's, else the last one's */
} chunk_args;

/* The end of a step of the forward pass: its GPU time is the stage named
 * (when profiling), and later steps see its writes. */
static void done(tvk_device *dev, const char *stage)
{
    tvk_stage(dev, stage);
    tvk_barrier(dev);
}

/* Causal attention of the chunk's tokens, one decode at a time: token i
 * sees the cache up to its own position. Each decode reads token i's rows
 * of the head-major q [H, VK_CHUNK, D] in place and writes row i of att;
 * consecutive decodes share the partial buffers, hence the barriers. */
static tappa_status record_attention(vk_session *d, tvk_device *dev, int layer, int64_t held, uint32_t t, int H, int D,
                                     tappa_error *err)
{
    tappa_status st = TAPPA_OK;
    for (uint32_t i = 0; i < t && !st; i++) {
        if (i) tvk_barrier(dev);
        st = attention_decode_record_rows(d->q, (size_t)i * D, (size_t)VK_CHUNK * D, tappa_kv_cache_keys(d->cache, layer),
                                          tappa_kv_cache_values(d->cache, layer), held + i + 1, d->att,
                                          (size_t)i * H * D, d->lse1, err);
    }
    done(dev, "attention");
    return st;
}

/* A chunk of tokens through every layer and (when asked) the LM head, recorded. */
static tappa_status record_chunk(void *p, tappa_error *err)
{
    chunk_args *a = p;
    tappa_session *s = a->s;
    const tappa_model *m = s->m;
    const tappa_model_info *in = &m->info;
    vk_session *d = s->dev;
    tvk_device *dev = m->ctx->vk;
    tappa_rope_params rp = rope_params(m);
    uint32_t t = a->t, D = (uint32_t)in->head_dim, C = VK_CHUNK;
    tappa_status st = TAPPA_OK;
    bool trace = s->tracing;
    size_t E = (size_t)in->embd, V = (size_t)in->vocab, qn = d->q->numel, kn = d->k->numel;
    if (d->x_in) {
        st = tensor_copy_range(d->x_in, 0, d->x, 0, t * E, err);
        done(dev, "embedding rows in");
    }
    /* Each token's RMSNorm scale, for the steps that apply it after the
     * products of x * weight (the norm stages this replaces). */
    rms_prescale pre = { d->x, in->eps, t };
    bool attn_prescaled = false; /* h is x * attn_norm, written by the previous layer's down projection */
    for (int l = 0; l < in->layers && !st; l++) {
        const vk_layer *w = &m->dev->layers[l];
        if (trace) st = tensor_copy_range(d->x, 0, d->t_hidden, (size_t)l * C * E, C * E, err);
        if (!attn_prescaled) {
            if (!st) st = rmsnorm_record(d->x, w->attn_norm, in->eps, d->h, err);
            done(dev, "attention norm");
        }
        if (!st) st = matvec_record(w->q, d->h, t, w->bq, false, d->q, D, C, err);
        if (!st) st = matvec_record(w->k, d->h, t, w->bk, false, d->k, D, C, err);
        if (!st) st = matvec_record(w->v, d->h, t, w->bv, false, d->v, D, C, err);
        done(dev, "q k v projections");
        if (trace && !st) { /* the queries before RoPE rotates them in place */
            st = tensor_copy_range(d->q, 0, d->t_qpre, (size_t)l * qn, qn, err);
            if (!st) st = tensor_copy_range(d->v, 0, d->t_v, (size_t)l * kn, kn, err);
            done(dev, "trace copies");
        }
        int64_t held = tappa_kv_cache_length(d->cache, l); /* fewer than pos once compressed */
        const rms_prescale *attn_pre = attn_prescaled ? &pre : NULL;
        if (!st) st = rope_record(d->q, d->q, d->rope_table, &rp, (uint32_t)a->pos, attn_pre, err);
        if (!trace && kv_cache_append_rope_fits(d->cache, l, d->k, d->v, t, d->rope_table)) {
            /* K rotated as it is appended: one step, one barrier. */
            if (!st)
                st = kv_cache_append_rope_record(d->cache, l, d->k, d->v, t, d->rope_table,
                                                 rp.layout == TAPPA_ROPE_INTERLEAVED, (uint32_t)a->pos, attn_pre, err);
            done(dev, "rope and kv-cache append");
        } else { /* tracing reads the rotated K */
            if (!st) st = rope_record(d->k, d->k, d->rope_table, &rp, (uint32_t)a->pos, NULL, err);
            done(dev, "rope");
            if (trace && !st) {
                st = tensor_copy_range(d->q, 0, d->t_q, (size_t)l * qn, qn, err);
                if (!st) st = tensor_copy_range(d->k, 0, d->t_k, (size_t)l * kn, kn, err);
            }
            if (!st) st = kv_cache_append_record(d->cache, l, d->k, d->v, t, err);
            done(dev, "kv-cache append");
        }
        if (!st) st = record_attention(d, dev, l, held, t, in->heads, in->head_dim, err);
        /* The MLP's norm without a stage of its own: the output projection
         * also writes x * weight, and SwiGLU applies each token's 1 / rms(x),
         * which the products between are linear in. A norm stage costs a
         * decode step 5.5-6.3 us a layer (H200), mostly its latency. */
        bool fold_norm = !MODEL_FUSED_MLP && matvec_norm_out_fits(w->o, t);
        if (!st)
            st = fold_norm ? matvec_norm_out_record(w->o, d->att, t, d->x, w->ffn_norm, d->h, err)
                           : matvec_record(w->o, d->att, t, NULL, true, d->x, 0, 0, err);
        done(dev, "output projection");
        if (!fold_norm) {
            if (!st) st = rmsnorm_record(d->x, w->ffn_norm, in->eps, d->h, err);
            done(dev, "mlp norm");
        }
        if (MODEL_FUSED_MLP && matvec_swiglu_fits(w->gate, w->up, t)) { /* one pass, no SwiGLU step */
            if (!st) st = matvec_swiglu_record(w->gate, w->up, d->h, t, d->gate, err);
            done(dev, "gate and up projections, swiglu");
        } else {
            if (!st) st = matvec_record(w->gate, d->h, t, NULL, false, d->gate, 0, 0, err);
            if (!st) st = matvec_record(w->up, d->h, t, NULL, false, d->up, 0, 0, err);
            done(dev, "gate and up projections");
            if (!st)
                st = fold_norm ? swiglu_prescaled_record(d->gate, d->up, &pre, d->gate, err)
                               : swiglu_record(d->gate, d->up, d->gate, err);
            done(dev, "swiglu");
        }
        /* The next layer's attention norm the same way: the down projection
         * writes x * weight, RoPE and the KV append apply the scale. Not
         * where biases follow the products (they are added unscaled) or the
         * trace records the products. */
        const vk_layer *next = l + 1 < in->layers ? &m->dev->layers[l + 1] : NULL;
        attn_prescaled = next && !trace && !next->bq && !next->bk && !next->bv && matvec_norm_out_fits(w->down, t) &&
                         kv_cache_append_rope_fits(d->cache, l + 1, d->k, d->v, t, d->rope_table);
        if (!st && attn_prescaled) st = matvec_norm_out_record(w->down, d->gate, t, d->x, next->attn_norm, d->h, err);
        else if (!st) st = matvec_record(w->down, d->gate, t, NULL, true, d->x, 0, 0, err);
        done(dev, "down projection");
        /* The GPU starts on these layers while the host records the next:
         * the first layer alone, so it does not wait for four layers'
         * recording, then every FLUSH_LAYERS. */
        if (!st && (l == 0 || l % FLUSH_LAYERS == FLUSH_LAYERS - 1)) st = tvk_flush(dev, err);
    }
    if (!st && trace) st = tensor_copy_range(d->x, 0, d->t_hidden, (size_t)in->layers * C * E, C * E, err);
    if (!st && a->logits) {
        st = rmsnorm_record(d->x, m->dev->out_norm, in->eps, d->h, err);
        done(dev, "output norm");
        if (!st) st = matvec_record(m->dev->output, d->h, t, NULL, false, d->logits, 0, 0, err);
        tvk_stage(dev, "lm head");
        if (d->logits_out) {
            size_t first = a->all_logits ? 0 : V * (t - 1);
            tvk_barrier(dev);
            if (!st) st = tensor_copy_range(d->logits, first, d->logits_out, first, V * t - first, err);
        }
    }
    return st;
}

tappa_status forward_vk(tappa_session *s, const int32_t *ids, size_t n, bool all_logits, float *logits,
                        tappa_error *err)
{
    const tappa_model *m = s->m;
    size_t E = (size_t)m->info.embd, V = (size_t)m->info.vocab;
    float *rows = malloc(sizeof(float) * E * VK_CHUNK);
    tappa_status st = rows ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (size_t done = 0; done < n && !st;) {
        uint32_t t = (uint32_t)(n - done < VK_CHUNK ? n - done : VK_CHUNK);
        bool last = done + t == n, want = all_logits || last;
        for (uint32_t i = 0; i < t; i++) weight_row(&m->embd, ids[done + i], rows + i * E);
        vk_session *d = s->dev;
        st = tensor_upload_range(d->x_in ? d->x_in : d->x, 0, E * t, rows, err);
        chunk_args a = { s, s->len, t, want, all_logits };
        if (!st) st = op_submit(m->ctx->vk, record_chunk, &a, err);
        tappa_tensor *out = d->logits_out ? d->logits_out : d->logits;
        if (!st && all_logits) st = tensor_download_range(out, 0, V * t, logits + done * V, err);
        else if (!st && last) st = tensor_download_range(out, V * (t - 1), V, logits, err);
        if (!st && s->tracing) st = read_trace(s, t, err);
        for (int l = 0; l < m->info.layers && !st; l++) s->kv_len[l] = tappa_kv_cache_length(s->dev->cache, l);
        if (!st) {
            s->len += t;
            if (s->tracing) s->traced += t;
            done += t;
        }
    }
    free(rows);
    return st;
}
