/* The forward pass on the host, the reference the Vulkan pass is checked
 * against: f32 activations, float64 dot products, one token at a time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* y[r] = w[r] . x (+ bias[r]) for every row of w; row is scratch of cols floats. */
static void matvec(const weight *w, const weight *bias, const float *x, float *y, float *row)
{
    const float *b = bias && bias->data ? bias->data : NULL; /* biases stay f32 */
    for (int64_t r = 0; r < w->rows; r++) {
        weight_row(w, r, row);
        double acc = b ? b[r] : 0;
        for (int64_t c = 0; c < w->cols; c++) acc += (double)row[c] * x[c];
        y[r] = (float)acc;
    }
}

/* transformers' RMSNorm: x / sqrt(mean(x^2) + eps), times the weight. */
static void rmsnorm(const float *x, const weight *w, float eps, int n, float *y)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    const float *g = w->data;
    for (int i = 0; i < n; i++) y[i] = x[i] * scale * g[i];
}

/* Rotate each head of x (heads, d) for position pos. */
static void rope(const tappa_model *m, float *x, int heads, int64_t pos)
{
    const tappa_model_info *in = &m->info;
    int d = in->head_dim, half = d / 2;
    for (int i = 0; i < half; i++) {
        double freq = pow((double)in->rope_base, -2.0 * i / d);
        if (m->rope_freqs) freq /= m->rope_freqs[i];
        double angle = (double)pos / in->rope_scale * freq;
        float c = (float)cos(angle), s = (float)sin(angle);
        for (int h = 0; h < heads; h++) {
            float *v = x + (size_t)h * d;
            int a = in->rope_interleaved ? 2 * i : i, b = in->rope_interleaved ? 2 * i + 1 : i + half;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

tappa_status forward_cpu(tappa_session *s, const int32_t *ids, size_t n, bool all_logits, float *logits,
                         tappa_error *err)
{
    const tappa_model *m = s->m;
    const tappa_model_info *in = &m->info;
    int E = in->embd, D = in->head_dim, H = in->heads, HK = in->kv_heads, F = in->ffn, V = in->vocab;
    int widest = E > F ? E : F;
    widest = widest > H * D ? widest : H * D;
    float *x = malloc(sizeof(float) * E), *h = malloc(sizeof(float) * widest), *q = malloc(sizeof(float) * H * D);
    float *k = malloc(sizeof(float) * HK * D), *v = malloc(sizeof(float) * HK * D), *att = malloc(sizeof(float) * H * D);
    float *gate = malloc(sizeof(float) * F), *up = malloc(sizeof(float) * F), *row = malloc(sizeof(float) * widest);
    float *tmp = malloc(sizeof(float) * widest);
    double *p = malloc(sizeof(double) * (size_t)s->cap);
    tappa_status st = (x && h && q && k && v && att && gate && up && row && tmp && p)
                          ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "forward: out of host memory");
    for (size_t t = 0; t < n && !st; t++) {
        int64_t pos = s->len;
        weight_row(&m->embd, ids[t], x);
        if (s->tracing) st = trace_append(&s->hidden[0], x, (size_t)E, err);
        for (int l = 0; l < in->layers && !st; l++) {
            const layer_weights *w = &m->layers[l];
            rmsnorm(x, &w->attn_norm, in->eps, E, h);
            matvec(&w->q, &w->bq, h, q, row);
            matvec(&w->k, &w->bk, h, k, row);
            matvec(&w->v, &w->bv, h, v, row);
            if (s->tracing) st = trace_append(&s->q_pre[l], q, (size_t)H * D, err);
            rope(m, q, H, pos);
            rope(m, k, HK, pos);
            if (s->tracing && !st) st = trace_append(&s->q[l], q, (size_t)H * D, err);
            if (s->tracing && !st) st = trace_append(&s->tk[l], k, (size_t)HK * D, err);
            if (s->tracing && !st) st = trace_append(&s->tv[l], v, (size_t)HK * D, err);
            /* The cache: (layer, kv head, slot, D); a compressed layer holds fewer slots than positions. */
            int64_t slot = s->kv_len[l];
            for (int kh = 0; kh < HK; kh++) {
                size_t at = (((size_t)l * HK + kh) * (size_t)s->cap + (size_t)slot) * D;
                memcpy(s->k + at, k + (size_t)kh * D, sizeof(float) * D);
                memcpy(s->v + at, v + (size_t)kh * D, sizeof(float) * D);
            }
            for (int hh = 0; hh < H; hh++) {
                int kh = hh / (H / HK);
                const float *kc = s->k + ((size_t)l * HK + kh) * (size_t)s->cap * D;
                const float *vc = s->v + ((size_t)l * HK + kh) * (size_t)s->cap * D;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j <= slot; j++) {
                    double dot = 0;
                    for (int c = 0; c < D; c++) dot += (double)q[hh * D + c] * kc[(size_t)j * D + c];
                    p[j] = dot / sqrt((double)D);
                    mx = p[j] > mx ? p[j] : mx;
                }
                for (int64_t j = 0; j <= slot; j++) sum += (p[j] = exp(p[j] - mx));
                for (int c = 0; c < D; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j <= slot; j++) acc += p[j] * vc[(size_t)j * D + c];
                    att[hh * D + c] = (float)(acc / sum);
                }
            }
            s->kv_len[l] = slot + 1;
            matvec(&w->o, NULL, att, tmp, row);
            for (int i = 0; i < E; i++) x[i] += tmp[i];
            rmsnorm(x, &w->ffn_norm, in->eps, E, h);
            matvec(&w->gate, NULL, h, gate, row);
            matvec(&w->up, NULL, h, up, row);
            for (int i = 0; i < F; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i]; /* SwiGLU */
            matvec(&w->down, NULL, gate, tmp, row);
            for (int i = 0; i < E; i++) x[i] += tmp[i];
            if (s->tracing) st = trace_append(&s->hidden[l + 1], x, (size_t)E, err);
        }
        if (!st && (all_logits || t == n - 1)) {
            rmsnorm(x, &m->out_norm, in->eps, E, h);
            matvec(&m->output, NULL, h, logits + (all_logits ? t * (size_t)V : 0), row);
        }
        if (!st) {
            s->len++;
            if (s->tracing) s->traced++;
        }
    }
    free(x); free(h); free(q); free(k); free(v); free(att); free(gate); free(up); free(row); free(tmp); free(p);
    return st;
}
