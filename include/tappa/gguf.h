/* GGUF v3, the single-file model format of llama.cpp and the on-device
 * ecosystem: a header, key-value metadata, tensor descriptions and aligned
 * tensor data. The reader maps the file and checks every count, size, offset
 * and alignment against the file before use, so a corrupt or hostile file is
 * one TAPPA_ERR_FORMAT message naming the file and the problem, never an
 * out-of-bounds read. The writer writes atomically (temporary file, rename). */
#ifndef TAPPA_GGUF_H
#define TAPPA_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tappa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata value types, as numbered in the format. */
typedef enum tappa_gguf_type {
    TAPPA_GGUF_U8 = 0, TAPPA_GGUF_I8 = 1, TAPPA_GGUF_U16 = 2, TAPPA_GGUF_I16 = 3,
    TAPPA_GGUF_U32 = 4, TAPPA_GGUF_I32 = 5, TAPPA_GGUF_F32 = 6, TAPPA_GGUF_BOOL = 7,
    TAPPA_GGUF_STRING = 8, TAPPA_GGUF_ARRAY = 9, TAPPA_GGUF_U64 = 10, TAPPA_GGUF_I64 = 11,
    TAPPA_GGUF_F64 = 12,
} tappa_gguf_type;

/* Tensor types we read and write (ggml's numbering). Q8_0: blocks of 32
 * values as an f16 scale and 32 int8; Q4_0: an f16 scale and 16 bytes of
 * 4-bit values (low nibbles are elements 0..15, high nibbles 16..31, minus 8). */
typedef enum tappa_ggml_type {
    TAPPA_GGML_F32 = 0, TAPPA_GGML_F16 = 1, TAPPA_GGML_Q4_0 = 2, TAPPA_GGML_Q8_0 = 8,
} tappa_ggml_type;

/* Bytes of n elements of type t (n a multiple of the block size), 0 for an unknown type. */
size_t tappa_ggml_bytes(tappa_ggml_type t, uint64_t n);
/* "f32", "f16", "q4_0", "q8_0", or NULL. */
const char *tappa_ggml_type_name(tappa_ggml_type t);

typedef struct tappa_gguf tappa_gguf;

/* A tensor of an open file. dims[0] is the innermost (contiguous) dimension,
 * as in ggml: a [rows, cols] matrix has dims { cols, rows }. data points into
 * the mapping and lives as long as the file is open. */
typedef struct tappa_gguf_tensor {
    const char *name;
    tappa_ggml_type type;
    int n_dims;             /* 1..4 */
    uint64_t dims[4];       /* unused dims are 1 */
    uint64_t elements;
    size_t bytes;
    const void *data;
} tappa_gguf_tensor;

tappa_status tappa_gguf_open(const char *path, tappa_gguf **out, tappa_error *err);
/* The same from size bytes in memory (not copied: they must outlive *out);
 * name labels error messages. */
tappa_status tappa_gguf_open_memory(const void *data, size_t size, const char *name, tappa_gguf **out,
                                    tappa_error *err);
/* Unmap and free; accepts NULL. */
void tappa_gguf_close(tappa_gguf **g);

/* Metadata lookups. Each returns false when the key is absent or its value has
 * another type (integers convert between widths when the value fits). */
bool tappa_gguf_u32(const tappa_gguf *g, const char *key, uint32_t *v);
bool tappa_gguf_f32(const tappa_gguf *g, const char *key, float *v);
bool tappa_gguf_bool(const tappa_gguf *g, const char *key, bool *v);
/* NUL-terminated copy owned by g. */
const char *tappa_gguf_str(const tappa_gguf *g, const char *key);
/* An array's element type and count. */
bool tappa_gguf_array(const tappa_gguf *g, const char *key, tappa_gguf_type *type, uint64_t *count);
/* Element i of a string array (NUL-terminated, owned by g; its length in *len). */
const char *tappa_gguf_array_str(const tappa_gguf *g, const char *key, uint64_t i, size_t *len);
/* Element i of an integer or f32 array as a double. */
bool tappa_gguf_array_num(const tappa_gguf *g, const char *key, uint64_t i, double *v);

size_t tappa_gguf_kv_count(const tappa_gguf *g);
const char *tappa_gguf_kv_key(const tappa_gguf *g, size_t i);
size_t tappa_gguf_tensor_count(const tappa_gguf *g);
const tappa_gguf_tensor *tappa_gguf_tensor_at(const tappa_gguf *g, size_t i);
const tappa_gguf_tensor *tappa_gguf_find(const tappa_gguf *g, const char *name);

/* Building a file: metadata and tensors in the order added, written with
 * 32-byte alignment. Values and tensor data are copied. */
typedef struct tappa_gguf_writer tappa_gguf_writer;
tappa_status tappa_gguf_writer_create(tappa_gguf_writer **out, tappa_error *err);
void tappa_gguf_writer_free(tappa_gguf_writer **w);
tappa_status tappa_gguf_set_u32(tappa_gguf_writer *w, const char *key, uint32_t v, tappa_error *err);
tappa_status tappa_gguf_set_f32(tappa_gguf_writer *w, const char *key, float v, tappa_error *err);
tappa_status tappa_gguf_set_bool(tappa_gguf_writer *w, const char *key, bool v, tappa_error *err);
tappa_status tappa_gguf_set_str(tappa_gguf_writer *w, const char *key, const char *v, tappa_error *err);
/* Arrays: strings (n NUL-terminated), int32 or f32 values. */
tappa_status tappa_gguf_set_strs(tappa_gguf_writer *w, const char *key, const char *const *v, uint64_t n,
                                 tappa_error *err);
tappa_status tappa_gguf_set_i32s(tappa_gguf_writer *w, const char *key, const int32_t *v, uint64_t n,
                                 tappa_error *err);
tappa_status tappa_gguf_set_f32s(tappa_gguf_writer *w, const char *key, const float *v, uint64_t n,
                                 tappa_error *err);
/* dims as in tappa_gguf_tensor (innermost first); data holds tappa_ggml_bytes of them. */
tappa_status tappa_gguf_add_tensor(tappa_gguf_writer *w, const char *name, tappa_ggml_type type, int n_dims,
                                   const uint64_t *dims, const void *data, tappa_error *err);
tappa_status tappa_gguf_write(const tappa_gguf_writer *w, const char *path, tappa_error *err);
/* Copy metadata entry i of g into w unchanged (any type). */
tappa_status tappa_gguf_copy_kv(tappa_gguf_writer *w, const tappa_gguf *g, size_t i, tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
