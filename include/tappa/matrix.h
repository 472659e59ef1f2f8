/* Weight matrices on a context, in ggml's types (f32, f16, q8_0, q4_0), and
 * the matrix-vector product of a decoder's projections. On Vulkan a q8_0 or
 * q4_0 matrix is repacked at creation: its quantised values as 32-bit words in
 * element order, its block scales as f32 beside them, so the shader reads
 * aligned 16-byte groups. */
#ifndef TAPPA_MATRIX_H
#define TAPPA_MATRIX_H

#include <stdbool.h>

#include "tappa/gguf.h"
#include "tappa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tappa_matrix tappa_matrix;

/* A [rows, cols] matrix from rows * cols values in ggml layout (row-major;
 * tappa_ggml_bytes(type, rows * cols) bytes). cols must be a multiple of 32
 * for q8_0 and q4_0, of 8 for f16 and of 4 for f32. */
tappa_status tappa_matrix_create(tappa_context *ctx, tappa_ggml_type type, int64_t rows, int64_t cols,
                                 const void *data, tappa_matrix **out, tappa_error *err);
void tappa_matrix_destroy(tappa_matrix **m);
int64_t tappa_matrix_rows(const tappa_matrix *m);
int64_t tappa_matrix_cols(const tappa_matrix *m);
/* Bytes the device reads for one product (the weights and scales). */
size_t tappa_matrix_bytes(const tappa_matrix *m);

/* y[t][r] = (accumulate ? y[t][r] : 0) + bias[r] + sum_c w[r][c] x[t][c] for
 * the T rows of x. x: [T, cols] f32 (any shape with T * cols elements);
 * bias: [rows] f32 or NULL; y: T * rows f32 elements; 1 <= T <= 8. */
tappa_status tappa_matvec(const tappa_matrix *w, const tappa_tensor *x, const tappa_tensor *bias, bool accumulate,
                          tappa_tensor *y, tappa_error *err);

/* A residual product that also prepares the next RMSNorm: y[t][r] +=
 * sum_c w[r][c] x[t][c], then h[t][r] = y[t][r] * norm_weight[r] (the
 * norm's input before its per-token scale, which tappa_swiglu_prescaled
 * applies after the products that read h). x: [T, cols] f32, 1 <= T <= 8;
 * y, h: T * rows f32 elements; norm_weight: [rows] f32. */
tappa_status tappa_matvec_norm_out(const tappa_matrix *w, const tappa_tensor *x, tappa_tensor *y,
                                   const tappa_tensor *norm_weight, tappa_tensor *h, tappa_error *err);

/* The gate and up projections of a SwiGLU MLP with the gate applied:
 * y[t][r] = silu(gate[r] . x[t]) * (up[r] . x[t]), silu(g) = g / (1 + e^-g).
 * gate and up: [rows, cols] alike; x: [T, cols] f32, 1 <= T <= 8; y: T * rows
 * f32. One pass over both matrices where the device has subgroups and they
 * share a type (no separate SwiGLU step); otherwise both products, then
 * tappa_swiglu's step. */
tappa_status tappa_matvec_swiglu(const tappa_matrix *gate, const tappa_matrix *up, const tappa_tensor *x,
                                 tappa_tensor *y, tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
