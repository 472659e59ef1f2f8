#include <stdlib.h>

#include "ops_internal.h"

uint32_t op_workgroup_size(const tvk_device *dev)
{
    uint32_t wg = 256;
    while (wg > dev->info.max_workgroup_invocations && wg > 1) wg >>= 1;
    return wg;
}

bool op_aligned_rows(const tappa_tensor *t)
{
    for (size_t i = 0; i < t->n_segments; i++)
        if (t->segments[i].first % (size_t)t->shape[t->ndim - 1]) return false;
    return true;
}

tappa_status op_locate(const tappa_tensor *t, size_t first, size_t count, size_t *seg,
                       size_t *offset, tappa_error *err)
{
    for (size_t i = 0; i < t->n_segments; i++) {
        const tensor_segment *s = &t->segments[i];
        if (first >= s->first && first < s->first + s->count) {
            if (first + count > s->first + s->count) break;
            *seg = i;
            *offset = first - s->first;
            return TAPPA_OK;
        }
    }
    return tappa_fail(err, TAPPA_ERR_LIMIT,
                      "elements [%zu, %zu) of a tensor do not fit one %llu-byte binding on %s",
                      first, first + count, (unsigned long long)t->ctx->max_binding_bytes,
                      t->ctx->name);
}

size_t op_head_pieces(const tappa_tensor *t, size_t h, size_t n, op_piece *out, size_t max)
{
    size_t d = (size_t)t->shape[2], rows = (size_t)t->shape[1];
    size_t first = h * rows * d, end = first + n * d, count = 0;
    for (size_t i = 0; i < t->n_segments && count < max; i++) {
        const tensor_segment *s = &t->segments[i];
        size_t a = first > s->first ? first : s->first;
        size_t b = end < s->first + s->count ? end : s->first + s->count;
        if (a >= b) continue;
        out[count++] = (op_piece){ i, a - s->first, (uint32_t)((a - first) / d), (uint32_t)((b - a) / d) };
    }
    return count;
}

tappa_status op_check_loops(const tvk_device *dev, uint64_t iterations, const char *op,
                            tappa_error *err)
{
    uint32_t limit = dev->info.loop_iteration_limit;
    if (limit && iterations > limit)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "%s: this shape needs about %llu loop iterations per invocation; %s stops "
                          "at %u", op, (unsigned long long)iterations, dev->info.name, limit);
    return TAPPA_OK;
}

tappa_status op_submit(tvk_device *dev, op_record_fn record, void *args, tappa_error *err)
{
    double t0 = clock_ms();
    tappa_status st = tvk_begin(dev, err);
    if (st) return st;
    st = record(args, err);
    if (st) {
        tvk_abort(dev);
        return st;
    }
    double t1 = clock_ms();
    st = tvk_submit_wait(dev, err);
    dev->record_ms += t1 - t0;
    dev->submit_wait_ms += clock_ms() - t1;
    dev->submits++;
    return st;
}

tappa_status op_to_double(const tappa_tensor *t, double **out, tappa_error *err)
{
    *out = malloc((t->numel ? t->numel : 1) * sizeof(double));
    if (!*out) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "cannot allocate %zu doubles", t->numel);
    values_to_double(t->dtype, t->host, *out, t->numel);
    return TAPPA_OK;
}

tappa_status op_from_double(tappa_tensor *t, const double *v, tappa_error *err)
{
    (void)err;
    values_from_double(t->dtype, v, t->host, t->numel);
    return TAPPA_OK;
}
