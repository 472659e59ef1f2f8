/* .npy files. The header is a Python dict literal; rather than a general
 * Python parser we read the subset numpy writes (plus the usual variations in
 * hand-made files: key order, quote style, spacing, trailing commas), and we
 * check every length against the real file size before reading or allocating. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

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

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Headers for our dtypes are a few hundred bytes; the cap stops a hostile
 * header length (up to 4 GiB in v2/v3) from driving a huge allocation. */
#define NPY_HEADER_MAX (1u << 20)
#define NPY_ALIGN 64
/* Largest dict text we write: fixed keys plus up to 20 digits and ", " per dim. */
#define NPY_DICT_MAX (64 + 22 * TAPPA_MAX_DIMS)
/* Our headers always fit v1's u16 length, so the writer never needs v2. */
_Static_assert(10 + NPY_DICT_MAX + NPY_ALIGN <= 65535, "npy header needs format v2");

/* Elements of i8 data converted per read, so narrowing needs no full-size copy. */
#define NARROW_CHUNK ((size_t)1 << 16)

/* Little-endian descrs we take. numpy writes '|' only for one-byte types and
 * never writes '=', so for these dtypes '<' is the only prefix it produces. */
typedef struct npy_type {
    const char *descr;
    tappa_dtype dtype;
    size_t file_bytes;
} npy_type;

static const npy_type npy_types[] = {
    {"<f4", TAPPA_F32, 4},
    {"<f2", TAPPA_F16, 2},
    {"<i4", TAPPA_I32, 4},
    {"<i8", TAPPA_I32, 8}, /* narrowed on read */
};

#define NPY_TYPE_COUNT (sizeof npy_types / sizeof npy_types[0])

static const npy_type *type_of_descr(const char *descr)
{
    for (size_t i = 0; i < NPY_TYPE_COUNT; i++)
        if (strcmp(descr, npy_types[i].descr) == 0) return &npy_types[i];
    return NULL;
}

/* The descr we write for dtype: its exact-size entry, never the narrowed <i8. */
static const npy_type *type_of_dtype(tappa_dtype dtype)
{
    for (size_t i = 0; i < NPY_TYPE_COUNT; i++)
        if (npy_types[i].dtype == dtype && npy_types[i].file_bytes == tappa_dtype_bytes(dtype))
            return &npy_types[i];
    return NULL;
}

enum { SHAPE_TEXT = 4 + 22 * TAPPA_MAX_DIMS };

/* numpy's repr of a shape tuple: "()", "(3,)", "(3, 4)". */
static const char *shape_text(char buf[SHAPE_TEXT], int ndim, const int64_t *shape)
{
    int len = snprintf(buf, SHAPE_TEXT, "(");
    for (int i = 0; i < ndim; i++)
        len += snprintf(buf + len, SHAPE_TEXT - (size_t)len, "%s%lld", i ? ", " : "",
                        (long long)shape[i]);
    snprintf(buf + len, SHAPE_TEXT - (size_t)len, ndim == 1 ? ",)" : ")");
    return buf;
}

/* ---- reading ---------------------------------------------------------------- */

/* Magic and version; finds where the header text lies and checks it fits. */
static tappa_status read_preamble(int fd, uint64_t size, const char *path, uint64_t *header_off,
                                  uint64_t *header_len, tappa_error *err)
{
    if (size == 0) return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: empty file", path);
    unsigned char pre[12];
    size_t got = size < sizeof pre ? (size_t)size : sizeof pre;
    tappa_status st = io_read_at(fd, 0, pre, got, path, err);
    if (st) return st;
    if (memcmp(pre, npy_magic, got < 6 ? got : 6) != 0)
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    if (got < 10)
        return tappa_fail(err, TAPPA_ERR_FORMAT,
                          "%s: truncated: %zu bytes, too short for the .npy preamble", path, got);
    unsigned major = pre[6], minor = pre[7];
    if (minor != 0 || major < 1 || major > 3)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "%s: .npy format version %u.%u is not supported (1.0, 2.0, 3.0 are)",
                          path, major, minor);
    *header_off = major == 1 ? 10 : 12; /* v2 and v3 widened the length to 4 bytes */
    if (got < *header_off)
        return tappa_fail(err, TAPPA_ERR_FORMAT,
                          "%s: truncated: %zu bytes, too short for the .npy v%u preamble", path,
                          got, major);
    *header_len = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    if (major > 1) *header_len |= (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
    if (*header_len > size - *header_off)
        return tappa_fail(err, TAPPA_ERR_FORMAT,
                          "%s: truncated header: it claims %llu bytes, the file has %llu after "
                          "the preamble", path, (unsigned long long)*header_len,
                          (unsigned long long)(size - *header_off));
    if (*header_len > NPY_HEADER_MAX)
        return tappa_fail(err, TAPPA_ERR_LIMIT, "%s: header of %llu bytes exceeds the %u-byte limit",
                          path, (unsigned long long)*header_len, NPY_HEADER_MAX);
    return TAPPA_OK;
}

typedef struct npy_header {
    char descr[32]; /* longer descrs are cut, which is enough to name them as unsupported */
    bool fortran_order;
    int ndim;
    int64_t shape[TAPPA_MAX_DIMS];
} npy_header;

typedef struct cursor {
    const char *p, *begin, *end;
    const char *path;
    tappa_error *err;
} cursor;

static tappa_status bad_header(const cursor *c, const char *problem)
{
    return tappa_fail(c->err, TAPPA_ERR_FORMAT, "%s: bad npy header: %s at byte %td", c->path,
                      problem, c->p - c->begin);
}

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p == c->end || *c->p != ch) return false;
    c->p++;
    return true;
}

static bool eat_word(cursor *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return false;
    c->p += n;
    return true;
}

/* A quoted string without escapes: none of the keys or descrs we take have any. */
static tappa_status parse_string(cursor *c, char *out, size_t cap)
{
    skip_ws(c);
    if (c->p == c->end || (*c->p != '\'' && *c->p != '"')) return bad_header(c, "expected a string");
    char quote = *c->p++;
    size_t n = 0;
    for (; c->p < c->end && *c->p != quote; c->p++)
        if (n + 1 < cap) out[n++] = *c->p;
    if (c->p == c->end) return bad_header(c, "unterminated string");
    c->p++;
    out[n] = '\0';
    return TAPPA_OK;
}

static tappa_status parse_dim(cursor *c, int64_t *dim)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == '-') return bad_header(c, "negative shape dimension");
    if (c->p == c->end || *c->p < '0' || *c->p > '9') return bad_header(c, "expected a dimension");
    int64_t v = 0;
    for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++) {
        int digit = *c->p - '0';
        if (v > (INT64_MAX - digit) / 10)
            return tappa_fail(c->err, TAPPA_ERR_LIMIT,
                              "%s: shape dimension does not fit in 64 bits", c->path);
        v = v * 10 + digit;
    }
    eat_word(c, "L"); /* Python 2 wrote long ints as 3L; numpy still reads those files */
    *dim = v;
    return TAPPA_OK;
}

/* A tuple of ints: "()", "(3,)", "(3, 4)", "(3, 4,)". "(3)" is an int in Python. */
static tappa_status parse_shape(cursor *c, npy_header *h)
{
    if (!eat(c, '(')) return bad_header(c, "shape is not a tuple");
    h->ndim = 0;
    bool comma = false;
    while (!eat(c, ')')) {
        if (h->ndim == TAPPA_MAX_DIMS)
            return tappa_fail(c->err, TAPPA_ERR_LIMIT, "%s: shape has more than %d dimensions",
                              c->path, TAPPA_MAX_DIMS);
        tappa_status st = parse_dim(c, &h->shape[h->ndim++]);
        if (st) return st;
        comma = eat(c, ',');
        if (!comma) {
            if (!eat(c, ')')) return bad_header(c, "expected ',' or ')' in shape");
            break;
        }
    }
    if (h->ndim == 1 && !comma) return bad_header(c, "shape is not a tuple");
    return TAPPA_OK;
}

enum { KEY_DESCR, KEY_FORTRAN, KEY_SHAPE, KEY_COUNT };
static const char *const npy_keys[KEY_COUNT] = {"descr", "fortran_order", "shape"};

static tappa_status parse_value(cursor *c, int key, npy_header *h)
{
    switch (key) {
    case KEY_DESCR:
        if (eat(c, '['))
            return tappa_fail(c->err, TAPPA_ERR_UNSUPPORTED,
                              "%s: structured dtypes are not supported", c->path);
        return parse_string(c, h->descr, sizeof h->descr);
    case KEY_FORTRAN:
        skip_ws(c);
        if (eat_word(c, "True")) h->fortran_order = true;
        else if (eat_word(c, "False")) h->fortran_order = false;
        else return bad_header(c, "fortran_order is not True or False");
        return TAPPA_OK;
    default:
        return parse_shape(c, h);
    }
}

static tappa_status parse_header(const char *text, size_t len, const char *path, npy_header *h,
                                 tappa_error *err)
{
    cursor c = {text, text, text + len, path, err};
    bool seen[KEY_COUNT] = {false};
    if (!eat(&c, '{')) return bad_header(&c, "expected '{'");
    while (!eat(&c, '}')) {
        char key[32];
        tappa_status st = parse_string(&c, key, sizeof key);
        if (st) return st;
        int k = 0;
        while (k < KEY_COUNT && strcmp(key, npy_keys[k]) != 0) k++;
        if (k == KEY_COUNT)
            return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: bad npy header: unknown key '%s'", path,
                              key);
        if (seen[k])
            return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: bad npy header: duplicate key '%s'", path,
                              key);
        seen[k] = true;
        if (!eat(&c, ':')) return bad_header(&c, "expected ':'");
        st = parse_value(&c, k, h);
        if (st) return st;
        if (eat(&c, '}')) break;
        if (!eat(&c, ',')) return bad_header(&c, "expected ',' or '}'");
    }
    skip_ws(&c);
    if (c.p != c.end) return bad_header(&c, "unexpected text after the dict");
    for (int k = 0; k < KEY_COUNT; k++)
        if (!seen[k])
            return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: bad npy header: no '%s' key", path,
                              npy_keys[k]);
    return TAPPA_OK;
}

static tappa_status read_header(int fd, uint64_t off, uint64_t len, const char *path,
                                npy_header *h, tappa_error *err)
{
    char *text = malloc((size_t)len + 1);
    if (!text)
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate %llu bytes for the header",
                          path, (unsigned long long)len);
    tappa_status st = io_read_at(fd, off, text, (size_t)len, path, err);
    if (!st) st = parse_header(text, (size_t)len, path, h, err);
    free(text);
    return st;
}

static tappa_status header_type(const npy_header *h, const char *path, const npy_type **type,
                                tappa_error *err)
{
    *type = type_of_descr(h->descr);
    if (!*type && h->descr[0] == '>')
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "%s: dtype '%s' is big-endian; only little-endian is supported", path,
                          h->descr);
    if (!*type)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "%s: dtype '%s' is not supported (<f4, <f2, <i4 and <i8 are)", path,
                          h->descr);
    if (h->fortran_order)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "%s: fortran_order True is not supported (C order only)", path);
    return TAPPA_OK;
}

/* The data must fill the rest of the file exactly: anything else means the
 * header and the data disagree. */
static tappa_status check_data_size(const npy_header *h, const npy_type *type, uint64_t have,
                                    const char *path, tappa_error *err)
{
    char shape[SHAPE_TEXT];
    shape_text(shape, h->ndim, h->shape);
    size_t need;
    tappa_error inner;
    tappa_status st = tappa_shape_numel(h->ndim, h->shape, type->file_bytes, NULL, &need, &inner);
    if (st) return tappa_fail(err, st, "%s: shape %s: %s", path, shape, inner.message);
    if (need > have)
        return tappa_fail(err, TAPPA_ERR_FORMAT,
                          "%s: truncated: shape %s %s needs %zu data bytes, file has %llu", path,
                          shape, type->descr, need, (unsigned long long)have);
    if (need < have)
        return tappa_fail(err, TAPPA_ERR_FORMAT,
                          "%s: %llu trailing bytes: shape %s %s needs %zu data bytes, file has %llu",
                          path, (unsigned long long)(have - need), shape, type->descr, need,
                          (unsigned long long)have);
    return TAPPA_OK;
}

static tappa_status read_i64_as_i32(int fd, uint64_t off, size_t n, int32_t *dst, const char *path,
                                    tappa_error *err)
{
    if (n == 0) return TAPPA_OK;
    size_t chunk = n < NARROW_CHUNK ? n : NARROW_CHUNK;
    int64_t *wide = malloc(chunk * sizeof *wide);
    if (!wide)
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: cannot allocate a conversion buffer", path);
    tappa_status st = TAPPA_OK;
    for (size_t done = 0; done < n && !st;) {
        size_t k = n - done < chunk ? n - done : chunk;
        st = io_read_at(fd, off + done * sizeof *wide, wide, k * sizeof *wide, path, err);
        for (size_t i = 0; i < k && !st; i++) {
            if (wide[i] < INT32_MIN || wide[i] > INT32_MAX)
                st = tappa_fail(err, TAPPA_ERR_LIMIT,
                                "%s: element %zu of the <i8 data (%lld) does not fit in i32", path,
                                done + i, (long long)wide[i]);
            else
                dst[done + i] = (int32_t)wide[i];
        }
        done += k;
    }
    free(wide);
    return st;
}

static tappa_status read_npy(int fd, uint64_t size, const char *path, tappa_array *out,
                             tappa_error *err)
{
    uint64_t header_off = 0, header_len = 0; /* set on success; zeroed for -O2's flow analysis */
    tappa_status st = read_preamble(fd, size, path, &header_off, &header_len, err);
    if (st) return st;
    npy_header h = {0};
    st = read_header(fd, header_off, header_len, path, &h, err);
    if (st) return st;
    const npy_type *type;
    st = header_type(&h, path, &type, err);
    if (st) return st;
    uint64_t data_off = header_off + header_len;
    st = check_data_size(&h, type, size - data_off, path, err);
    if (st) return st;

    tappa_error inner;
    st = tappa_array_alloc(out, type->dtype, h.ndim, h.shape, &inner);
    if (st) return tappa_fail(err, st, "%s: %s", path, inner.message);
    if (type->file_bytes == tappa_dtype_bytes(type->dtype))
        st = io_read_at(fd, data_off, out->data, out->bytes, path, err);
    else
        st = read_i64_as_i32(fd, data_off, tappa_array_numel(out), out->data, path, err);
    if (st) tappa_array_free(out);
    return st;
}

tappa_status tappa_npy_read(const char *path, tappa_array *out, tappa_error *err)
{
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t size = 0;
    tappa_status st = io_open_input(path, &fd, &size, err);
    if (st) return st;
    st = read_npy(fd, size, path, out, err);
    close(fd);
    return st;
}

/* ---- writing ---------------------------------------------------------------- */

static tappa_status check_array(const char *path, const tappa_array *a, const npy_type **type,
                                tappa_error *err)
{
    if (!a) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: no array to write", path);
    *type = type_of_dtype(a->dtype);
    if (!*type)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s: invalid dtype %d", path, (int)a->dtype);
    size_t bytes;
    tappa_error inner;
    tappa_status st = tappa_shape_numel(a->ndim, a->shape, (*type)->file_bytes, NULL, &bytes, &inner);
    if (st) return tappa_fail(err, st, "%s: cannot write: %s", path, inner.message);
    if (a->bytes != bytes || (bytes && !a->data))
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                          "%s: array has %zu bytes of data but its shape needs %zu", path,
                          a->data ? a->bytes : 0, bytes);
    return TAPPA_OK;
}

tappa_status tappa_npy_write(const char *path, const tappa_array *a, tappa_error *err)
{
    const npy_type *type = NULL;
    tappa_status st = check_array(path, a, &type, err);
    if (st) return st;

    unsigned char header[10 + NPY_DICT_MAX + NPY_ALIGN];
    char shape[SHAPE_TEXT];
    int dict = snprintf((char *)header + 10, NPY_DICT_MAX,
                        "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", type->descr,
                        shape_text(shape, a->ndim, a->shape));
    /* Pad with spaces and end with a newline, as numpy does, so the data
     * starts on a 64-byte boundary and can be mapped and read aligned. */
    size_t total = 10 + (size_t)dict + 1;
    size_t pad = (NPY_ALIGN - total % NPY_ALIGN) % NPY_ALIGN;
    memset(header + total - 1, ' ', pad);
    header[total + pad - 1] = '\n';
    size_t header_len = total + pad - 10;
    memcpy(header, npy_magic, sizeof npy_magic);
    header[6] = 1; /* version 1.0 */
    header[7] = 0;
    header[8] = (unsigned char)(header_len & 0xff);
    header[9] = (unsigned char)(header_len >> 8);

    io_piece pieces[2] = {{header, total + pad}, {a->data, a->bytes}};
    return io_write_atomically(path, pieces, 2, err);
}
