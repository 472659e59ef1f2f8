/* Definitions of the opaque context and tensor, shared by src/core and src/ops. */
#ifndef TAPPA_CORE_INTERNAL_H
#define TAPPA_CORE_INTERNAL_H

#include "tappa/tappa.h"
#include "../vk/vk.h"

struct tappa_context {
    tappa_backend backend;
    char name[256];
    char fallback_reason[512];     /* set when the default choice fell back to CPU */
    tvk_device *vk;                /* NULL on the CPU backend */
    uint64_t max_binding_bytes;    /* segment size limit for tensors */
    /* Reused scratch of split-K decode, grown on demand: partial max and
     * sum (Hq, parts, 2) and output (Hq, parts, D), and an lse for callers
     * that pass none. */
    struct tappa_tensor *decode_ml, *decode_o, *decode_lse;
    struct tappa_tensor *decode_count; /* i32 (KV heads): decode's arrival and tile counters, zero between calls */
    /* Prefill state between key passes on drivers that cap loop iterations:
     * running max and sum per query row, (Hq, Nq, 2). */
    struct tappa_tensor *prefill_ml;
};

/* One bindable piece of a Vulkan tensor: elements [first, first + count). */
typedef struct tensor_segment {
    tvk_buffer buf;
    size_t first;
    size_t count;
} tensor_segment;

struct tappa_tensor {
    tappa_context *ctx;
    tappa_dtype dtype;
    int ndim;
    int64_t shape[TAPPA_MAX_DIMS];
    size_t numel;
    size_t bytes;
    void *host;                    /* CPU backend storage */
    tensor_segment *segments;      /* Vulkan backend storage */
    size_t n_segments;
    size_t unit;                   /* segments hold whole units of this many elements */
};

/* Binding of a whole segment. */
static inline tvk_binding tensor_binding(const tappa_tensor *t, size_t seg)
{
    const tensor_segment *s = &t->segments[seg];
    return (tvk_binding){ &s->buf, 0, (VkDeviceSize)(s->count * tappa_dtype_bytes(t->dtype)) };
}

/* A Vulkan tensor in host-visible memory: uploads and downloads are memcpy
 * (no submission), and a recording copies it to or from device tensors; for
 * the few rows a decode step moves each way. */
tappa_status tensor_create_mapped(tappa_context *ctx, tappa_dtype dtype, int ndim, const int64_t *shape,
                                  tappa_tensor **out, tappa_error *err);
/* Elements [first, first + count) of t from or to host memory. */
tappa_status tensor_upload_range(tappa_tensor *t, size_t first, size_t count, const void *host, tappa_error *err);
tappa_status tensor_download_range(const tappa_tensor *t, size_t first, size_t count, void *host, tappa_error *err);
/* Copy count elements from src[src_first..] to dst[dst_first..] (same dtype).
 * CPU: at once. Vulkan: recorded into the open recording, split wherever
 * either tensor changes segment. */
tappa_status tensor_copy_range(const tappa_tensor *src, size_t src_first, tappa_tensor *dst,
                               size_t dst_first, size_t count, tappa_error *err);

/* Checks shared by ops: same context, dtype in the allowed set, same shape. */
tappa_status tensor_check_same(const tappa_tensor *a, const tappa_tensor *b, const char *op,
                               tappa_error *err);

/* Widen a tensor's host copy to double / narrow doubles into dtype storage
 * (CPU backend ops and the conformance harness). */
void values_to_double(tappa_dtype dtype, const void *src, double *dst, size_t n);
void values_from_double(tappa_dtype dtype, const double *src, void *dst, size_t n);

/* Milliseconds on the monotonic clock (context.c): op_submit's host timing,
 * the conformance harness, tappa-bench. */
double clock_ms(void);

#endif
