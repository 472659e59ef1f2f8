/* Host arrays: a dtype, a shape and owned host memory. This is what tensor
 * files are read into and written from, and what callers upload to tensors. */
#ifndef TAPPA_ARRAY_H
#define TAPPA_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "tappa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TAPPA_MAX_DIMS 8

typedef enum tappa_dtype {
    TAPPA_F32 = 0,
    TAPPA_F16 = 1,
    TAPPA_I32 = 2,
} tappa_dtype;

/* Bytes of one element of dtype. */
size_t tappa_dtype_bytes(tappa_dtype dtype);
/* "f32", "f16", "i32". */
const char *tappa_dtype_name(tappa_dtype dtype);

/* A dense C-order array in host memory. data is owned by the array when it was
 * made by tappa_array_alloc or a file reader; release with tappa_array_free. */
typedef struct tappa_array {
    tappa_dtype dtype;
    int ndim;                        /* 0..TAPPA_MAX_DIMS; 0 is a scalar */
    int64_t shape[TAPPA_MAX_DIMS];
    void *data;                      /* numel * dtype bytes */
    size_t bytes;
} tappa_array;

/* Element count of a shape; fails with TAPPA_ERR_LIMIT if it overflows or a
 * dimension is negative, so absurd shapes are caught before any allocation. */
tappa_status tappa_shape_numel(int ndim, const int64_t *shape, size_t elem_bytes, size_t *numel,
                               size_t *bytes, tappa_error *err);

/* Allocate an uninitialised array of the given shape. */
tappa_status tappa_array_alloc(tappa_array *out, tappa_dtype dtype, int ndim, const int64_t *shape,
                               tappa_error *err);
/* Free the data and zero the struct; accepts an already-freed or zeroed array. */
void tappa_array_free(tappa_array *a);
/* numel of an array. */
size_t tappa_array_numel(const tappa_array *a);

/* IEEE half <-> float conversion (round to nearest even). */
uint16_t tappa_f32_to_f16(float f);
float tappa_f16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
