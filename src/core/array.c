#include <stdlib.h>
#include <string.h>

#include "tappa/array.h"

size_t tappa_dtype_bytes(tappa_dtype dtype)
{
    switch (dtype) {
    case TAPPA_F32: return 4;
    case TAPPA_F16: return 2;
    case TAPPA_I32: return 4;
    }
    return 0;
}

const char *tappa_dtype_name(tappa_dtype dtype)
{
    switch (dtype) {
    case TAPPA_F32: return "f32";
    case TAPPA_F16: return "f16";
    case TAPPA_I32: return "i32";
    }
    return "?";
}

tappa_status tappa_shape_numel(int ndim, const int64_t *shape, size_t elem_bytes, size_t *numel,
                               size_t *bytes, tappa_error *err)
{
    if (ndim < 0 || ndim > TAPPA_MAX_DIMS)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "%d dimensions (at most %d supported)", ndim,
                          TAPPA_MAX_DIMS);
    /* Cap at 2^48 bytes: far above any real tensor, far below size_t overflow. */
    const uint64_t cap = (uint64_t)1 << 48;
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return tappa_fail(err, TAPPA_ERR_LIMIT, "dimension %d is negative (%lld)", i,
                              (long long)shape[i]);
        if (shape[i] != 0 && n > cap / (uint64_t)shape[i])
            return tappa_fail(err, TAPPA_ERR_LIMIT, "shape is absurdly large (dimension %d = %lld)",
                              i, (long long)shape[i]);
        n *= (uint64_t)shape[i];
    }
    if (elem_bytes && n > cap / elem_bytes)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "shape is absurdly large (%llu elements)",
                          (unsigned long long)n);
    if (numel) *numel = (size_t)n;
    if (bytes) *bytes = (size_t)(n * elem_bytes);
    return TAPPA_OK;
}

tappa_status tappa_array_alloc(tappa_array *out, tappa_dtype dtype, int ndim, const int64_t *shape,
                               tappa_error *err)
{
    memset(out, 0, sizeof *out);
    size_t bytes;
    tappa_status st = tappa_shape_numel(ndim, shape, tappa_dtype_bytes(dtype), NULL, &bytes, err);
    if (st) return st;
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data)
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "cannot allocate %zu bytes of host memory", bytes);
    out->dtype = dtype;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->shape[i] = shape[i];
    out->bytes = bytes;
    return TAPPA_OK;
}

void tappa_array_free(tappa_array *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

size_t tappa_array_numel(const tappa_array *a)
{
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= (size_t)a->shape[i];
    return n;
}

uint16_t tappa_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xffu) /* inf or nan; keep nan quiet and non-zero */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++; /* carry may bump exponent: correct */
    return (uint16_t)half;
}

float tappa_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t x;
    if (exp == 0) {
        if (man == 0) {
            x = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (man << 13);
    } else {
        x = sign | ((exp - 15 + 127) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}
