/* qsim_pairwise: the q-similarity modes that need every pair of queries
 * (euclidean, l1, rbf, angular, kl; SPEC.md), O(T^2 D) per head. */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

#define PAIR_ROWS 4 /* ROWS of qsim_pairwise.comp */
#define PI 3.14159265358979323846

/* Softmax of x over d, clamped at 1e-8 and renormalised (SPEC.md, kl). */
static void kl_distribution(const double *x, double *p, size_t d)
{
    double m = -INFINITY, s = 0, z = 0;
    for (size_t c = 0; c < d; c++) m = x[c] > m ? x[c] : m;
    for (size_t c = 0; c < d; c++) s += exp(x[c] - m);
    for (size_t c = 0; c < d; c++) z += (p[c] = fmax(exp(x[c] - m) / s, 1e-8));
    for (size_t c = 0; c < d; c++) p[c] /= z;
}

static double pair_value(const double *a, const double *b, const double *pa, const double *pb,
                         size_t d, tappa_qsim_mode mode, double sigma)
{
    double acc = 0, aa = 0, bb = 0;
    for (size_t c = 0; c < d; c++) {
        switch (mode) {
        case TAPPA_QSIM_L1: acc += fabs(a[c] - b[c]); break;
        case TAPPA_QSIM_ANGULAR: acc += a[c] * b[c]; aa += a[c] * a[c]; bb += b[c] * b[c]; break;
        case TAPPA_QSIM_KL: acc += (pa[c] - pb[c]) * (log(pa[c]) - log(pb[c])); break;
        default: acc += (a[c] - b[c]) * (a[c] - b[c]); break;
        }
    }
    switch (mode) {
    case TAPPA_QSIM_EUCLIDEAN: return sqrt(acc);
    case TAPPA_QSIM_L1: return acc;
    case TAPPA_QSIM_RBF: return exp(-acc / (2 * sigma * sigma));
    case TAPPA_QSIM_ANGULAR:
        return acos(fmin(1.0, fmax(-1.0, acc / (fmax(sqrt(aa), 1e-8) * fmax(sqrt(bb), 1e-8))))) / PI;
    default: return 0.5 * acc;
    }
}

void qsim_pairwise_reference(const double *q, double *out, size_t heads, size_t t, size_t d,
                             tappa_qsim_mode mode, double sigma)
{
    double *p = mode == TAPPA_QSIM_KL ? malloc(t * d * sizeof *p + 1) : NULL; /* (t, d) */
    for (size_t h = 0; h < heads; h++) {
        const double *qh = q + h * t * d; /* (t, d) */
        if (t < 2 || (mode == TAPPA_QSIM_KL && !p)) {
            out[h] = 0;
            continue;
        }
        if (p)
            for (size_t i = 0; i < t; i++) kl_distribution(qh + i * d, p + i * d, d);
        double sum = 0;
        for (size_t i = 0; i < t; i++)
            for (size_t j = 0; j < t; j++)
                if (i != j)
                    sum += pair_value(qh + i * d, qh + j * d, p ? p + i * d : NULL,
                                      p ? p + j * d : NULL, d, mode, sigma);
        out[h] = sum / ((double)t * (double)(t - 1));
    }
    free(p);
}

typedef struct pair_args {
    const tappa_tensor *q;
    tappa_tensor *out, *dist, *part;
    tappa_qsim_mode mode;
    double sigma;
} pair_args;

static tappa_status record(void *p, tappa_error *err)
{
    pair_args *a = p;
    return qsim_pairwise_record(a->q, a->out, a->dist, a->part, a->mode, a->sigma, err);
}

tappa_status qsim_pairwise_record(const tappa_tensor *q, tappa_tensor *out, tappa_tensor *dist,
                                  tappa_tensor *part, tappa_qsim_mode mode, double sigma,
                                  tappa_error *err)
{
    const pair_args args = { q, out, dist, part, mode, sigma }, *a = &args;
    tvk_device *dev = q->ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    uint32_t t = (uint32_t)q->shape[1], d = (uint32_t)q->shape[2];
    uint32_t blocks = (t + PAIR_ROWS - 1) / PAIR_ROWS;
    size_t head = (size_t)t * d;
    tvk_pipeline *pass[3];
    tappa_status st = TAPPA_OK;
    for (uint32_t i = 0; i < 3 && !st; i++) {
        uint32_t spec[3] = { wg, i, d };
        st = q->dtype == TAPPA_F16
                 ? tvk_pipeline_get(dev, SHADER(qsim_pairwise_f16), 4, spec, 3, &pass[i], err)
                 : tvk_pipeline_get(dev, SHADER(qsim_pairwise_f32), 4, spec, 3, &pass[i], err);
    }
    for (size_t seg = 0; seg < q->n_segments && !st; seg++) {
        uint32_t heads = (uint32_t)(q->segments[seg].count / head);
        tvk_binding b[4] = { tensor_binding(q, seg), tensor_binding(a->dist, 0),
                             tensor_binding(a->part, 0), tensor_binding(a->out, 0) };
        struct {
            uint32_t heads, head0, t, mode;
            float inv_two_sigma_sq;
            uint32_t blocks;
        } push = { heads, (uint32_t)(q->segments[seg].first / head), t, (uint32_t)a->mode,
                   (float)(1.0 / (2.0 * a->sigma * a->sigma)), blocks };
        uint32_t gx, gy;
        if (seg) tvk_barrier(dev); /* the scratch is reused per segment */
        if (a->mode == TAPPA_QSIM_KL) {
            tvk_grid(dev, ((uint64_t)heads * t + wg - 1) / wg, &gx, &gy);
            st = tvk_dispatch(dev, pass[0], b, &push, sizeof push, gx, gy, 1, err);
            tvk_barrier(dev);
        }
        tvk_grid(dev, (uint64_t)heads * blocks, &gx, &gy);
        if (!st) st = tvk_dispatch(dev, pass[1], b, &push, sizeof push, gx, gy, 1, err);
        tvk_barrier(dev);
        tvk_grid(dev, heads, &gx, &gy);
        if (!st) st = tvk_dispatch(dev, pass[2], b, &push, sizeof push, gx, gy, 1, err);
    }
    return st;
}

tappa_status qsim_pairwise_scratch(const tappa_tensor *q, tappa_qsim_mode mode, tappa_tensor **dist,
                                   tappa_tensor **part, tappa_error *err)
{
    int64_t t = q->shape[1], d = q->shape[2];
    size_t head = (size_t)(t * d), seg_heads = 0;
    for (size_t i = 0; i < q->n_segments; i++)
        if (q->segments[i].count / head > seg_heads) seg_heads = q->segments[i].count / head;
    int64_t blocks = (t + PAIR_ROWS - 1) / PAIR_ROWS;
    int64_t dist_elems = mode == TAPPA_QSIM_KL ? (int64_t)seg_heads * t * 2 * d : 1;
    int64_t part_elems = (int64_t)seg_heads * blocks;
    *dist = *part = NULL;
    tappa_status st = tappa_tensor_create(q->ctx, TAPPA_F32, 1, &dist_elems, dist, err);
    if (!st) st = tappa_tensor_create(q->ctx, TAPPA_F32, 1, &part_elems, part, err);
    if (!st && ((*dist)->n_segments > 1 || (*part)->n_segments > 1))
        st = tappa_fail(err, TAPPA_ERR_LIMIT, "qsim: kl scratch exceeds one binding on %s", q->ctx->name);
    if (st) {
        tappa_tensor_destroy(dist);
        tappa_tensor_destroy(part);
    }
    return st;
}

tappa_status qsim_pairwise_run(const tappa_tensor *q, tappa_tensor *out, tappa_qsim_mode mode,
                               double sigma, tappa_error *err)
{
    tappa_context *ctx = q->ctx;
    tvk_device *dev = ctx->vk;
    uint32_t wg = op_workgroup_size(dev);
    int64_t t = q->shape[1], d = q->shape[2];
    size_t head = (size_t)(t * d);
    if (d > 256) return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "qsim: head dim %lld above 256", (long long)d);
    if (head == 0 || q->unit % head)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "qsim: one head (%lld x %lld) exceeds one binding on %s",
                          (long long)t, (long long)d, ctx->name);
    /* Pair pass: every key row per row block, d multiply-adds each. */
    tappa_status st = op_check_loops(dev, ((uint64_t)t + wg - 1) / wg * PAIR_ROWS * (d + 1) + 64,
                                     "qsim (pairwise)", err);
    if (st) return st;
    pair_args args = { q, out, NULL, NULL, mode, sigma };
    st = qsim_pairwise_scratch(q, mode, &args.dist, &args.part, err);
    if (!st) st = op_submit(dev, record, &args, err);
    tappa_tensor_destroy(&args.dist);
    tappa_tensor_destroy(&args.part);
    return st;
}
