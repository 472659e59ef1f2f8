/* Tensor files: .npy (single tensors) and .safetensors (bundles, e.g. traces).
 * Readers validate everything against the real file size before reading and
 * never read past the end; a malformed file gives TAPPA_ERR_FORMAT (or
 * TAPPA_ERR_UNSUPPORTED for a well-formed file in a dtype we do not take) and a
 * message that names the file and the problem. Writers write to a temporary
 * file in the same folder and rename it into place, so a failed write never
 * leaves a partial output file. */
#ifndef TAPPA_TENSOR_IO_H
#define TAPPA_TENSOR_IO_H

#include "tappa/array.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Read a .npy file (format v1/v2/v3, little-endian <f4 <f2 <i4 <i8, C order).
 * i8 is narrowed to i32 (a value outside int32 is TAPPA_ERR_LIMIT, naming the
 * element). The data must fill the file exactly: missing or trailing bytes are
 * TAPPA_ERR_FORMAT. On success *out owns its data; on failure it is zeroed. */
tappa_status tappa_npy_read(const char *path, tappa_array *out, tappa_error *err);

/* Write a .npy file (v1 header padded so the data starts at a multiple of 64
 * bytes; with at most TAPPA_MAX_DIMS dimensions v1 always suffices). a->bytes
 * must equal the shape's size. The file gets mode 0644. */
tappa_status tappa_npy_write(const char *path, const tappa_array *a, tappa_error *err);

/* An opened .safetensors file: named arrays, in file order. */
typedef struct tappa_safetensors tappa_safetensors;

/* Read all tensors of a .safetensors file. Accepts F32, F16, I32, I64 (narrowed
 * to i32; out of range is TAPPA_ERR_LIMIT) and BF16 (widened to f32). As in the
 * reference implementation, the tensors must tile the data buffer exactly (no
 * overlap, gap or trailing bytes) and the header must be at most 100 MB.
 * __metadata__ is checked (string values) but not kept. *out is NULL on failure. */
tappa_status tappa_safetensors_read(const char *path, tappa_safetensors **out, tappa_error *err);
/* Number of tensors. */
size_t tappa_safetensors_count(const tappa_safetensors *st);
/* Name of tensor i (0 <= i < count), owned by st. */
const char *tappa_safetensors_name(const tappa_safetensors *st, size_t i);
/* Tensor i, owned by st. */
const tappa_array *tappa_safetensors_at(const tappa_safetensors *st, size_t i);
/* Tensor by name, or NULL. Owned by st. */
const tappa_array *tappa_safetensors_find(const tappa_safetensors *st, const char *name);
/* Free everything and set *st to NULL; accepts NULL. */
void tappa_safetensors_free(tappa_safetensors **st);

/* Write n named arrays to a .safetensors file, in the given order, packed back
 * to back after a header padded to a multiple of 8 bytes (so a tensor after an
 * odd-length f16 one is not 4-byte aligned). Names must be unique and not
 * "__metadata__". The file gets mode 0644. */
tappa_status tappa_safetensors_write(const char *path, size_t n, const char *const *names,
                                     const tappa_array *const *arrays, tappa_error *err);

/* Write len bytes (a JSON score file, say) to path the same way: a temporary
 * file beside it renamed into place, mode 0644. */
tappa_status tappa_file_write(const char *path, const void *data, size_t len, tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
