/* GGUF v3 reader: everything is parsed and checked at open against the mapped
 * file; lookups afterwards only search the parsed tables. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf_internal.h"
#include "tappa/gguf.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define MAX_ENTRIES (1u << 24) /* metadata keys or tensors: far above any model */
#define MAX_ALIGNMENT (1u << 16)

typedef struct gguf_kv {
    char *key;
    tappa_gguf_type type;
    union {
        uint64_t u;
        int64_t i;
        double f;
    } num;                 /* integers, floats and bools */
    bool is_signed;
    char *str;             /* STRING */
    tappa_gguf_type elem;  /* ARRAY: element type */
    uint64_t count;        /* ARRAY: element count */
    const uint8_t *raw;    /* ARRAY of numbers: the elements, in the mapping */
    const uint8_t *value;  /* the serialised value, as in the file (for copying) */
    size_t value_bytes;
    char **strs;           /* ARRAY of strings: copies */
    size_t *lens;
} gguf_kv;

struct tappa_gguf {
    char *path;
    void *map;     /* the file's mapping, MAP_FAILED when in memory */
    const void *bytes;
    size_t size;
    gguf_kv *kv;
    size_t n_kv;
    tappa_gguf_tensor *tensors;
    size_t n_tensors;
};

/* A bounds-checked cursor over the mapping. */
typedef struct cursor {
    const uint8_t *p;
    size_t size, pos;
    const char *path;
    tappa_error *err;
} cursor;

static tappa_status truncated(cursor *c, const char *what)
{
    return tappa_fail(c->err, TAPPA_ERR_FORMAT, "%s: truncated GGUF: %s runs past the end of the file (byte %zu of %zu)",
                      c->path, what, c->pos, c->size);
}

static tappa_status take(cursor *c, size_t n, const char *what, const uint8_t **at)
{
    if (n > c->size - c->pos) return truncated(c, what);
    *at = c->p + c->pos;
    c->pos += n;
    return TAPPA_OK;
}

static tappa_status read_u32(cursor *c, const char *what, uint32_t *v)
{
    const uint8_t *at = NULL;
    tappa_status st = take(c, 4, what, &at);
    if (!st) memcpy(v, at, 4);
    return st;
}

static tappa_status read_u64(cursor *c, const char *what, uint64_t *v)
{
    const uint8_t *at = NULL;
    tappa_status st = take(c, 8, what, &at);
    if (!st) memcpy(v, at, 8);
    return st;
}

/* A length-prefixed string, copied and NUL-terminated. */
static tappa_status read_string(cursor *c, const char *what, char **out, size_t *len)
{
    uint64_t n;
    const uint8_t *at = NULL;
    tappa_status st = read_u64(c, what, &n);
    if (!st && n > c->size - c->pos) st = truncated(c, what);
    if (!st) st = take(c, (size_t)n, what, &at);
    if (st) return st;
    *out = malloc((size_t)n + 1);
    if (!*out) return tappa_fail(c->err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", c->path);
    memcpy(*out, at, (size_t)n);
    (*out)[n] = '\0';
    if (len) *len = (size_t)n;
    return TAPPA_OK;
}

/* Bytes of one scalar of type t, 0 for strings, arrays and unknown types. */
static size_t scalar_bytes(uint32_t t)
{
    switch (t) {
    case TAPPA_GGUF_U8: case TAPPA_GGUF_I8: case TAPPA_GGUF_BOOL: return 1;
    case TAPPA_GGUF_U16: case TAPPA_GGUF_I16: return 2;
    case TAPPA_GGUF_U32: case TAPPA_GGUF_I32: case TAPPA_GGUF_F32: return 4;
    case TAPPA_GGUF_U64: case TAPPA_GGUF_I64: case TAPPA_GGUF_F64: return 8;
    default: return 0;
    }
}

/* Scalar of type t at p into kv->num. */
static void decode_scalar(uint32_t t, const uint8_t *p, gguf_kv *kv)
{
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
    kv->is_signed = false;
    switch (t) {
    case TAPPA_GGUF_U8: case TAPPA_GGUF_BOOL: memcpy(&u8, p, 1); kv->num.u = u8; break;
    case TAPPA_GGUF_I8: memcpy(&i8, p, 1); kv->num.i = i8; kv->is_signed = true; break;
    case TAPPA_GGUF_U16: memcpy(&u16, p, 2); kv->num.u = u16; break;
    case TAPPA_GGUF_I16: memcpy(&i16, p, 2); kv->num.i = i16; kv->is_signed = true; break;
    case TAPPA_GGUF_U32: memcpy(&u32, p, 4); kv->num.u = u32; break;
    case TAPPA_GGUF_I32: memcpy(&i32, p, 4); kv->num.i = i32; kv->is_signed = true; break;
    case TAPPA_GGUF_F32: memcpy(&f32, p, 4); kv->num.f = f32; break;
    case TAPPA_GGUF_U64: memcpy(&kv->num.u, p, 8); break;
    case TAPPA_GGUF_I64: memcpy(&kv->num.i, p, 8); kv->is_signed = true; break;
    case TAPPA_GGUF_F64: memcpy(&kv->num.f, p, 8); break;
    default: break;
    }
}

static tappa_status read_value(cursor *c, gguf_kv *kv, uint32_t t);

static tappa_status read_kv(cursor *c, gguf_kv *kv)
{
    tappa_status st = read_string(c, "a metadata key", &kv->key, NULL);
    uint32_t t;
    if (!st) st = read_u32(c, "a metadata type", &t);
    if (st) return st;
    size_t start = c->pos;
    st = read_value(c, kv, t);
    kv->value = c->p + start;
    kv->value_bytes = c->pos - start;
    return st;
}

static tappa_status read_value(cursor *c, gguf_kv *kv, uint32_t t)
{
    tappa_status st;
    kv->type = (tappa_gguf_type)t;
    const uint8_t *at = NULL;
    if (t == TAPPA_GGUF_STRING) return read_string(c, kv->key, &kv->str, NULL);
    if (t != TAPPA_GGUF_ARRAY) {
        size_t n = scalar_bytes(t);
        if (!n) return tappa_fail(c->err, TAPPA_ERR_FORMAT, "%s: metadata '%s' has unknown type %u", c->path, kv->key, t);
        st = take(c, n, kv->key, &at);
        if (!st) decode_scalar(t, at, kv);
        return st;
    }
    uint32_t elem;
    st = read_u32(c, kv->key, &elem);
    if (!st) st = read_u64(c, kv->key, &kv->count);
    if (st) return st;
    kv->elem = (tappa_gguf_type)elem;
    if (elem == TAPPA_GGUF_STRING) {
        /* Each string takes at least its 8-byte length: bound the count before allocating. */
        if (kv->count > (c->size - c->pos) / 8) return truncated(c, kv->key);
        kv->strs = calloc((size_t)kv->count + 1, sizeof *kv->strs);
        kv->lens = calloc((size_t)kv->count + 1, sizeof *kv->lens);
        if (!kv->strs || !kv->lens) return tappa_fail(c->err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", c->path);
        for (uint64_t i = 0; i < kv->count && !st; i++) st = read_string(c, kv->key, &kv->strs[i], &kv->lens[i]);
        return st;
    }
    size_t n = scalar_bytes(elem);
    if (!n)
        return tappa_fail(c->err, TAPPA_ERR_FORMAT, "%s: metadata '%s' is an array of unsupported type %u", c->path,
                          kv->key, elem);
    if (kv->count > (c->size - c->pos) / n) return truncated(c, kv->key);
    return take(c, (size_t)kv->count * n, kv->key, &kv->raw);
}

size_t tappa_ggml_bytes(tappa_ggml_type t, uint64_t n)
{
    switch (t) {
    case TAPPA_GGML_F32: return (size_t)(n * 4);
    case TAPPA_GGML_F16: return (size_t)(n * 2);
    case TAPPA_GGML_Q8_0: return (size_t)(n / 32 * 34);
    case TAPPA_GGML_Q4_0: return (size_t)(n / 32 * 18);
    }
    return 0;
}

const char *tappa_ggml_type_name(tappa_ggml_type t)
{
    switch (t) {
    case TAPPA_GGML_F32: return "f32";
    case TAPPA_GGML_F16: return "f16";
    case TAPPA_GGML_Q8_0: return "q8_0";
    case TAPPA_GGML_Q4_0: return "q4_0";
    }
    return NULL;
}

static tappa_status read_tensor_info(cursor *c, tappa_gguf_tensor *t, uint64_t *offset)
{
    char *name;
    tappa_status st = read_string(c, "a tensor name", &name, NULL);
    if (st) return st;
    t->name = name;
    uint32_t n_dims, type;
    st = read_u32(c, name, &n_dims);
    if (!st && (n_dims < 1 || n_dims > 4))
        st = tappa_fail(c->err, TAPPA_ERR_FORMAT, "%s: tensor '%s' has %u dimensions (1 to 4 expected)", c->path, name,
                        n_dims);
    t->n_dims = (int)n_dims;
    t->elements = 1;
    for (int i = 0; i < 4; i++) t->dims[i] = 1;
    for (uint32_t i = 0; i < n_dims && !st; i++) {
        st = read_u64(c, name, &t->dims[i]);
        if (!st && (t->dims[i] == 0 || t->dims[i] > (1ull << 40) || t->elements > (1ull << 50) / t->dims[i]))
            st = tappa_fail(c->err, TAPPA_ERR_FORMAT, "%s: tensor '%s' has an empty or absurd dimension %llu", c->path,
                            name, (unsigned long long)t->dims[i]);
        if (!st) t->elements *= t->dims[i];
    }
    if (!st) st = read_u32(c, name, &type);
    if (!st) st = read_u64(c, name, offset);
    if (st) return st;
    t->type = (tappa_ggml_type)type;
    if (!tappa_ggml_type_name(t->type))
        return tappa_fail(c->err, TAPPA_ERR_UNSUPPORTED,
                          "%s: tensor '%s' has ggml type %u (tappa reads f32, f16, q8_0 and q4_0)", c->path, name, type);
    if ((t->type == TAPPA_GGML_Q8_0 || t->type == TAPPA_GGML_Q4_0) && t->dims[0] % 32)
        return tappa_fail(c->err, TAPPA_ERR_FORMAT, "%s: tensor '%s' is %s but its rows of %llu are not whole blocks of 32",
                          c->path, name, tappa_ggml_type_name(t->type), (unsigned long long)t->dims[0]);
    t->bytes = tappa_ggml_bytes(t->type, t->elements);
    return TAPPA_OK;
}

static const gguf_kv *find_kv(const tappa_gguf *g, const char *key)
{
    for (size_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

static tappa_status parse(tappa_gguf *g, tappa_error *err)
{
    cursor c = { g->bytes, g->size, 0, g->path, err };
    uint32_t magic, version;
    uint64_t n_tensors, n_kv;
    tappa_status st = read_u32(&c, "the magic", &magic);
    if (!st && magic != GGUF_MAGIC) return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: not a GGUF file (bad magic)", g->path);
    if (!st) st = read_u32(&c, "the version", &version);
    if (!st && version != 3 && version != 2)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s: GGUF version %u (tappa reads 2 and 3)", g->path, version);
    if (!st) st = read_u64(&c, "the tensor count", &n_tensors);
    if (!st) st = read_u64(&c, "the metadata count", &n_kv);
    if (st) return st;
    if (n_tensors > MAX_ENTRIES || n_kv > MAX_ENTRIES || n_kv > g->size / 12 || n_tensors > g->size / 24)
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: %llu tensors and %llu metadata keys cannot fit in %zu bytes", g->path,
                          (unsigned long long)n_tensors, (unsigned long long)n_kv, g->size);
    g->kv = calloc((size_t)n_kv + 1, sizeof *g->kv);
    g->tensors = calloc((size_t)n_tensors + 1, sizeof *g->tensors);
    uint64_t *offsets = calloc((size_t)n_tensors + 1, sizeof *offsets);
    if (!g->kv || !g->tensors || !offsets) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", g->path);
    for (uint64_t i = 0; i < n_kv && !st; i++) {
        st = read_kv(&c, &g->kv[i]);
        g->n_kv = (size_t)i + 1; /* freed on failure, even half-read */
        if (!st)
            for (size_t j = 0; j < i && !st; j++)
                if (!strcmp(g->kv[j].key, g->kv[i].key))
                    st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: metadata key '%s' appears twice", g->path, g->kv[i].key);
    }
    uint32_t alignment = 32;
    const gguf_kv *a = st ? NULL : find_kv(g, "general.alignment");
    if (a) {
        if (a->type != TAPPA_GGUF_U32 || a->num.u == 0 || a->num.u > MAX_ALIGNMENT || (a->num.u & (a->num.u - 1)))
            st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: general.alignment must be a power of two up to %u", g->path,
                            MAX_ALIGNMENT);
        else
            alignment = (uint32_t)a->num.u;
    }
    for (uint64_t i = 0; i < n_tensors && !st; i++) {
        st = read_tensor_info(&c, &g->tensors[i], &offsets[i]);
        g->n_tensors = (size_t)i + 1;
        for (size_t j = 0; j < i && !st; j++)
            if (!strcmp(g->tensors[j].name, g->tensors[i].name))
                st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: tensor '%s' appears twice", g->path, g->tensors[i].name);
    }
    size_t data = st ? 0 : (c.pos + alignment - 1) / alignment * alignment;
    if (!st && data > g->size && n_tensors)
        st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: the tensor data would start past the end of the file", g->path);
    for (uint64_t i = 0; i < n_tensors && !st; i++) {
        tappa_gguf_tensor *t = &g->tensors[i];
        if (offsets[i] % alignment)
            st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: tensor '%s' starts at offset %llu, not a multiple of %u",
                            g->path, t->name, (unsigned long long)offsets[i], alignment);
        else if (offsets[i] > g->size - data || t->bytes > g->size - data - offsets[i])
            st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: tensor '%s' (%zu bytes at offset %llu) runs past the end of the file",
                            g->path, t->name, t->bytes, (unsigned long long)offsets[i]);
        else
            t->data = (const uint8_t *)g->bytes + data + offsets[i];
    }
    free(offsets);
    return st;
}

tappa_status tappa_gguf_open(const char *path, tappa_gguf **out, tappa_error *err)
{
    *out = NULL;
    tappa_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", path);
    }
    g->map = MAP_FAILED;
    tappa_status st = TAPPA_OK;
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0) st = tappa_fail(err, TAPPA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    else if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = tappa_fail(err, TAPPA_ERR_IO, "%s: not a regular file", path);
    else if (sb.st_size < 24)
        st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: %lld bytes: too short for a GGUF header", path, (long long)sb.st_size);
    if (!st) {
        g->size = (size_t)sb.st_size;
        g->map = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (g->map == MAP_FAILED) st = tappa_fail(err, TAPPA_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        g->bytes = g->map;
    }
    if (fd >= 0) close(fd);
    if (!st) st = parse(g, err);
    if (st) {
        tappa_gguf_close(&g);
        return st;
    }
    *out = g;
    return TAPPA_OK;
}

tappa_status tappa_gguf_open_memory(const void *data, size_t size, const char *name, tappa_gguf **out,
                                    tappa_error *err)
{
    *out = NULL;
    tappa_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(name))) {
        free(g);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", name);
    }
    g->map = MAP_FAILED;
    g->bytes = data;
    g->size = size;
    tappa_status st = size < 24 ? tappa_fail(err, TAPPA_ERR_FORMAT, "%s: %zu bytes: too short for a GGUF header", name, size)
                                : parse(g, err);
    if (st) {
        tappa_gguf_close(&g);
        return st;
    }
    *out = g;
    return TAPPA_OK;
}

void tappa_gguf_close(tappa_gguf **gp)
{
    if (!gp || !*gp) return;
    tappa_gguf *g = *gp;
    for (size_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        free(kv->key);
        free(kv->str);
        if (kv->strs)
            for (uint64_t j = 0; j < kv->count; j++) free(kv->strs[j]);
        free(kv->strs);
        free(kv->lens);
    }
    for (size_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->map != MAP_FAILED) munmap(g->map, g->size);
    free(g->path);
    free(g);
    *gp = NULL;
}

static bool is_int(tappa_gguf_type t)
{
    return t == TAPPA_GGUF_U8 || t == TAPPA_GGUF_I8 || t == TAPPA_GGUF_U16 || t == TAPPA_GGUF_I16 ||
           t == TAPPA_GGUF_U32 || t == TAPPA_GGUF_I32 || t == TAPPA_GGUF_U64 || t == TAPPA_GGUF_I64;
}

bool tappa_gguf_u32(const tappa_gguf *g, const char *key, uint32_t *v)
{
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || !is_int(kv->type)) return false;
    if (kv->is_signed ? (kv->num.i < 0 || kv->num.i > (int64_t)UINT32_MAX) : kv->num.u > UINT32_MAX) return false;
    *v = kv->is_signed ? (uint32_t)kv->num.i : (uint32_t)kv->num.u;
    return true;
}

bool tappa_gguf_f32(const tappa_gguf *g, const char *key, float *v)
{
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || (kv->type != TAPPA_GGUF_F32 && kv->type != TAPPA_GGUF_F64)) return false;
    *v = (float)kv->num.f;
    return true;
}

bool tappa_gguf_bool(const tappa_gguf *g, const char *key, bool *v)
{
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != TAPPA_GGUF_BOOL) return false;
    *v = kv->num.u != 0;
    return true;
}

const char *tappa_gguf_str(const tappa_gguf *g, const char *key)
{
    const gguf_kv *kv = find_kv(g, key);
    return kv && kv->type == TAPPA_GGUF_STRING ? kv->str : NULL;
}

bool tappa_gguf_array(const tappa_gguf *g, const char *key, tappa_gguf_type *type, uint64_t *count)
{
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != TAPPA_GGUF_ARRAY) return false;
    *type = kv->elem;
    *count = kv->count;
    return true;
}

const char *tappa_gguf_array_str(const tappa_gguf *g, const char *key, uint64_t i, size_t *len)
{
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != TAPPA_GGUF_ARRAY || kv->elem != TAPPA_GGUF_STRING || i >= kv->count) return NULL;
    if (len) *len = kv->lens[i];
    return kv->strs[i];
}

bool tappa_gguf_array_num(const tappa_gguf *g, const char *key, uint64_t i, double *v)
{
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != TAPPA_GGUF_ARRAY || !kv->raw || i >= kv->count) return false;
    gguf_kv one = { 0 };
    size_t n = scalar_bytes(kv->elem);
    decode_scalar(kv->elem, kv->raw + i * n, &one);
    if (kv->elem == TAPPA_GGUF_F32 || kv->elem == TAPPA_GGUF_F64) *v = one.num.f;
    else *v = one.is_signed ? (double)one.num.i : (double)one.num.u;
    return true;
}

tappa_status tappa_gguf_copy_kv(tappa_gguf_writer *w, const tappa_gguf *g, size_t i, tappa_error *err)
{
    if (i >= g->n_kv) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "gguf: no metadata entry %zu", i);
    return gguf_writer_put_raw(w, g->kv[i].key, g->kv[i].type, g->kv[i].value, g->kv[i].value_bytes, err);
}

size_t tappa_gguf_kv_count(const tappa_gguf *g) { return g->n_kv; }
const char *tappa_gguf_kv_key(const tappa_gguf *g, size_t i) { return i < g->n_kv ? g->kv[i].key : NULL; }
size_t tappa_gguf_tensor_count(const tappa_gguf *g) { return g->n_tensors; }

const tappa_gguf_tensor *tappa_gguf_tensor_at(const tappa_gguf *g, size_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const tappa_gguf_tensor *tappa_gguf_find(const tappa_gguf *g, const char *name)
{
    for (size_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}
