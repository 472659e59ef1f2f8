/* ggml's block formats, on the host: quantising weights at conversion and
 * dequantising them for the CPU reference. Blocks of 32 values. */
#ifndef TAPPA_MODEL_QUANT_H
#define TAPPA_MODEL_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "tappa/gguf.h"

/* n values (a multiple of 32) of x into dst in format t (f32, f16, q8_0, q4_0);
 * dst holds tappa_ggml_bytes(t, n). */
void quant_from_f32(tappa_ggml_type t, const float *x, size_t n, void *dst);
/* n values of src in format t back to f32. */
void quant_to_f32(tappa_ggml_type t, const void *src, size_t n, float *x);

#endif
