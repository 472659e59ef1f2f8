/* swiglu: the gate of a Llama MLP, silu(gate) * up, element by element. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

void tappa_ref_swiglu(const double *gate, const double *up, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0 + exp(-gate[i])) * up[i];
}

typedef struct sg_args {
    const tappa_tensor *gate, *up;
    tappa_tensor *out;
} sg_args;

void tappa_ref_swiglu_prescaled(const double *gate, const double *up, const double *x, size_t tokens, size_t n,
                                size_t embd, double eps, double *out)
{
    for (size_t t = 0; t < tokens; t++) {
        double s = tappa_ref_rms_scale(x + t * embd, embd, eps);
        for (size_t i = 0; i < n; i++) {
            double g = s * gate[t * n + i];
            out[t * n + i] = g / (1.0 + exp(-g)) * (s * up[t * n + i]);
        }
    }
}

/* n elements of gate, up and out from their first; with x, `tokens` rows of
 * n each, scaled by 1 / rms of x's rows (PRESCALE). */
static tappa_status record_rows(const tappa_tensor *gate, const tappa_tensor *up, const tappa_tensor *x, double eps,
                                uint32_t tokens, uint32_t n, tappa_tensor *out, tappa_error *err)
{
    tvk_device *dev = gate->ctx->vk;
    uint32_t wg = op_workgroup_size(dev), embd = x ? (uint32_t)(x->numel / (size_t)x->shape[0]) : 0;
    uint32_t spec[2] = { wg, x != NULL };
    size_t total = (size_t)n * tokens;
    tvk_pipeline *p;
    size_t gs, go, us, uo, os, oo, xs = 0, xo = 0;
    tappa_status st = tvk_pipeline_get(dev, SHADER(swiglu), 4, spec, 2, &p, err);
    if (!st) st = op_locate(gate, 0, total, &gs, &go, err);
    if (!st) st = op_locate(up, 0, total, &us, &uo, err);
    if (!st) st = op_locate(out, 0, total, &os, &oo, err);
    if (!st && x) st = op_locate(x, 0, (size_t)embd * tokens, &xs, &xo, err);
    if (st) return st;
    tvk_binding b[4] = { tensor_binding(gate, gs), tensor_binding(up, us), tensor_binding(out, os),
                         tensor_binding(x ? x : gate, x ? xs : gs) };
    uint32_t push[7] = { n, (uint32_t)go, (uint32_t)uo, (uint32_t)oo, embd, (uint32_t)xo, 0 };
    float e = (float)eps;
    memcpy(&push[6], &e, sizeof e);
    uint32_t gx, gy;
    tvk_grid(dev, (n + (uint64_t)wg - 1) / wg, &gx, &gy);
    return tvk_dispatch(dev, p, b, push, sizeof push, gx, gy, tokens, err);
}

tappa_status swiglu_record(const tappa_tensor *gate, const tappa_tensor *up, tappa_tensor *out, tappa_error *err)
{
    return record_rows(gate, up, NULL, 0, 1, (uint32_t)gate->numel, out, err);
}

tappa_status swiglu_prescaled_record(const tappa_tensor *gate, const tappa_tensor *up, const rms_prescale *pre,
                                     tappa_tensor *out, tappa_error *err)
{
    return record_rows(gate, up, pre->x, pre->eps, pre->tokens, (uint32_t)(gate->numel / (size_t)gate->shape[0]), out,
                       err);
}

static tappa_status record(void *p, tappa_error *err)
{
    sg_args *a = p;
    return swiglu_record(a->gate, a->up, a->out, err);
}

tappa_status tappa_swiglu(const tappa_tensor *gate, const tappa_tensor *up, tappa_tensor *out, tappa_error *err)
{
    tappa_context *ctx = gate->ctx;
    if (up->ctx != ctx || out->ctx != ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "swiglu: tensors belong to different contexts");
    if (gate->dtype != TAPPA_F32 || up->dtype != TAPPA_F32 || out->dtype != TAPPA_F32 || up->numel != gate->numel ||
        out->numel != gate->numel || gate->numel > UINT32_MAX)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "swiglu: gate, up and out of one size, f32");
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *g = NULL, *u = NULL, *o = malloc(gate->numel * sizeof *o + 1);
        tappa_status st = o ? op_to_double(gate, &g, err) : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        if (!st) st = op_to_double(up, &u, err);
        if (!st) {
            tappa_ref_swiglu(g, u, gate->numel, o);
            st = op_from_double(out, o, err);
        }
        free(g);
        free(u);
        free(o);
        return st;
    }
    sg_args args = { gate, up, out };
    return op_submit(ctx->vk, record, &args, err);
}

typedef struct sgp_args {
    const tappa_tensor *gate, *up, *x;
    double eps;
    tappa_tensor *out;
} sgp_args;

static tappa_status record_prescaled(void *p, tappa_error *err)
{
    sgp_args *a = p;
    rms_prescale pre = { a->x, a->eps, (uint32_t)a->gate->shape[0] };
    return swiglu_prescaled_record(a->gate, a->up, &pre, a->out, err);
}

tappa_status tappa_swiglu_prescaled(const tappa_tensor *gate, const tappa_tensor *up, const tappa_tensor *x,
                                    double eps, tappa_tensor *out, tappa_error *err)
{
    tappa_context *ctx = gate->ctx;
    if (up->ctx != ctx || x->ctx != ctx || out->ctx != ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "swiglu_prescaled: tensors belong to different contexts");
    bool f32 = gate->dtype == TAPPA_F32 && up->dtype == TAPPA_F32 && x->dtype == TAPPA_F32 && out->dtype == TAPPA_F32;
    if (!f32 || gate->ndim != 2 || x->ndim != 2 || up->numel != gate->numel || out->numel != gate->numel ||
        x->shape[0] != gate->shape[0] || gate->numel > UINT32_MAX || x->numel > UINT32_MAX || gate->shape[0] > 65535 ||
        !(eps >= 0))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "swiglu_prescaled: gate, up and out [T, n] alike, x [T, embd], all f32, T <= 65535, eps >= 0");
    size_t tokens = (size_t)gate->shape[0], n = (size_t)gate->shape[1], embd = (size_t)x->shape[1];
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        double *g = NULL, *u = NULL, *xv = NULL, *o = malloc(gate->numel * sizeof *o + 1);
        tappa_status st = o ? op_to_double(gate, &g, err) : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        if (!st) st = op_to_double(up, &u, err);
        if (!st) st = op_to_double(x, &xv, err);
        if (!st) {
            tappa_ref_swiglu_prescaled(g, u, xv, tokens, n, embd, eps, o);
            st = op_from_double(out, o, err);
        }
        free(g); free(u); free(xv); free(o);
        return st;
    }
    sgp_args args = { gate, up, x, eps, out };
    return op_submit(ctx->vk, record_prescaled, &args, err);
}
