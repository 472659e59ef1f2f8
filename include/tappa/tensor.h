/* Tensors: a dtype, a shape, and storage owned by a context (host memory on
 * the CPU backend, device buffers on Vulkan). A Vulkan tensor larger than the
 * device's maxStorageBufferRange is stored as several segments, each a whole
 * number of rows (the last dimension) and bindable on its own; ops dispatch
 * per segment, so tensors of any size run on devices with the 128 MiB minimum. */
#ifndef TAPPA_TENSOR_H
#define TAPPA_TENSOR_H

#include "tappa/array.h"
#include "tappa/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tappa_tensor tappa_tensor;

/* Create an uninitialised tensor. Caller owns *out (tappa_tensor_destroy).
 * The context must outlive the tensor. */
tappa_status tappa_tensor_create(tappa_context *ctx, tappa_dtype dtype, int ndim,
                                 const int64_t *shape, tappa_tensor **out, tappa_error *err);
/* Free the storage and set *t to NULL; accepts NULL. */
void tappa_tensor_destroy(tappa_tensor **t);

/* Copy host bytes (C order, exactly tappa_tensor_bytes) into the tensor. */
tappa_status tappa_tensor_upload(tappa_tensor *t, const void *host, size_t bytes, tappa_error *err);
/* Copy the tensor into host memory of exactly tappa_tensor_bytes. */
tappa_status tappa_tensor_download(const tappa_tensor *t, void *host, size_t bytes, tappa_error *err);
/* Fill every byte pattern-wise with a 32-bit (f32/i32) or 16-bit (f16) value:
 * used to poison outputs before a check. */
tappa_status tappa_tensor_fill_bits(tappa_tensor *t, uint32_t bits, tappa_error *err);

/* Create a tensor holding a copy of a host array. */
tappa_status tappa_tensor_from_array(tappa_context *ctx, const tappa_array *a, tappa_tensor **out,
                                     tappa_error *err);
/* Download into a newly allocated host array (caller frees with tappa_array_free). */
tappa_status tappa_tensor_to_array(const tappa_tensor *t, tappa_array *out, tappa_error *err);

tappa_dtype tappa_tensor_dtype(const tappa_tensor *t);
int tappa_tensor_ndim(const tappa_tensor *t);
int64_t tappa_tensor_dim(const tappa_tensor *t, int i);
size_t tappa_tensor_numel(const tappa_tensor *t);
size_t tappa_tensor_bytes(const tappa_tensor *t);
/* Number of separately bound segments (1 on the CPU backend). */
size_t tappa_tensor_segments(const tappa_tensor *t);
tappa_context *tappa_tensor_context(const tappa_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
