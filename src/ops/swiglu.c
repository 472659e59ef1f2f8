/* swiglu: the gate of a Llama MLP, silu(gate) * up, element by element. */
#include <math.h>
#include <stdlib.h>

#include "ops_internal.h"

void tappa_ref_swiglu(const double *gate, const double *up, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0 + exp(-gate[i])) * up[i];
}

typedef struct sg_args {
    const tappa_tensor *gate, *up;
    tappa_tensor *out;
} sg_args;

tappa_status swiglu_record(const tappa_tensor *gate, const tappa_tensor *up, tappa_tensor *out, tappa_error *err)
{
    tvk_device *dev = gate->ctx->vk;
    uint32_t wg = op_workgroup_size(dev), n = (uint32_t)gate->numel;
    tvk_pipeline *p;
    size_t gs, go, us, uo, os, oo;
    tappa_status st = tvk_pipeline_get(dev, SHADER(swiglu), 3, &wg, 1, &p, err);
    if (!st) st = op_locate(gate, 0, n, &gs, &go, err);
    if (!st) st = op_locate(up, 0, n, &us, &uo, err);
    if (!st) st = op_locate(out, 0, n, &os, &oo, err);
    if (st) return st;
    tvk_binding b[3] = { tensor_binding(gate, gs), tensor_binding(up, us), tensor_binding(out, os) };
    uint32_t push[4] = { n, (uint32_t)go, (uint32_t)uo, (uint32_t)oo };
    uint32_t gx, gy;
    tvk_grid(dev, (n + (uint64_t)wg - 1) / wg, &gx, &gy);
    return tvk_dispatch(dev, p, b, push, sizeof push, gx, gy, 1, err);
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
