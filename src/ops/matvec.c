/* matvec: the projections of a decoder, y = W x (+ bias) (+ y), for the few
 * tokens of a decode step, with W in f32, f16, q8_0 or q4_0. */
#include <stdlib.h>
#include <string.h>

#include "../model/quant.h"
#include "ops_internal.h"
#include "tappa/matrix.h"

#define MATVEC_MAX_T 8
#ifndef MATVEC_SG_WG
#define MATVEC_SG_WG 128 /* the subgroup variant's workgroup: 4 rows of 32 lanes */
#endif
/* The subgroup variant's loads in flight per lane and row (-DMATVEC_UNROLL=4
 * to try others). H200, % of copy with unroll 2 / 4, each matrix read from
 * memory: f16 14336 x 4096 74.9 / 73.4, 4096 x 14336 67.0 / 62.6, 4096 x 4096
 * 51.4 / 49.8; q8_0 54.5 / 53.8; q4_0 23.9 / 5.5 (its 4 rows a subgroup
 * took 128 registers at 4); f32 90.6 / 91.5. Unroll 8 was slower still. */
#ifndef MATVEC_UNROLL
#define MATVEC_UNROLL 2
#endif
/* Rows per subgroup in the subgroup variant, per format (f32, f16, q8_0,
 * q4_0): the rows share each x load. H200, 14336 x 4096, % of copy with 1 /
 * 2 / 4 rows: f32 91 / 84 / 91, f16 72 (one row's path) / 67 / 63, q8_0
 * 36 / 54 / 38, q4_0 11 / 19 / 25. -DMATVEC_ROWS=2 sets all four. */
#ifdef MATVEC_ROWS
_Static_assert(MATVEC_ROWS >= 1 && MATVEC_ROWS <= 4, "matvec.comp sizes its arrays for MAX_ROWS = 4");
static const uint32_t rows_per_subgroup[4] = { MATVEC_ROWS, MATVEC_ROWS, MATVEC_ROWS, MATVEC_ROWS };
#else
static const uint32_t rows_per_subgroup[4] = { 1, 1, 2, 4 };
#endif

struct tappa_matrix {
    tappa_context *ctx;
    tappa_ggml_type type;
    int64_t rows, cols;
    tappa_tensor *w;      /* Vulkan: i32 [rows, words] (repacked) */
    tappa_tensor *scales; /* Vulkan q8_0 / q4_0: f32 [rows, cols / 32] */
    void *host;           /* CPU backend: the ggml bytes */
};

void tappa_ref_matvec(const double *w, size_t rows, size_t cols, const double *x, size_t tokens,
                      const double *bias, bool accumulate, double *y)
{
    for (size_t t = 0; t < tokens; t++)
        for (size_t r = 0; r < rows; r++) {
            double acc = bias ? bias[r] : 0;
            for (size_t c = 0; c < cols; c++) acc += w[r * cols + c] * x[t * cols + c];
            y[t * rows + r] = accumulate ? y[t * rows + r] + acc : acc;
        }
}

/* 32-bit words per row on the device. */
static int64_t row_words(tappa_ggml_type t, int64_t cols)
{
    return t == TAPPA_GGML_F32 ? cols : t == TAPPA_GGML_F16 ? cols / 2 : t == TAPPA_GGML_Q8_0 ? cols / 4 : cols / 8;
}

/* One row of ggml blocks to the device layout: values in element order, scales apart. */
static void repack_row(tappa_ggml_type t, const uint8_t *src, int64_t cols, uint32_t *words, float *scales)
{
    if (t == TAPPA_GGML_F32 || t == TAPPA_GGML_F16) {
        memcpy(words, src, tappa_ggml_bytes(t, (uint64_t)cols));
        return;
    }
    size_t block = t == TAPPA_GGML_Q8_0 ? 34 : 18;
    for (int64_t b = 0; b < cols / 32; b++) {
        const uint8_t *blk = src + (size_t)b * block;
        uint16_t h;
        memcpy(&h, blk, 2);
        scales[b] = tappa_f16_to_f32(h);
        if (t == TAPPA_GGML_Q8_0) {
            memcpy(words + 8 * b, blk + 2, 32);
        } else {
            /* ggml: byte j holds element j (low nibble) and j + 16 (high). */
            uint8_t q[32];
            for (int j = 0; j < 16; j++) {
                q[j] = blk[2 + j] & 15;
                q[j + 16] = blk[2 + j] >> 4;
            }
            for (int k = 0; k < 4; k++) {
                uint32_t w = 0;
                for (int e = 0; e < 8; e++) w |= (uint32_t)q[8 * k + e] << (4 * e);
                words[4 * b + k] = w;
            }
        }
    }
}

tappa_status tappa_matrix_create(tappa_context *ctx, tappa_ggml_type type, int64_t rows, int64_t cols,
                                 const void *data, tappa_matrix **out, tappa_error *err)
{
    *out = NULL;
    int64_t multiple = type == TAPPA_GGML_F32 ? 4 : type == TAPPA_GGML_F16 ? 8 : 32;
    if (!tappa_ggml_type_name(type) || rows < 1 || cols < 1 || cols % multiple || rows > (1 << 26) || cols > (1 << 26))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "matrix: [%lld, %lld] %s needs rows >= 1 and columns a multiple of %lld", (long long)rows,
                          (long long)cols, tappa_ggml_type_name(type) ? tappa_ggml_type_name(type) : "?",
                          (long long)multiple);
    tappa_matrix *m = calloc(1, sizeof *m);
    if (!m) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->type = type;
    m->rows = rows;
    m->cols = cols;
    size_t bytes = tappa_ggml_bytes(type, (uint64_t)(rows * cols));
    tappa_status st = TAPPA_OK;
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        if (!(m->host = malloc(bytes))) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        else memcpy(m->host, data, bytes);
    } else {
        int64_t words = row_words(type, cols), ws[2] = { rows, words }, ss[2] = { rows, cols / 32 };
        bool quant = type == TAPPA_GGML_Q8_0 || type == TAPPA_GGML_Q4_0;
        uint32_t *w = malloc((size_t)(rows * words) * 4);
        float *s = quant ? malloc((size_t)(rows * (cols / 32)) * 4) : NULL;
        if (!w || (quant && !s)) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        size_t row_bytes = tappa_ggml_bytes(type, (uint64_t)cols);
        for (int64_t r = 0; r < rows && !st; r++)
            repack_row(type, (const uint8_t *)data + (size_t)r * row_bytes, cols, w + r * words, s ? s + r * (cols / 32) : NULL);
        if (!st) st = tappa_tensor_create(ctx, TAPPA_I32, 2, ws, &m->w, err);
        if (!st) st = tappa_tensor_upload(m->w, w, (size_t)(rows * words) * 4, err);
        if (!st && quant) st = tappa_tensor_create(ctx, TAPPA_F32, 2, ss, &m->scales, err);
        if (!st && quant) st = tappa_tensor_upload(m->scales, s, (size_t)(rows * (cols / 32)) * 4, err);
        free(w);
        free(s);
    }
    if (st) {
        tappa_matrix_destroy(&m);
        return st;
    }
    *out = m;
    return TAPPA_OK;
}

void tappa_matrix_destroy(tappa_matrix **mp)
{
    if (!mp || !*mp) return;
    tappa_tensor_destroy(&(*mp)->w);
    tappa_tensor_destroy(&(*mp)->scales);
    free((*mp)->host);
    free(*mp);
    *mp = NULL;
}

int64_t tappa_matrix_rows(const tappa_matrix *m) { return m->rows; }
int64_t tappa_matrix_cols(const tappa_matrix *m) { return m->cols; }

size_t tappa_matrix_bytes(const tappa_matrix *m)
{
    size_t scales = m->type == TAPPA_GGML_Q8_0 || m->type == TAPPA_GGML_Q4_0 ? (size_t)(m->rows * (m->cols / 32)) * 4 : 0;
    return (size_t)(m->rows * row_words(m->type, m->cols)) * 4 + scales;
}

/* The subgroup size the subgroup variant runs at on dev (pinned at pipeline
 * creation where *pin), or 0 where it cannot run: subgroups need one known
 * size, the device's only one or one it can pin. */
static uint32_t subgroup_size(const tvk_device *dev, bool *pin)
{
    const tappa_device_info *info = &dev->info;
    *pin = false;
    return info->subgroup_arithmetic && info->subgroup_in_compute
               ? tvk_subgroup_for(info, 8, MATVEC_SG_WG, MATVEC_SG_WG, pin)
               : 0;
}

/* y = W x (+ bias) (+ y), or with up set the gated y = silu(W x) * (up x)
 * (subgroup variant only, no bias, no accumulation); with norm_w set, also
 * h = y * norm_w (token-major y and h, no tensor cores). */
static tappa_status record_rows(const tappa_matrix *m, const tappa_matrix *up, const tappa_tensor *x, uint32_t tokens,
                                const tappa_tensor *bias, bool accumulate, tappa_tensor *y, uint32_t head_dim,
                                uint32_t y_stride, const tappa_tensor *norm_w, tappa_tensor *h, tappa_error *err)
{
    tvk_device *dev = m->ctx->vk;
    /* A prompt chunk against f16 weights goes to tensor cores where the
     * device has them: the paths below spend T FMAs and T x loads per weight,
     * a cooperative-matrix product takes a 16 x 16 weight tile against all T
     * tokens in one instruction, so the weights' reads stay the only cost. */
    if (!up && !norm_w && m->type == TAPPA_GGML_F16 && matvec_coopmat_fits(dev, m->w, tokens))
        return matvec_coopmat_record(m->w, x, tokens, bias, accumulate, y, head_dim, y_stride, err);
    /* Subgroups of rows where subgroups have one known size: no barriers,
     * MATVEC_SG_WG / size subgroups per workgroup (the tree costs 8 barriers
     * a row, which bounded f16 at 45% of copy on the H200). */
    bool pin;
    uint32_t size = subgroup_size(dev, &pin);
    bool sg = size != 0;
    if (up && !sg) return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "matvec: the gated variant needs subgroups");
    uint32_t format = m->type == TAPPA_GGML_F32 ? 0 : m->type == TAPPA_GGML_F16 ? 1
                                                                           : m->type == TAPPA_GGML_Q8_0 ? 2 : 3;
    /* Gated: a row of each matrix per subgroup, already two rows' loads in flight. */
    uint32_t rows_sg = up ? 1 : rows_per_subgroup[format];
    uint32_t wg = sg ? MATVEC_SG_WG : op_workgroup_size(dev);
    uint32_t rows_per_wg = sg ? MATVEC_SG_WG / size * rows_sg : 1;
    uint32_t words = (uint32_t)row_words(m->type, m->cols);
    uint32_t per = format == 0 ? 4 : format == 1 ? 8 : format == 2 ? 16 : 32;
    uint32_t lanes = sg ? size : wg;
    tappa_status st = op_check_loops(dev, (uint64_t)(m->cols / per) / lanes * (tokens + 1) + 64, "matvec", err);
    uint32_t spec[5] = { wg, format, MATVEC_UNROLL, rows_sg, up != NULL };
    tvk_pipeline *p;
    if (!st)
        st = sg ? tvk_pipeline_get_sized(dev, SHADER(matvec_sg), 7, spec, 5, pin ? size : 0, &p, err)
                : tvk_pipeline_get(dev, SHADER(matvec), 7, spec, 2, &p, err);
    size_t xs, xo, ys, yo, bs = 0, bo = 0;
    if (!st) st = op_locate(x, 0, (size_t)tokens * (size_t)m->cols, &xs, &xo, err);
    if (!st) st = op_locate(y, 0, y->numel, &ys, &yo, err);
    if (!st && bias) st = op_locate(bias, 0, (size_t)m->rows, &bs, &bo, err);
    size_t ns = 0, no = 0, hs = 0, ho = 0;
    if (!st && norm_w) st = op_locate(norm_w, 0, (size_t)m->rows, &ns, &no, err);
    if (!st && norm_w) st = op_locate(h, 0, (size_t)tokens * (size_t)m->rows, &hs, &ho, err);
    if (!st && (xo % 4 || bo))
        st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "matvec: x must start on a 16-byte boundary of its buffer");
    /* Segments of the weights hold whole rows; their scales are looked up per segment. */
    for (size_t i = 0; i < m->w->n_segments && !st; i++) {
        const tensor_segment *s = &m->w->segments[i];
        uint32_t row0 = (uint32_t)(s->first / words), rows = (uint32_t)(s->count / words);
        size_t ss = 0, so = 0;
        if (m->scales) st = op_locate(m->scales, (size_t)row0 * (size_t)(m->cols / 32), (size_t)rows * (size_t)(m->cols / 32), &ss, &so, err);
        if (st) break;
        /* Same type and shape: up's segments and scales split where m's do. */
        const tappa_matrix *m2 = up ? up : m;
        tvk_binding b5 = norm_w ? tensor_binding(norm_w, ns) : tensor_binding(m2->w, i);
        tvk_binding b6 = norm_w ? tensor_binding(h, hs) : tensor_binding(m2->scales ? m2->scales : m2->w, ss);
        tvk_binding b[7] = { tensor_binding(m->w, i), tensor_binding(m->scales ? m->scales : m->w, ss),
                             tensor_binding(x, xs), tensor_binding(bias ? bias : x, bs), tensor_binding(y, ys), b5, b6 };
        uint32_t push[14] = { rows, row0, (uint32_t)m->cols, 0, (uint32_t)so, tokens, y_stride ? y_stride : (uint32_t)m->rows,
                              (uint32_t)yo, accumulate, bias != NULL, head_dim, norm_w != NULL, (uint32_t)no,
                              (uint32_t)ho };
        uint32_t gx, gy;
        tvk_grid(dev, (rows + rows_per_wg - 1) / rows_per_wg, &gx, &gy);
        st = tvk_dispatch(dev, p, b, push, sizeof push, gx, gy, 1, err);
    }
    (void)xo;
    return st;
}

tappa_status matvec_record(const tappa_matrix *m, const tappa_tensor *x, uint32_t tokens, const tappa_tensor *bias,
                           bool accumulate, tappa_tensor *y, uint32_t head_dim, uint32_t y_stride, tappa_error *err)
{
    return record_rows(m, NULL, x, tokens, bias, accumulate, y, head_dim, y_stride, NULL, NULL, err);
}

bool matvec_norm_out_fits(const tappa_matrix *m, uint32_t tokens)
{
    tvk_device *dev = m->ctx->vk;
    return dev && tokens >= 1 && tokens <= MATVEC_MAX_T &&
           !(m->type == TAPPA_GGML_F16 && matvec_coopmat_fits(dev, m->w, tokens));
}

tappa_status matvec_norm_out_record(const tappa_matrix *m, const tappa_tensor *x, uint32_t tokens, tappa_tensor *y,
                                    const tappa_tensor *norm_weight, tappa_tensor *h, tappa_error *err)
{
    return record_rows(m, NULL, x, tokens, NULL, true, y, 0, 0, norm_weight, h, err);
}

bool matvec_swiglu_fits(const tappa_matrix *gate, const tappa_matrix *up, uint32_t tokens)
{
    tvk_device *dev = gate->ctx->vk;
    bool pin;
    /* A prompt chunk that tensor cores take is faster there, SwiGLU apart. */
    return dev && subgroup_size(dev, &pin) && gate->type == up->type && gate->rows == up->rows &&
           gate->cols == up->cols && !(gate->type == TAPPA_GGML_F16 && matvec_coopmat_fits(dev, gate->w, tokens));
}

tappa_status matvec_swiglu_record(const tappa_matrix *gate, const tappa_matrix *up, const tappa_tensor *x,
                                  uint32_t tokens, tappa_tensor *y, tappa_error *err)
{
    return record_rows(gate, up, x, tokens, NULL, false, y, 0, 0, NULL, NULL, err);
}

/* m as f64 [rows, cols] (CPU backend), or NULL when out of memory. */
static double *host_weights(const tappa_matrix *m)
{
    size_t R = (size_t)m->rows, C = (size_t)m->cols;
    double *w = malloc(R * C * sizeof *w);
    float *row = malloc(C * sizeof *row);
    size_t row_bytes = tappa_ggml_bytes(m->type, (uint64_t)C);
    for (size_t r = 0; w && row && r < R; r++) {
        quant_to_f32(m->type, (const uint8_t *)m->host + r * row_bytes, C, row);
        for (size_t c = 0; c < C; c++) w[r * C + c] = row[c];
    }
    if (!row) {
        free(w);
        w = NULL;
    }
    free(row);
    return w;
}

/* Tokens of x against m (x [T, cols] f32, 1 <= T <= 8, y T * rows f32), 0 if the shapes do not fit. */
static size_t check_shapes(const tappa_matrix *m, const tappa_tensor *x, const tappa_tensor *y)
{
    size_t tokens = x->numel / (size_t)m->cols;
    if (x->dtype != TAPPA_F32 || y->dtype != TAPPA_F32 || x->numel % (size_t)m->cols || tokens < 1 ||
        tokens > MATVEC_MAX_T || y->numel != tokens * (size_t)m->rows)
        return 0;
    return tokens;
}

typedef struct mv_args {
    const tappa_matrix *m, *up;
    const tappa_tensor *x, *bias;
    bool accumulate;
    tappa_tensor *y;
    tappa_tensor *g, *u;     /* gated without the fused variant: the two products */
    const tappa_tensor *nw;  /* norm_out: the norm's weight, and h */
    tappa_tensor *h;
} mv_args;

static tappa_status record(void *p, tappa_error *err)
{
    mv_args *a = p;
    uint32_t tokens = (uint32_t)(a->x->numel / (size_t)a->m->cols);
    if (a->nw) return matvec_norm_out_record(a->m, a->x, tokens, a->y, a->nw, a->h, err);
    if (!a->up) return matvec_record(a->m, a->x, tokens, a->bias, a->accumulate, a->y, 0, 0, err);
    if (!a->g) return matvec_swiglu_record(a->m, a->up, a->x, tokens, a->y, err);
    tappa_status st = matvec_record(a->m, a->x, tokens, NULL, false, a->g, 0, 0, err);
    if (!st) st = matvec_record(a->up, a->x, tokens, NULL, false, a->u, 0, 0, err);
    tvk_barrier(a->m->ctx->vk);
    return st ? st : swiglu_record(a->g, a->u, a->y, err);
}

tappa_status tappa_matvec(const tappa_matrix *m, const tappa_tensor *x, const tappa_tensor *bias, bool accumulate,
                          tappa_tensor *y, tappa_error *err)
{
    tappa_context *ctx = m->ctx;
    if (x->ctx != ctx || y->ctx != ctx || (bias && bias->ctx != ctx))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "matvec: tensors belong to different contexts");
    size_t tokens = check_shapes(m, x, y);
    if (!tokens || (bias && (bias->dtype != TAPPA_F32 || bias->numel != (size_t)m->rows)))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "matvec: x [T, %lld] f32 with 1 <= T <= %d, y [T, %lld] f32, bias [%lld] f32 or none",
                          (long long)m->cols, MATVEC_MAX_T, (long long)m->rows, (long long)m->rows);
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *w = host_weights(m), *xv = NULL, *yv = NULL, *bv = NULL;
        tappa_status st = w ? op_to_double(x, &xv, err) : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        if (!st) st = op_to_double(y, &yv, err);
        if (!st && bias) st = op_to_double(bias, &bv, err);
        if (!st) {
            tappa_ref_matvec(w, (size_t)m->rows, (size_t)m->cols, xv, tokens, bv, accumulate, yv);
            st = op_from_double(y, yv, err);
        }
        free(w); free(xv); free(yv); free(bv);
        return st;
    }
    mv_args args = { m, NULL, x, bias, accumulate, y, NULL, NULL, NULL, NULL };
    return op_submit(ctx->vk, record, &args, err);
}

tappa_status tappa_matvec_norm_out(const tappa_matrix *m, const tappa_tensor *x, tappa_tensor *y,
                                   const tappa_tensor *norm_weight, tappa_tensor *h, tappa_error *err)
{
    tappa_context *ctx = m->ctx;
    if (x->ctx != ctx || y->ctx != ctx || norm_weight->ctx != ctx || h->ctx != ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "matvec_norm_out: tensors belong to different contexts");
    size_t tokens = check_shapes(m, x, y);
    if (!tokens || norm_weight->dtype != TAPPA_F32 || norm_weight->numel != (size_t)m->rows || h->dtype != TAPPA_F32 ||
        h->numel != y->numel)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "matvec_norm_out: x [T, %lld] f32 with 1 <= T <= %d, y and h [T, %lld] f32, norm weight [%lld] f32",
                          (long long)m->cols, MATVEC_MAX_T, (long long)m->rows, (long long)m->rows);
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *w = host_weights(m), *xv = NULL, *yv = NULL, *nv = NULL;
        tappa_status st = w ? op_to_double(x, &xv, err) : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        if (!st) st = op_to_double(y, &yv, err);
        if (!st) st = op_to_double(norm_weight, &nv, err);
        if (!st) {
            tappa_ref_matvec(w, (size_t)m->rows, (size_t)m->cols, xv, tokens, NULL, true, yv);
            st = op_from_double(y, yv, err);
            for (size_t i = 0; i < y->numel; i++) yv[i] *= nv[i % (size_t)m->rows];
            if (!st) st = op_from_double(h, yv, err);
        }
        free(w); free(xv); free(yv); free(nv);
        return st;
    }
    mv_args args = { m, NULL, x, NULL, true, y, NULL, NULL, norm_weight, h };
    return op_submit(ctx->vk, record, &args, err);
}

tappa_status tappa_matvec_swiglu(const tappa_matrix *gate, const tappa_matrix *up, const tappa_tensor *x,
                                 tappa_tensor *y, tappa_error *err)
{
    tappa_context *ctx = gate->ctx;
    if (up->ctx != ctx || x->ctx != ctx || y->ctx != ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "matvec_swiglu: tensors belong to different contexts");
    size_t tokens = check_shapes(gate, x, y);
    if (!tokens || up->rows != gate->rows || up->cols != gate->cols)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "matvec_swiglu: gate and up [%lld, %lld] alike, x [T, %lld] f32 with 1 <= T <= %d, y [T, %lld] f32",
                          (long long)gate->rows, (long long)gate->cols, (long long)gate->cols, MATVEC_MAX_T,
                          (long long)gate->rows);
    size_t n = tokens * (size_t)gate->rows;
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *wg = host_weights(gate), *wu = host_weights(up), *xv = NULL;
        double *g = malloc(n * sizeof *g), *u = malloc(n * sizeof *u);
        tappa_status st = wg && wu && g && u ? op_to_double(x, &xv, err)
                                             : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        if (!st) {
            tappa_ref_matvec(wg, (size_t)gate->rows, (size_t)gate->cols, xv, tokens, NULL, false, g);
            tappa_ref_matvec(wu, (size_t)up->rows, (size_t)up->cols, xv, tokens, NULL, false, u);
            tappa_ref_swiglu(g, u, n, g);
            st = op_from_double(y, g, err);
        }
        free(wg); free(wu); free(xv); free(g); free(u);
        return st;
    }
    mv_args args = { gate, up, x, NULL, false, y, NULL, NULL, NULL, NULL };
    tappa_status st = TAPPA_OK;
    /* Where the fused variant cannot run (no subgroups, different types, a
     * chunk for tensor cores): both products, then SwiGLU. */
    if (!matvec_swiglu_fits(gate, up, (uint32_t)tokens)) {
        int64_t shape[2] = { (int64_t)tokens, gate->rows };
        st = tappa_tensor_create(ctx, TAPPA_F32, 2, shape, &args.g, err);
        if (!st) st = tappa_tensor_create(ctx, TAPPA_F32, 2, shape, &args.u, err);
    }
    if (!st) st = op_submit(ctx->vk, record, &args, err);
    tappa_tensor_destroy(&args.g);
    tappa_tensor_destroy(&args.u);
    return st;
}
