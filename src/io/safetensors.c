/* .safetensors files: an 8-byte little-endian header length, a JSON header
 * mapping names to {dtype, shape, data_offsets}, then the data buffer. We hold
 * files to the reference implementation's rules: every tensor's extent matches
 * its shape, and the tensors tile the data buffer with no overlap, gap or tail. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_io.h"
#include "tappa/tensor_io.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensor data is copied between files and memory as is, which assumes a little-endian host"
#endif

/* The reference implementation refuses larger headers; so do we, before
 * allocating for one. */
#define ST_HEADER_MAX 100000000u
/* Bytes of file data converted per read, so I64 and BF16 need no full-size copy. */
#define CONVERT_CHUNK ((size_t)1 << 19)

/* Why an element could not be converted. */
typedef struct bad_element {
    size_t index;
    long long value;
} bad_element;

/* Converts n file elements to tappa elements; false (with *bad) if one does not fit. */
typedef bool (*convert_fn)(const unsigned char *src, size_t n, void *dst, bad_element *bad);

static bool i64_to_i32(const unsigned char *src, size_t n, void *dst, bad_element *bad)
{
    int32_t *out = dst;
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, src + 8 * i, 8);
        if (v < INT32_MIN || v > INT32_MAX) {
            *bad = (bad_element){i, (long long)v};
            return false;
        }
        out[i] = (int32_t)v;
    }
    return true;
}

/* bf16 is the top half of an f32, so widening is exact. */
static bool bf16_to_f32(const unsigned char *src, size_t n, void *dst, bad_element *bad)
{
    (void)bad;
    float *out = dst;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)src[2 * i] << 16 | (uint32_t)src[2 * i + 1] << 24;
        memcpy(&out[i], &bits, 4);
    }
    return true;
}

typedef struct st_type {
    const char *name;
    size_t file_bytes;
    tappa_dtype dtype;
    convert_fn convert; /* NULL: the file bytes are the tappa bytes */
} st_type;

static const st_type st_types[] = {
    {"F32", 4, TAPPA_F32, NULL},
    {"F16", 2, TAPPA_F16, NULL},
    {"I32", 4, TAPPA_I32, NULL},
    {"I64", 8, TAPPA_I32, i64_to_i32},
    {"BF16", 2, TAPPA_F32, bf16_to_f32},
};
#define ST_TYPE_COUNT (sizeof st_types / sizeof st_types[0])

static const st_type *type_of_name(const char *name)
{
    for (size_t i = 0; i < ST_TYPE_COUNT; i++)
        if (strcmp(name, st_types[i].name) == 0) return &st_types[i];
    return NULL;
}

/* The type we write for dtype: its unconverted entry. */
static const st_type *type_of_dtype(tappa_dtype dtype)
{
    for (size_t i = 0; i < ST_TYPE_COUNT; i++)
        if (st_types[i].dtype == dtype && !st_types[i].convert) return &st_types[i];
    return NULL;
}

enum { SHAPE_TEXT = 4 + 22 * TAPPA_MAX_DIMS };

/* "[3, 4]", as in the header. */
static const char *shape_text(char buf[SHAPE_TEXT], int ndim, const int64_t *shape)
{
    int len = snprintf(buf, SHAPE_TEXT, "[");
    for (int i = 0; i < ndim; i++)
        len += snprintf(buf + len, SHAPE_TEXT - (size_t)len, "%s%lld", i ? ", " : "",
                        (long long)shape[i]);
    snprintf(buf + len, SHAPE_TEXT - (size_t)len, "]");
    return buf;
}

typedef struct st_entry {
    char *name;
    tappa_array array;
} st_entry;

struct tappa_safetensors {
    size_t count;
    st_entry *entries;   /* file order */
    st_entry **by_name;  /* sorted by name, for lookup */
};

/* ---- reading ---------------------------------------------------------------- */

typedef struct st_reader {
    int fd;
    uint64_t size;
    uint64_t data_off, data_len; /* the data buffer, after the header */
    const char *path;
    tappa_error *err;
} st_reader;

/* One tensor as the header describes it, before any data is read. */
typedef struct st_info {
    const char *name; /* owned by the cJSON tree */
    const st_type *type;
    int ndim;
    int64_t shape[TAPPA_MAX_DIMS];
    uint64_t begin, end;
} st_info;

static tappa_status read_header_length(st_reader *r)
{
    if (r->size == 0) return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: empty file", r->path);
    if (r->size < 8)
        return tappa_fail(r->err, TAPPA_ERR_FORMAT,
                          "%s: truncated: %llu bytes, too short for the 8-byte header length",
                          r->path, (unsigned long long)r->size);
    unsigned char b[8];
    tappa_status st = io_read_at(r->fd, 0, b, 8, r->path, r->err);
    if (st) return st;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    if (n > r->size - 8)
        return tappa_fail(r->err, TAPPA_ERR_FORMAT,
                          "%s: header length %llu runs past the end of the file (%llu bytes "
                          "follow the length)", r->path, (unsigned long long)n,
                          (unsigned long long)(r->size - 8));
    if (n > ST_HEADER_MAX)
        return tappa_fail(r->err, TAPPA_ERR_LIMIT, "%s: header of %llu bytes exceeds the %u-byte "
                          "limit", r->path, (unsigned long long)n, ST_HEADER_MAX);
    r->data_off = 8 + n;
    r->data_len = r->size - r->data_off;
    return TAPPA_OK;
}

static tappa_status parse_json(const st_reader *r, const char *text, size_t len, cJSON **root)
{
    const char *end = text;
    *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!*root)
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: header is not valid JSON (error near "
                          "byte %td)", r->path, end - text);
    /* Writers pad the header with spaces; anything else after it is corrupt. */
    for (; end < text + len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
            return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: unexpected bytes after the JSON "
                              "header at byte %td", r->path, end - text);
    if (!cJSON_IsObject(*root))
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: header is not a JSON object", r->path);
    return TAPPA_OK;
}

/* Leaves *root for the caller to delete, also on failure. */
static tappa_status read_header(st_reader *r, cJSON **root)
{
    *root = NULL;
    tappa_status st = read_header_length(r);
    if (st) return st;
    size_t len = (size_t)(r->data_off - 8);
    char *text = malloc(len + 1);
    if (!text)
        return tappa_fail(r->err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes for the "
                          "header", r->path, len);
    st = io_read_at(r->fd, 8, text, len, r->path, r->err);
    if (!st) {
        text[len] = '\0';
        st = parse_json(r, text, len, root);
    }
    free(text);
    return st;
}

/* A non-negative JSON integer. cJSON keeps numbers as doubles, exact up to
 * 2^53, far above any real offset or dimension; values beyond 2^64 saturate
 * so the callers' range checks reject them. */
static tappa_status json_uint(const st_reader *r, const st_info *t, const char *what,
                              const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s': %s is not a number",
                          r->path, t->name, what);
    double d = v->valuedouble;
    if (d < 0)
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s': %s is negative (%g)",
                          r->path, t->name, what, d);
    if (d >= 18446744073709551616.0) {
        *out = UINT64_MAX;
        return TAPPA_OK;
    }
    if (d != (double)(uint64_t)d)
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s': %s is not an integer (%g)",
                          r->path, t->name, what, d);
    *out = (uint64_t)d;
    return TAPPA_OK;
}

static tappa_status parse_shape(const st_reader *r, const cJSON *shape, st_info *t)
{
    if (!cJSON_IsArray(shape))
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s': no \"shape\" array",
                          r->path, t->name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > TAPPA_MAX_DIMS)
        return tappa_fail(r->err, TAPPA_ERR_LIMIT, "%s: tensor '%s': %d dimensions (at most %d "
                          "supported)", r->path, t->name, ndim, TAPPA_MAX_DIMS);
    t->ndim = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        char what[32];
        snprintf(what, sizeof what, "shape dimension %d", t->ndim);
        uint64_t v;
        tappa_status st = json_uint(r, t, what, dim, &v);
        if (st) return st;
        if (v > INT64_MAX)
            return tappa_fail(r->err, TAPPA_ERR_LIMIT, "%s: tensor '%s': %s is absurdly large",
                              r->path, t->name, what);
        t->shape[t->ndim++] = (int64_t)v;
    }
    return TAPPA_OK;
}

static tappa_status parse_entry(const st_reader *r, const cJSON *item, st_info *t)
{
    t->name = item->string;
    if (!cJSON_IsObject(item))
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object",
                          r->path, t->name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dtype))
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s': no \"dtype\" string",
                          r->path, t->name);
    t->type = type_of_name(dtype->valuestring);
    if (!t->type)
        return tappa_fail(r->err, TAPPA_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not "
                          "supported (F32, F16, BF16, I32 and I64 are)", r->path, t->name,
                          dtype->valuestring);
    tappa_status st = parse_shape(r, cJSON_GetObjectItemCaseSensitive(item, "shape"), t);
    if (st) return st;
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" is not a "
                          "[begin, end] pair", r->path, t->name);
    st = json_uint(r, t, "data_offsets begin", cJSON_GetArrayItem(offsets, 0), &t->begin);
    if (st) return st;
    return json_uint(r, t, "data_offsets end", cJSON_GetArrayItem(offsets, 1), &t->end);
}

/* The tensor's extent must lie in the data buffer and match its shape. */
static tappa_status check_extent(const st_reader *r, const st_info *t)
{
    char shape[SHAPE_TEXT];
    shape_text(shape, t->ndim, t->shape);
    size_t bytes;
    tappa_error inner;
    tappa_status st = tappa_shape_numel(t->ndim, t->shape, t->type->file_bytes, NULL, &bytes, &inner);
    if (st)
        return tappa_fail(r->err, st, "%s: tensor '%s': shape %s: %s", r->path, t->name, shape,
                          inner.message);
    if (t->end < t->begin || t->end > r->data_len)
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] "
                          "lie outside the %llu-byte data buffer", r->path, t->name,
                          (unsigned long long)t->begin, (unsigned long long)t->end,
                          (unsigned long long)r->data_len);
    if (t->end - t->begin != bytes)
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] "
                          "hold %llu bytes but shape %s %s needs %zu", r->path, t->name,
                          (unsigned long long)t->begin, (unsigned long long)t->end,
                          (unsigned long long)(t->end - t->begin), shape, t->type->name, bytes);
    return TAPPA_OK;
}

static tappa_status check_metadata(const st_reader *r, const cJSON *meta)
{
    if (!cJSON_IsObject(meta))
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: __metadata__ is not a JSON object",
                          r->path);
    const cJSON *v;
    cJSON_ArrayForEach(v, meta) {
        if (!cJSON_IsString(v))
            return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: __metadata__ value '%s' is not a "
                              "string", r->path, v->string);
    }
    return TAPPA_OK;
}

static int info_name_cmp(const void *a, const void *b)
{
    return strcmp((*(const st_info *const *)a)->name, (*(const st_info *const *)b)->name);
}

static int info_offset_cmp(const void *a, const void *b)
{
    const st_info *x = *(const st_info *const *)a, *y = *(const st_info *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* order holds the n infos sorted by name; a cJSON object may repeat a key. */
static tappa_status check_unique(const st_reader *r, const st_info *const *order, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s' appears twice", r->path,
                              order[i]->name);
    return TAPPA_OK;
}

/* order holds the n infos sorted by offsets; they must tile the data buffer. */
static tappa_status check_tiling(const st_reader *r, const st_info *const *order, size_t n)
{
    uint64_t end = 0;
    for (size_t i = 0; i < n; i++) {
        const st_info *t = order[i];
        if (t->begin < end)
            return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: tensor '%s' [%llu, %llu] overlaps "
                              "tensor '%s' [%llu, %llu]", r->path, t->name,
                              (unsigned long long)t->begin, (unsigned long long)t->end,
                              order[i - 1]->name, (unsigned long long)order[i - 1]->begin,
                              (unsigned long long)end);
        if (t->begin > end)
            return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: %llu unused bytes in the data buffer "
                              "before tensor '%s'", r->path, (unsigned long long)(t->begin - end),
                              t->name);
        end = t->end;
    }
    if (end != r->data_len)
        return tappa_fail(r->err, TAPPA_ERR_FORMAT, "%s: %llu trailing bytes after the last tensor "
                          "(the data buffer has %llu, the tensors use %llu)", r->path,
                          (unsigned long long)(r->data_len - end),
                          (unsigned long long)r->data_len, (unsigned long long)end);
    return TAPPA_OK;
}

/* Fills infos (file order) from the header and checks them all before any
 * tensor data is read; by_name_out gets them sorted by name. */
static tappa_status parse_infos(const st_reader *r, const cJSON *root, st_info *infos,
                                size_t *count, const st_info **by_name_out)
{
    size_t n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        tappa_status st;
        if (strcmp(item->string, "__metadata__") == 0) {
            st = check_metadata(r, item);
        } else {
            st = parse_entry(r, item, &infos[n]);
            if (!st) st = check_extent(r, &infos[n]);
            n++;
        }
        if (st) return st;
    }
    *count = n;
    for (size_t i = 0; i < n; i++) by_name_out[i] = &infos[i];
    qsort(by_name_out, n, sizeof *by_name_out, info_name_cmp);
    tappa_status st = check_unique(r, by_name_out, n);
    if (st) return st;
    const st_info **by_off = malloc((n ? n : 1) * sizeof *by_off);
    if (!by_off)
        return tappa_fail(r->err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate a tensor index",
                          r->path);
    memcpy(by_off, by_name_out, n * sizeof *by_off);
    qsort(by_off, n, sizeof *by_off, info_offset_cmp);
    st = check_tiling(r, by_off, n);
    free(by_off);
    return st;
}

static tappa_status read_converted(const st_reader *r, const st_info *t, tappa_array *a)
{
    size_t n = tappa_array_numel(a);
    if (n == 0) return TAPPA_OK;
    size_t in_bytes = t->type->file_bytes, out_bytes = tappa_dtype_bytes(a->dtype);
    size_t chunk = n < CONVERT_CHUNK / in_bytes ? n : CONVERT_CHUNK / in_bytes;
    unsigned char *buf = malloc(chunk * in_bytes);
    if (!buf)
        return tappa_fail(r->err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate a conversion buffer",
                          r->path);
    tappa_status st = TAPPA_OK;
    for (size_t done = 0; done < n && !st;) {
        size_t k = n - done < chunk ? n - done : chunk;
        st = io_read_at(r->fd, r->data_off + t->begin + done * in_bytes, buf, k * in_bytes, r->path, r->err);
        bad_element bad;
        if (!st && !t->type->convert(buf, k, (unsigned char *)a->data + done * out_bytes, &bad))
            st = tappa_fail(r->err, TAPPA_ERR_LIMIT, "%s: tensor '%s': element %zu (%lld) does "
                            "not fit in %s", r->path, t->name, done + bad.index, bad.value,
                            tappa_dtype_name(a->dtype));
        done += k;
    }
    free(buf);
    return st;
}

static tappa_status load_tensor(const st_reader *r, const st_info *t, st_entry *e)
{
    e->name = strdup(t->name);
    if (!e->name)
        return tappa_fail(r->err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate a tensor name",
                          r->path);
    tappa_error inner;
    tappa_status st = tappa_array_alloc(&e->array, t->type->dtype, t->ndim, t->shape, &inner);
    if (st) return tappa_fail(r->err, st, "%s: tensor '%s': %s", r->path, t->name, inner.message);
    if (!t->type->convert) return io_read_at(r->fd, r->data_off + t->begin, e->array.data, e->array.bytes, r->path, r->err);
    return read_converted(r, t, &e->array);
}

static tappa_status load_all(const st_reader *r, const st_info *infos, const st_info *const *order,
                             size_t n, tappa_safetensors *ts)
{
    /* Never zero-sized: qsort and bsearch want valid pointers even for no elements. */
    ts->entries = calloc(n ? n : 1, sizeof *ts->entries);
    ts->by_name = calloc(n ? n : 1, sizeof *ts->by_name);
    if (!ts->entries || !ts->by_name)
        return tappa_fail(r->err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate %zu tensors", r->path,
                          n);
    ts->count = n;
    for (size_t i = 0; i < n; i++) {
        ts->by_name[i] = &ts->entries[order[i] - infos];
        tappa_status st = load_tensor(r, &infos[i], &ts->entries[i]);
        if (st) return st;
    }
    return TAPPA_OK;
}

static tappa_status build(const st_reader *r, const cJSON *root, tappa_safetensors *ts)
{
    size_t max = (size_t)cJSON_GetArraySize(root) + 1; /* +1: never zero-sized */
    st_info *infos = malloc(max * sizeof *infos);
    const st_info **order = malloc(max * sizeof *order);
    tappa_status st;
    if (!infos || !order)
        st = tappa_fail(r->err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate %zu tensor entries",
                        r->path, max);
    else {
        size_t n;
        st = parse_infos(r, root, infos, &n, order);
        if (!st) st = load_all(r, infos, order, n, ts);
    }
    free(infos);
    free(order);
    return st;
}

tappa_status tappa_safetensors_read(const char *path, tappa_safetensors **out, tappa_error *err)
{
    *out = NULL;
    st_reader r = {.path = path, .err = err};
    tappa_status st = io_open_input(path, &r.fd, &r.size, err);
    if (st) return st;
    cJSON *root;
    st = read_header(&r, &root);
    tappa_safetensors *ts = NULL;
    if (!st) {
        ts = calloc(1, sizeof *ts);
        if (!ts) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate", path);
    }
    if (!st) st = build(&r, root, ts);
    cJSON_Delete(root);
    close(r.fd);
    if (st) tappa_safetensors_free(&ts);
    *out = ts;
    return st;
}

size_t tappa_safetensors_count(const tappa_safetensors *st)
{
    return st->count;
}

const char *tappa_safetensors_name(const tappa_safetensors *st, size_t i)
{
    return i < st->count ? st->entries[i].name : NULL;
}

const tappa_array *tappa_safetensors_at(const tappa_safetensors *st, size_t i)
{
    return i < st->count ? &st->entries[i].array : NULL;
}

static int name_vs_entry(const void *key, const void *elem)
{
    return strcmp(key, (*(st_entry *const *)elem)->name);
}

const tappa_array *tappa_safetensors_find(const tappa_safetensors *st, const char *name)
{
    st_entry *const *e = bsearch(name, st->by_name, st->count, sizeof *st->by_name, name_vs_entry);
    return e ? &(*e)->array : NULL;
}

void tappa_safetensors_free(tappa_safetensors **st)
{
    if (!st || !*st) return;
    tappa_safetensors *ts = *st;
    for (size_t i = 0; i < ts->count; i++) {
        free(ts->entries[i].name);
        tappa_array_free(&ts->entries[i].array);
    }
    free(ts->entries);
    free(ts->by_name);
    free(ts);
    *st = NULL;
}

/* ---- writing ---------------------------------------------------------------- */

static tappa_status check_array(const char *path, const char *name, const tappa_array *a,
                                tappa_error *err)
{
    if (!a) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: tensor '%s': no array", path, name);
    if (!type_of_dtype(a->dtype))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: tensor '%s': invalid dtype %d", path,
                          name, (int)a->dtype);
    size_t bytes;
    tappa_error inner;
    tappa_status st = tappa_shape_numel(a->ndim, a->shape, tappa_dtype_bytes(a->dtype), NULL,
                                        &bytes, &inner);
    if (st)
        return tappa_fail(err, st, "%s: tensor '%s': cannot write: %s", path, name, inner.message);
    if (a->bytes != bytes || (bytes && !a->data))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: tensor '%s': array has %zu bytes of "
                          "data but its shape needs %zu", path, name, a->data ? a->bytes : 0,
                          bytes);
    return TAPPA_OK;
}

static int name_vs_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static tappa_status check_unique_names(const char *path, size_t n, const char *const *names,
                                       tappa_error *err)
{
    if (n < 2) return TAPPA_OK; /* also spares memcpy a NULL names when n is 0 */
    const char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate", path);
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, name_vs_name);
    tappa_status st = TAPPA_OK;
    for (size_t i = 1; i < n && !st; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: tensor name '%s' is used twice", path,
                            sorted[i]);
    free(sorted);
    return st;
}

static tappa_status check_inputs(const char *path, size_t n, const char *const *names,
                                 const tappa_array *const *arrays, tappa_error *err)
{
    if (n && (!names || !arrays))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: no names or arrays given", path);
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: tensor %zu has no name", path, i);
        if (strcmp(names[i], "__metadata__") == 0)
            return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: '__metadata__' is reserved and "
                              "cannot name a tensor", path);
        tappa_status st = check_array(path, names[i], arrays[i], err);
        if (st) return st;
    }
    return check_unique_names(path, n, names, err);
}

static bool add_tensor(cJSON *root, const char *name, const tappa_array *a, uint64_t begin)
{
    cJSON *t = cJSON_AddObjectToObject(root, name);
    if (!cJSON_AddStringToObject(t, "dtype", type_of_dtype(a->dtype)->name)) return false;
    cJSON *shape = cJSON_AddArrayToObject(t, "shape");
    if (!shape) return false;
    for (int d = 0; d < a->ndim; d++)
        if (!cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)a->shape[d]))) return false;
    cJSON *offsets = cJSON_AddArrayToObject(t, "data_offsets");
    return offsets && cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)begin)) &&
           cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(begin + a->bytes)));
}

/* The length field and the JSON, padded with spaces to a multiple of 8 bytes
 * so the data buffer starts aligned. */
static tappa_status build_header(const char *path, size_t n, const char *const *names,
                                 const tappa_array *const *arrays, unsigned char **out,
                                 size_t *out_len, tappa_error *err)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    uint64_t off = 0;
    for (size_t i = 0; i < n && ok; i++) {
        ok = add_tensor(root, names[i], arrays[i], off);
        off += arrays[i]->bytes;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: cannot build the header", path);
    size_t len = strlen(json), padded = (len + 7) & ~(size_t)7;
    unsigned char *buf = malloc(8 + padded);
    if (buf) {
        for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
        memcpy(buf + 8, json, len);
        memset(buf + 8 + len, ' ', padded - len);
    }
    cJSON_free(json);
    if (!buf) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate the header", path);
    *out = buf;
    *out_len = 8 + padded;
    return TAPPA_OK;
}

tappa_status tappa_safetensors_write(const char *path, size_t n, const char *const *names,
                                     const tappa_array *const *arrays, tappa_error *err)
{
    tappa_status st = check_inputs(path, n, names, arrays, err);
    if (st) return st;
    unsigned char *header = NULL;
    size_t header_len = 0;
    st = build_header(path, n, names, arrays, &header, &header_len, err);
    if (st) return st;
    io_piece *pieces = malloc((n + 1) * sizeof *pieces);
    if (!pieces) {
        st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate", path);
    } else {
        pieces[0] = (io_piece){header, header_len};
        for (size_t i = 0; i < n; i++) pieces[i + 1] = (io_piece){arrays[i]->data, arrays[i]->bytes};
        st = io_write_atomically(path, pieces, n + 1, err);
    }
    free(pieces);
    free(header);
    return st;
}
