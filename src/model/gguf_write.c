/* GGUF v3 writer: the metadata section is serialised as values are set; the
 * tensor section and data are laid out at write time, 32-byte aligned. */
#include <stdlib.h>
#include <string.h>

#include "../io/file_io.h"
#include "gguf_internal.h"
#include "tappa/gguf.h"

#define ALIGNMENT 32

typedef struct buffer {
    uint8_t *data;
    size_t len, cap;
} buffer;

typedef struct pending_tensor {
    char *name;
    tappa_ggml_type type;
    int n_dims;
    uint64_t dims[4];
    void *data;
    size_t bytes;
} pending_tensor;

struct tappa_gguf_writer {
    buffer kv;         /* the serialised metadata entries */
    uint64_t n_kv;
    pending_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

static tappa_status put(buffer *b, const void *p, size_t n, tappa_error *err)
{
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gguf: out of host memory");
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return TAPPA_OK;
}

static tappa_status put_u32(buffer *b, uint32_t v, tappa_error *err) { return put(b, &v, 4, err); }
static tappa_status put_u64(buffer *b, uint64_t v, tappa_error *err) { return put(b, &v, 8, err); }

static tappa_status put_str(buffer *b, const char *s, tappa_error *err)
{
    size_t n = strlen(s);
    tappa_status st = put_u64(b, n, err);
    return st ? st : put(b, s, n, err);
}

static tappa_status put_key(tappa_gguf_writer *w, const char *key, tappa_gguf_type type, tappa_error *err)
{
    w->n_kv++;
    tappa_status st = put_str(&w->kv, key, err);
    return st ? st : put_u32(&w->kv, type, err);
}

tappa_status tappa_gguf_writer_create(tappa_gguf_writer **out, tappa_error *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gguf: out of host memory");
}

void tappa_gguf_writer_free(tappa_gguf_writer **wp)
{
    if (!wp || !*wp) return;
    tappa_gguf_writer *w = *wp;
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->tensors);
    free(w->kv.data);
    free(w);
    *wp = NULL;
}

tappa_status gguf_writer_put_raw(tappa_gguf_writer *w, const char *key, uint32_t type, const void *value, size_t bytes,
                                 tappa_error *err)
{
    tappa_status st = put_key(w, key, (tappa_gguf_type)type, err);
    return st ? st : put(&w->kv, value, bytes, err);
}

tappa_status tappa_gguf_set_u32(tappa_gguf_writer *w, const char *key, uint32_t v, tappa_error *err)
{
    tappa_status st = put_key(w, key, TAPPA_GGUF_U32, err);
    return st ? st : put_u32(&w->kv, v, err);
}

tappa_status tappa_gguf_set_f32(tappa_gguf_writer *w, const char *key, float v, tappa_error *err)
{
    tappa_status st = put_key(w, key, TAPPA_GGUF_F32, err);
    return st ? st : put(&w->kv, &v, 4, err);
}

tappa_status tappa_gguf_set_bool(tappa_gguf_writer *w, const char *key, bool v, tappa_error *err)
{
    uint8_t b = v;
    tappa_status st = put_key(w, key, TAPPA_GGUF_BOOL, err);
    return st ? st : put(&w->kv, &b, 1, err);
}

tappa_status tappa_gguf_set_str(tappa_gguf_writer *w, const char *key, const char *v, tappa_error *err)
{
    tappa_status st = put_key(w, key, TAPPA_GGUF_STRING, err);
    return st ? st : put_str(&w->kv, v, err);
}

static tappa_status put_array_head(tappa_gguf_writer *w, const char *key, tappa_gguf_type elem, uint64_t n,
                                   tappa_error *err)
{
    tappa_status st = put_key(w, key, TAPPA_GGUF_ARRAY, err);
    if (!st) st = put_u32(&w->kv, elem, err);
    return st ? st : put_u64(&w->kv, n, err);
}

tappa_status tappa_gguf_set_strs(tappa_gguf_writer *w, const char *key, const char *const *v, uint64_t n,
                                 tappa_error *err)
{
    tappa_status st = put_array_head(w, key, TAPPA_GGUF_STRING, n, err);
    for (uint64_t i = 0; i < n && !st; i++) st = put_str(&w->kv, v[i], err);
    return st;
}

tappa_status tappa_gguf_set_i32s(tappa_gguf_writer *w, const char *key, const int32_t *v, uint64_t n,
                                 tappa_error *err)
{
    tappa_status st = put_array_head(w, key, TAPPA_GGUF_I32, n, err);
    return st ? st : put(&w->kv, v, (size_t)n * 4, err);
}

tappa_status tappa_gguf_set_f32s(tappa_gguf_writer *w, const char *key, const float *v, uint64_t n,
                                 tappa_error *err)
{
    tappa_status st = put_array_head(w, key, TAPPA_GGUF_F32, n, err);
    return st ? st : put(&w->kv, v, (size_t)n * 4, err);
}

tappa_status tappa_gguf_add_tensor(tappa_gguf_writer *w, const char *name, tappa_ggml_type type, int n_dims,
                                   const uint64_t *dims, const void *data, tappa_error *err)
{
    if (n_dims < 1 || n_dims > 4 || !tappa_ggml_type_name(type))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "gguf: tensor '%s' needs 1 to 4 dims and a known type", name);
    uint64_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= dims[i];
    if ((type == TAPPA_GGML_Q8_0 || type == TAPPA_GGML_Q4_0) && dims[0] % 32)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "gguf: tensor '%s' rows of %llu are not blocks of 32", name,
                          (unsigned long long)dims[0]);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        pending_tensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gguf: out of host memory");
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    pending_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->bytes = tappa_ggml_bytes(type, n);
    t->name = strdup(name);
    t->data = malloc(t->bytes ? t->bytes : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gguf: out of host memory for tensor '%s'", name);
    }
    memcpy(t->data, data, t->bytes);
    t->type = type;
    t->n_dims = n_dims;
    for (int i = 0; i < 4; i++) t->dims[i] = i < n_dims ? dims[i] : 1;
    w->n_tensors++;
    return TAPPA_OK;
}

tappa_status tappa_gguf_write(const tappa_gguf_writer *w, const char *path, tappa_error *err)
{
    static const uint8_t zeros[ALIGNMENT];
    buffer head = { 0 };
    tappa_status st = put_u32(&head, 0x46554747u, err);
    if (!st) st = put_u32(&head, 3, err);
    if (!st) st = put_u64(&head, w->n_tensors, err);
    if (!st) st = put_u64(&head, w->n_kv, err);
    if (!st && w->kv.len) st = put(&head, w->kv.data, w->kv.len, err);
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors && !st; i++) {
        const pending_tensor *t = &w->tensors[i];
        st = put_str(&head, t->name, err);
        if (!st) st = put_u32(&head, (uint32_t)t->n_dims, err);
        for (int d = 0; d < t->n_dims && !st; d++) st = put_u64(&head, t->dims[d], err);
        if (!st) st = put_u32(&head, t->type, err);
        if (!st) st = put_u64(&head, offset, err);
        offset += (t->bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }
    if (!st) st = put(&head, zeros, (ALIGNMENT - head.len % ALIGNMENT) % ALIGNMENT, err);
    /* The header, then each tensor and its padding. */
    io_piece *pieces = st ? NULL : malloc((2 * w->n_tensors + 1) * sizeof *pieces);
    if (!st && !pieces) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gguf: out of host memory");
    if (!st) {
        size_t n = 0;
        pieces[n++] = (io_piece){ head.data, head.len };
        for (size_t i = 0; i < w->n_tensors; i++) {
            pieces[n++] = (io_piece){ w->tensors[i].data, w->tensors[i].bytes };
            pieces[n++] = (io_piece){ zeros, (ALIGNMENT - w->tensors[i].bytes % ALIGNMENT) % ALIGNMENT };
        }
        st = io_write_atomically(path, pieces, n, err);
    }
    free(pieces);
    free(head.data);
    return st;
}
