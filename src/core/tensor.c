/* Tensors on either backend. A Vulkan tensor is split into segments no larger
 * than the context's binding limit; the split keeps the largest trailing block
 * of dimensions that fits whole (one KV head, else one row), so ops that need
 * such a block in one binding get it whenever the device allows. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Elements per split unit: the product of the most trailing dimensions that
 * still fits in limit bytes. Fails if not even one row fits. */
static tappa_status split_unit(const tappa_tensor *t, uint64_t limit, size_t *unit, tappa_error *err)
{
    size_t esize = tappa_dtype_bytes(t->dtype);
    size_t block = 1;
    int d = t->ndim - 1;
    if (d < 0 || t->numel == 0) {
        *unit = t->numel ? t->numel : 1;
        return TAPPA_OK;
    }
    if (t->ndim == 1) { /* a vector has no rows: split it anywhere */
        *unit = 1;
        return TAPPA_OK;
    }
    block = (size_t)t->shape[d];
    if ((uint64_t)block * esize > limit)
        return tappa_fail(err, TAPPA_ERR_LIMIT,
                          "one row of %zu %s elements exceeds the %llu-byte binding limit of %s",
                          block, tappa_dtype_name(t->dtype), (unsigned long long)limit, t->ctx->name);
    while (d > 0 && (uint64_t)block * (uint64_t)t->shape[d - 1] * esize <= limit) {
        block *= (size_t)t->shape[d - 1];
        d--;
    }
    *unit = block ? block : 1;
    return TAPPA_OK;
}

/* mapped: in host-visible memory (the device's staging memory type). */
static tappa_status create_segments(tappa_tensor *t, bool mapped, tappa_error *err)
{
    tvk_device *dev = t->ctx->vk;
    size_t esize = tappa_dtype_bytes(t->dtype);
    tappa_status st = split_unit(t, t->ctx->max_binding_bytes, &t->unit, err);
    if (st) return st;
    size_t units_per_seg = (size_t)(t->ctx->max_binding_bytes / ((uint64_t)t->unit * esize));
    size_t seg_elems = units_per_seg * t->unit;
    if (t->numel <= seg_elems) seg_elems = t->numel ? t->numel : 1;
    size_t n = t->numel ? (t->numel + seg_elems - 1) / seg_elems : 1;
    t->segments = calloc(n, sizeof *t->segments);
    if (!t->segments) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    t->n_segments = n;
    for (size_t i = 0; i < n; i++) {
        tensor_segment *s = &t->segments[i];
        s->first = i * seg_elems;
        s->count = t->numel - s->first < seg_elems ? t->numel - s->first : seg_elems;
        /* Round up to 4 bytes: f16 tensors are filled and copied as 32-bit words. */
        VkDeviceSize bytes = ((VkDeviceSize)s->count * esize + 3) & ~(VkDeviceSize)3;
        st = tvk_buffer_create(dev, bytes, mapped, &s->buf, err);
        if (st) return st;
    }
    return TAPPA_OK;
}

static tappa_status create(tappa_context *ctx, tappa_dtype dtype, int ndim, const int64_t *shape, bool mapped,
                           tappa_tensor **out, tappa_error *err)
{
    *out = NULL;
    if (!ctx) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "tensor without a context");
    if (tappa_dtype_bytes(dtype) == 0)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "unknown dtype %d", (int)dtype);
    tappa_tensor *t = calloc(1, sizeof *t);
    if (!t) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    t->ctx = ctx;
    t->dtype = dtype;
    t->ndim = ndim;
    tappa_status st = tappa_shape_numel(ndim, shape, tappa_dtype_bytes(dtype), &t->numel, &t->bytes, err);
    if (st) {
        free(t);
        return st;
    }
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    if (ctx->backend == TAPPA_BACKEND_CPU) {
        t->host = malloc(t->bytes ? t->bytes : 1);
        if (!t->host) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "cannot allocate %zu bytes", t->bytes);
        t->n_segments = 1;
        t->unit = t->numel;
    } else {
        st = create_segments(t, mapped, err);
    }
    if (st) {
        tappa_tensor_destroy(&t);
        return st;
    }
    *out = t;
    return TAPPA_OK;
}

tappa_status tappa_tensor_create(tappa_context *ctx, tappa_dtype dtype, int ndim,
                                 const int64_t *shape, tappa_tensor **out, tappa_error *err)
{
    return create(ctx, dtype, ndim, shape, false, out, err);
}

tappa_status tensor_create_mapped(tappa_context *ctx, tappa_dtype dtype, int ndim, const int64_t *shape,
                                  tappa_tensor **out, tappa_error *err)
{
    return create(ctx, dtype, ndim, shape, true, out, err);
}

void tappa_tensor_destroy(tappa_tensor **pt)
{
    tappa_tensor *t = pt ? *pt : NULL;
    if (!t) return;
    free(t->host);
    if (t->segments) {
        for (size_t i = 0; i < t->n_segments; i++) tvk_buffer_destroy(t->ctx->vk, &t->segments[i].buf);
        free(t->segments);
    }
    free(t);
    *pt = NULL;
}

static tappa_status check_bytes(const tappa_tensor *t, size_t bytes, tappa_error *err)
{
    if (bytes != t->bytes)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "host buffer has %zu bytes, tensor has %zu",
                          bytes, t->bytes);
    return TAPPA_OK;
}

tappa_status tappa_tensor_upload(tappa_tensor *t, const void *host, size_t bytes, tappa_error *err)
{
    tappa_status st = check_bytes(t, bytes, err);
    if (st) return st;
    if (t->host) {
        memcpy(t->host, host, bytes);
        return TAPPA_OK;
    }
    size_t esize = tappa_dtype_bytes(t->dtype);
    for (size_t i = 0; i < t->n_segments && !st; i++) {
        tensor_segment *s = &t->segments[i];
        st = tvk_buffer_write(t->ctx->vk, &s->buf, 0, (const char *)host + s->first * esize,
                              s->count * esize, err);
    }
    return st;
}

tappa_status tappa_tensor_download(const tappa_tensor *t, void *host, size_t bytes, tappa_error *err)
{
    tappa_status st = check_bytes(t, bytes, err);
    if (st) return st;
    if (t->host) {
        memcpy(host, t->host, bytes);
        return TAPPA_OK;
    }
    size_t esize = tappa_dtype_bytes(t->dtype);
    for (size_t i = 0; i < t->n_segments && !st; i++) {
        const tensor_segment *s = &t->segments[i];
        st = tvk_buffer_read(t->ctx->vk, &s->buf, 0, (char *)host + s->first * esize,
                             s->count * esize, err);
    }
    return st;
}

/* Elements [first, first + count) of t to or from host, segment by segment. */
static tappa_status transfer_range(const tappa_tensor *t, size_t first, size_t count, void *host, bool up,
                                   tappa_error *err)
{
    if (first > t->numel || count > t->numel - first)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "elements [%zu, %zu) of a tensor of %zu", first, first + count,
                          t->numel);
    size_t esize = tappa_dtype_bytes(t->dtype);
    if (t->host) {
        if (up) memcpy((char *)t->host + first * esize, host, count * esize);
        else memcpy(host, (const char *)t->host + first * esize, count * esize);
        return TAPPA_OK;
    }
    tappa_status st = TAPPA_OK;
    for (size_t i = 0; i < t->n_segments && !st; i++) {
        const tensor_segment *s = &t->segments[i];
        size_t a = first > s->first ? first : s->first;
        size_t b = first + count < s->first + s->count ? first + count : s->first + s->count;
        if (a >= b) continue;
        char *h = (char *)host + (a - first) * esize;
        st = up ? tvk_buffer_write(t->ctx->vk, (tvk_buffer *)&s->buf, (a - s->first) * esize, h, (b - a) * esize, err)
                : tvk_buffer_read(t->ctx->vk, &s->buf, (a - s->first) * esize, h, (b - a) * esize, err);
    }
    return st;
}

tappa_status tensor_upload_range(tappa_tensor *t, size_t first, size_t count, const void *host, tappa_error *err)
{
    return transfer_range(t, first, count, (void *)host, true, err);
}

tappa_status tensor_download_range(const tappa_tensor *t, size_t first, size_t count, void *host, tappa_error *err)
{
    return transfer_range(t, first, count, host, false, err);
}

tappa_status tappa_tensor_fill_bits(tappa_tensor *t, uint32_t bits, tappa_error *err)
{
    if (t->dtype == TAPPA_F16) bits = (bits & 0xffffu) | (bits << 16);
    if (t->host) {
        size_t words = t->bytes / 4;
        uint32_t *w = t->host;
        for (size_t i = 0; i < words; i++) w[i] = bits;
        if (t->bytes % 4) memcpy((char *)t->host + words * 4, &bits, t->bytes % 4);
        return TAPPA_OK;
    }
    tappa_status st = TAPPA_OK;
    for (size_t i = 0; i < t->n_segments && !st; i++)
        st = tvk_buffer_fill(t->ctx->vk, &t->segments[i].buf, bits, err);
    return st;
}

tappa_status tappa_tensor_from_array(tappa_context *ctx, const tappa_array *a, tappa_tensor **out,
                                     tappa_error *err)
{
    tappa_status st = tappa_tensor_create(ctx, a->dtype, a->ndim, a->shape, out, err);
    if (st) return st;
    st = tappa_tensor_upload(*out, a->data, a->bytes, err);
    if (st) tappa_tensor_destroy(out);
    return st;
}

tappa_status tappa_tensor_to_array(const tappa_tensor *t, tappa_array *out, tappa_error *err)
{
    tappa_status st = tappa_array_alloc(out, t->dtype, t->ndim, t->shape, err);
    if (st) return st;
    st = tappa_tensor_download(t, out->data, out->bytes, err);
    if (st) tappa_array_free(out);
    return st;
}

tappa_dtype tappa_tensor_dtype(const tappa_tensor *t) { return t->dtype; }
int tappa_tensor_ndim(const tappa_tensor *t) { return t->ndim; }
int64_t tappa_tensor_dim(const tappa_tensor *t, int i)
{
    return i >= 0 && i < t->ndim ? t->shape[i] : 1;
}
size_t tappa_tensor_numel(const tappa_tensor *t) { return t->numel; }
size_t tappa_tensor_bytes(const tappa_tensor *t) { return t->bytes; }
size_t tappa_tensor_segments(const tappa_tensor *t) { return t->n_segments; }
tappa_context *tappa_tensor_context(const tappa_tensor *t) { return t->ctx; }

tappa_status tensor_check_same(const tappa_tensor *a, const tappa_tensor *b, const char *op,
                               tappa_error *err)
{
    if (a->ctx != b->ctx)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: tensors belong to different contexts", op);
    if (a->dtype != b->dtype)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: dtypes differ (%s vs %s)", op,
                          tappa_dtype_name(a->dtype), tappa_dtype_name(b->dtype));
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: shapes differ", op);
    return TAPPA_OK;
}

void values_to_double(tappa_dtype dtype, const void *src, double *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (dtype) {
        case TAPPA_F32: dst[i] = ((const float *)src)[i]; break;
        case TAPPA_F16: dst[i] = tappa_f16_to_f32(((const uint16_t *)src)[i]); break;
        case TAPPA_I32: dst[i] = ((const int32_t *)src)[i]; break;
        }
    }
}

void values_from_double(tappa_dtype dtype, const double *src, void *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (dtype) {
        case TAPPA_F32: ((float *)dst)[i] = (float)src[i]; break;
        case TAPPA_F16: ((uint16_t *)dst)[i] = tappa_f32_to_f16((float)src[i]); break;
        case TAPPA_I32: ((int32_t *)dst)[i] = (int32_t)src[i]; break;
        }
    }
}

/* The segment holding element e of t (segments are in order and contiguous). */
static size_t segment_of(const tappa_tensor *t, size_t e)
{
    size_t lo = 0, hi = t->n_segments - 1;
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        if (t->segments[mid].first <= e) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

tappa_status tensor_copy_range(const tappa_tensor *src, size_t src_first, tappa_tensor *dst,
                               size_t dst_first, size_t count, tappa_error *err)
{
    size_t esize = tappa_dtype_bytes(src->dtype);
    if (src->dtype != dst->dtype || src_first + count > src->numel || dst_first + count > dst->numel)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "copy range outside its tensors");
    if (src->host) {
        memcpy((char *)dst->host + dst_first * esize, (const char *)src->host + src_first * esize,
               count * esize);
        return TAPPA_OK;
    }
    tvk_device *dev = src->ctx->vk;
    while (count) {
        const tensor_segment *a = &src->segments[segment_of(src, src_first)];
        const tensor_segment *b = &dst->segments[segment_of(dst, dst_first)];
        size_t n = count;
        if (a->first + a->count - src_first < n) n = a->first + a->count - src_first;
        if (b->first + b->count - dst_first < n) n = b->first + b->count - dst_first;
        VkBufferCopy region = {
            .srcOffset = (src_first - a->first) * esize,
            .dstOffset = (dst_first - b->first) * esize,
            .size = n * esize,
        };
        dev->vk.vkCmdCopyBuffer(dev->cmd, a->buf.buffer, b->buf.buffer, 1, &region);
        dev->transfer_pending = true;
        src_first += n;
        dst_first += n;
        count -= n;
    }
    return TAPPA_OK;
}
