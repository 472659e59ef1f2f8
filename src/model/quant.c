/* Q8_0: scale d = max|x| / 127, q = round(x / d). Q4_0: d = m / -8 where m is
 * the value of largest magnitude (sign kept), q = min(15, floor(x / d + 8.5)),
 * stored as x / d + 8 in a nibble. Both as ggml rounds them, so files match. */
#include <math.h>
#include <string.h>

#include "quant.h"
#include "tappa/array.h"

static void q8_0_block(const float *x, uint8_t *out)
{
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    uint16_t dh = tappa_f32_to_f16(d);
    memcpy(out, &dh, 2);
    for (int i = 0; i < 32; i++) out[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
}

static void q4_0_block(const float *x, uint8_t *out)
{
    float amax = 0, max = 0;
    for (int i = 0; i < 32; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
    uint16_t dh = tappa_f32_to_f16(d);
    memcpy(out, &dh, 2);
    for (int i = 0; i < 16; i++) {
        int lo = (int)(x[i] * id + 8.5f), hi = (int)(x[i + 16] * id + 8.5f);
        lo = lo > 15 ? 15 : lo;
        hi = hi > 15 ? 15 : hi;
        out[2 + i] = (uint8_t)(lo | (hi << 4));
    }
}

void quant_from_f32(tappa_ggml_type t, const float *x, size_t n, void *dst)
{
    uint8_t *o = dst;
    switch (t) {
    case TAPPA_GGML_F32: memcpy(dst, x, n * 4); break;
    case TAPPA_GGML_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = tappa_f32_to_f16(x[i]);
            memcpy(o + 2 * i, &h, 2);
        }
        break;
    case TAPPA_GGML_Q8_0:
        for (size_t b = 0; b < n / 32; b++) q8_0_block(x + 32 * b, o + 34 * b);
        break;
    case TAPPA_GGML_Q4_0:
        for (size_t b = 0; b < n / 32; b++) q4_0_block(x + 32 * b, o + 18 * b);
        break;
    }
}

void quant_to_f32(tappa_ggml_type t, const void *src, size_t n, float *x)
{
    const uint8_t *s = src;
    uint16_t h;
    switch (t) {
    case TAPPA_GGML_F32: memcpy(x, src, n * 4); break;
    case TAPPA_GGML_F16:
        for (size_t i = 0; i < n; i++) {
            memcpy(&h, s + 2 * i, 2);
            x[i] = tappa_f16_to_f32(h);
        }
        break;
    case TAPPA_GGML_Q8_0:
        for (size_t b = 0; b < n / 32; b++) {
            memcpy(&h, s + 34 * b, 2);
            float d = tappa_f16_to_f32(h);
            for (int i = 0; i < 32; i++) x[32 * b + i] = d * (float)(int8_t)s[34 * b + 2 + i];
        }
        break;
    case TAPPA_GGML_Q4_0:
        for (size_t b = 0; b < n / 32; b++) {
            memcpy(&h, s + 18 * b, 2);
            float d = tappa_f16_to_f32(h);
            for (int i = 0; i < 16; i++) {
                uint8_t q = s[18 * b + 2 + i];
                x[32 * b + i] = d * (float)((q & 0xF) - 8);
                x[32 * b + i + 16] = d * (float)((q >> 4) - 8);
            }
        }
        break;
    }
}
