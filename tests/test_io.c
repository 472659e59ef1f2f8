/* Tensor file tests: .npy and .safetensors round trips, hand-made files in the
 * forms other writers produce, and every kind of malformed file the readers
 * must reject with a status and a message naming the file and the problem. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tappa/tensor_io.h"
#include "check.h"

#define PATH_CAP 1024
#define ABSURD ((int64_t)1 << 40)

static char tmpdir[512];

static char *join(char *out, const char *name)
{
    snprintf(out, PATH_CAP, "%s/%s", tmpdir, name);
    return out;
}

/* A string literal's bytes without its terminating NUL. */
#define PUT_LITERAL(path, literal) put_file((path), (literal), sizeof(literal) - 1)

static void put_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_INT_EQ(fwrite(bytes, 1, n, f), n);
    CHECK_INT_EQ(fclose(f), 0);
}

/* Whole file into buf (at most cap bytes); returns its size. */
static size_t get_file(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Entries of tmpdir whose names start with prefix: catches leftover temp files. */
static int count_entries(const char *prefix)
{
    DIR *d = opendir(tmpdir);
    CHECK(d != NULL);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d) return;
    char path[PATH_CAP];
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        join(path, e->d_name);
        if (unlink(path) != 0) CHECK_INT_EQ(rmdir(path), 0); /* a few tests make directories */
    }
    closedir(d);
    CHECK_INT_EQ(rmdir(tmpdir), 0);
}

/* A .npy image as numpy lays it out: magic, version, header length, the dict
 * padded with spaces and a newline to a 64-byte boundary, then the data. */
static size_t npy_image(unsigned char *buf, int major, const char *dict, const void *data,
                        size_t n)
{
    size_t pre = major == 1 ? 10 : 12, len = strlen(dict);
    size_t pad = (64 - (pre + len + 1) % 64) % 64, header = len + pad + 1;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) buf[8 + i] = (unsigned char)(header >> (8 * i));
    memcpy(buf + pre, dict, len);
    memset(buf + pre + len, ' ', pad);
    buf[pre + header - 1] = '\n';
    if (n) memcpy(buf + pre + header, data, n);
    return pre + header + n;
}

/* A .safetensors image whose length field says length (normally strlen(json)). */
static size_t st_image(unsigned char *buf, uint64_t length, const char *json, const void *data,
                       size_t n)
{
    size_t len = strlen(json);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(length >> (8 * i));
    memcpy(buf + 8, json, len);
    if (n) memcpy(buf + 8 + len, data, n);
    return 8 + len + n;
}

static void expect_npy_fail(const char *path, tappa_status status, const char *problem)
{
    tappa_array a;
    tappa_error err = {0};
    CHECK_INT_EQ(tappa_npy_read(path, &a, &err), status);
    CHECK_INT_EQ(err.status, status);
    CHECK_CONTAINS(err.message, path);
    CHECK_CONTAINS(err.message, problem);
    CHECK(a.data == NULL);
}

static void expect_st_fail(const char *path, tappa_status status, const char *problem)
{
    tappa_safetensors *st = (tappa_safetensors *)&st; /* must be reset to NULL */
    tappa_error err = {0};
    CHECK_INT_EQ(tappa_safetensors_read(path, &st, &err), status);
    CHECK_INT_EQ(err.status, status);
    CHECK_CONTAINS(err.message, path);
    CHECK_CONTAINS(err.message, problem);
    CHECK(st == NULL);
}

static bool same_array(const tappa_array *a, const tappa_array *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->bytes != b->bytes) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return a->bytes == 0 || memcmp(a->data, b->data, a->bytes) == 0;
}

/* An array of dtype and shape filled with a recognisable pattern. */
static tappa_array make_array(tappa_dtype dtype, int ndim, const int64_t *shape)
{
    tappa_array a;
    tappa_error err;
    CHECK_INT_EQ(tappa_array_alloc(&a, dtype, ndim, shape, &err), TAPPA_OK);
    size_t n = tappa_array_numel(&a);
    for (size_t i = 0; i < n; i++) {
        float v = (float)i * 0.25f - 3.0f;
        if (dtype == TAPPA_F32) ((float *)a.data)[i] = v;
        if (dtype == TAPPA_F16) ((uint16_t *)a.data)[i] = tappa_f32_to_f16(v);
        if (dtype == TAPPA_I32) ((int32_t *)a.data)[i] = (int32_t)(i * 7919u) - 20000;
    }
    return a;
}

/* ---- .npy ------------------------------------------------------------------- */

/* Writes a, checks numpy's layout (data 64-byte aligned, header ending in a
 * newline, the expected shape text) and reads it back unchanged. */
static void npy_round_trip(const char *name, const tappa_array *a, const char *shape_text)
{
    char path[PATH_CAP];
    tappa_error err = {0};
    CHECK_INT_EQ(tappa_npy_write(join(path, name), a, &err), TAPPA_OK);

    unsigned char raw[4096];
    size_t size = get_file(path, raw, sizeof raw);
    size_t header = (size_t)raw[8] | (size_t)raw[9] << 8;
    CHECK(memcmp(raw, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK_INT_EQ((10 + header) % 64, 0);
    CHECK_INT_EQ(raw[10 + header - 1], '\n');
    CHECK_INT_EQ(size, 10 + header + a->bytes);
    char text[512] = {0};
    memcpy(text, raw + 10, header < sizeof text - 1 ? header : sizeof text - 1);
    CHECK_CONTAINS(text, shape_text);
    CHECK_CONTAINS(text, "'fortran_order': False");

    tappa_array b;
    CHECK_INT_EQ(tappa_npy_read(path, &b, &err), TAPPA_OK);
    CHECK(same_array(a, &b));
    tappa_array_free(&b);
}

static void test_npy_round_trips(void)
{
    static const struct {
        const char *name;
        tappa_dtype dtype;
        int ndim;
        int64_t shape[4];
        const char *text;
    } cases[] = {
        {"f32.npy", TAPPA_F32, 2, {2, 3}, "'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
        {"f16.npy", TAPPA_F16, 1, {5}, "'descr': '<f2'"},
        {"i32_4d.npy", TAPPA_I32, 4, {2, 3, 1, 2}, "'shape': (2, 3, 1, 2)"},
        {"scalar.npy", TAPPA_F32, 0, {0}, "'shape': ()"},
        {"i32_1d.npy", TAPPA_I32, 1, {7}, "'shape': (7,)"},
        {"empty.npy", TAPPA_F32, 2, {0, 3}, "'shape': (0, 3)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tappa_array a = make_array(cases[i].dtype, cases[i].ndim, cases[i].shape);
        npy_round_trip(cases[i].name, &a, cases[i].text);
        tappa_array_free(&a);
    }

    /* Extreme i32 values survive, and writing over an existing file replaces it. */
    int64_t shape[1] = {3};
    tappa_array a = make_array(TAPPA_I32, 1, shape);
    int32_t *v = a.data;
    v[0] = INT32_MIN;
    v[1] = INT32_MAX;
    v[2] = -1;
    npy_round_trip("i32_1d.npy", &a, "'descr': '<i4'");
    tappa_array_free(&a);
    CHECK_INT_EQ(count_entries("i32_1d.npy"), 1);
}

static void test_npy_hand_made(void)
{
    char path[PATH_CAP];
    unsigned char buf[4096];
    tappa_error err = {0};
    tappa_array a;

    /* i8 is narrowed to i32. */
    const int64_t wide[4] = {-5, 0, INT32_MAX, INT32_MIN};
    put_file(join(path, "i8.npy"), buf,
             npy_image(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }",
                       wide, sizeof wide));
    CHECK_INT_EQ(tappa_npy_read(path, &a, &err), TAPPA_OK);
    CHECK_INT_EQ(a.dtype, TAPPA_I32);
    CHECK_INT_EQ(a.bytes, 16);
    for (int i = 0; i < 4 && a.data; i++) CHECK_INT_EQ(((int32_t *)a.data)[i], wide[i]);
    tappa_array_free(&a);

    /* ... but not silently: an out-of-range element is named. */
    const int64_t too_wide[3] = {1, 2, 5000000000};
    put_file(join(path, "i8_range.npy"), buf,
             npy_image(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                       too_wide, sizeof too_wide));
    expect_npy_fail(path, TAPPA_ERR_LIMIT, "element 2 of the <i8 data (5000000000) does not fit");

    /* v2 and v3 (4-byte header length), with other writers' spellings: key
     * order, double quotes, a trailing comma in the shape, Python 2 longs. */
    const float f[4] = {1.5f, -2.0f, 0.0f, 3.25f};
    static const char *const dicts[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
        "{\"shape\": (2, 2,), \"fortran_order\": False, \"descr\": \"<f4\"}",
        "{ 'fortran_order' : False , 'descr':'<f4','shape':(2L, 2L) }",
    };
    for (int major = 1; major <= 3; major++) {
        put_file(join(path, "v.npy"), buf, npy_image(buf, major, dicts[major - 1], f, sizeof f));
        CHECK_INT_EQ(tappa_npy_read(path, &a, &err), TAPPA_OK);
        CHECK_INT_EQ(a.dtype, TAPPA_F32);
        CHECK_INT_EQ(a.ndim, 2);
        CHECK_INT_EQ(a.shape[0], 2);
        CHECK_INT_EQ(a.shape[1], 2);
        CHECK(a.data && memcmp(a.data, f, sizeof f) == 0);
        tappa_array_free(&a);
    }
}

static void test_npy_malformed(void)
{
    char path[PATH_CAP];
    unsigned char buf[4096];
    unsigned char zeros[64] = {0};

    /* Malformed headers and data: each dict with data_len zero bytes of data. */
    static const struct {
        const char *dict;
        size_t data_len;
        tappa_status status;
        const char *problem;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 40, TAPPA_ERR_FORMAT,
         "truncated: shape (3, 4) <f4 needs 48 data bytes, file has 40"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 56, TAPPA_ERR_FORMAT,
         "8 trailing bytes"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, TAPPA_ERR_UNSUPPORTED,
         "dtype '<f8' is not supported"},
        {"{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", 8, TAPPA_ERR_UNSUPPORTED,
         "dtype '|f4' is not supported"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, TAPPA_ERR_UNSUPPORTED,
         "big-endian"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8,
         TAPPA_ERR_UNSUPPORTED, "structured"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, TAPPA_ERR_UNSUPPORTED,
         "fortran_order True"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", 0,
         TAPPA_ERR_LIMIT, "absurdly large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0,
         TAPPA_ERR_LIMIT, "does not fit in 64 bits"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }", 0, TAPPA_ERR_FORMAT,
         "negative"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", 4,
         TAPPA_ERR_LIMIT, "more than 8 dimensions"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12, TAPPA_ERR_FORMAT,
         "not a tuple"},
        {"{'descr': '<f4', 'shape': (2,), }", 8, TAPPA_ERR_FORMAT, "no 'fortran_order' key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, TAPPA_ERR_FORMAT,
         "unknown key 'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8,
         TAPPA_ERR_FORMAT, "duplicate key 'descr'"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", 8, TAPPA_ERR_FORMAT,
         "fortran_order is not True or False"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", 8, TAPPA_ERR_FORMAT,
         "expected ',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", 8, TAPPA_ERR_FORMAT,
         "unexpected text after the dict"},
        {"['descr', '<f4']", 8, TAPPA_ERR_FORMAT, "expected '{'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.npy", i);
        put_file(join(path, name), buf,
                 npy_image(buf, 1, cases[i].dict, zeros, cases[i].data_len));
        expect_npy_fail(path, cases[i].status, cases[i].problem);
    }

    /* Broken preambles. */
    PUT_LITERAL(join(path, "magic.npy"), "\x93NUMPZ\x01\x00\x10\x00{}");
    expect_npy_fail(path, TAPPA_ERR_FORMAT, "not a .npy file (bad magic)");
    PUT_LITERAL(join(path, "text.npy"), "hello");
    expect_npy_fail(path, TAPPA_ERR_FORMAT, "bad magic");
    PUT_LITERAL(join(path, "empty.npy"), "");
    expect_npy_fail(path, TAPPA_ERR_FORMAT, "empty file");
    PUT_LITERAL(join(path, "short.npy"), "\x93NUMPY\x01");
    expect_npy_fail(path, TAPPA_ERR_FORMAT, "truncated: 7 bytes, too short for the .npy preamble");
    PUT_LITERAL(join(path, "short2.npy"), "\x93NUMPY\x02\x00\x10\x00");
    expect_npy_fail(path, TAPPA_ERR_FORMAT, "too short for the .npy v2 preamble");
    put_file(join(path, "version.npy"), buf,
             npy_image(buf, 4, "{'descr': '<f4', 'fortran_order': False, 'shape': ()}", zeros, 4));
    expect_npy_fail(path, TAPPA_ERR_UNSUPPORTED, "version 4.0 is not supported");
    /* Header length 0x76 = 118, but only 20 header bytes follow. */
    PUT_LITERAL(join(path, "header.npy"), "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fo");
    expect_npy_fail(path, TAPPA_ERR_FORMAT, "truncated header: it claims 118 bytes, the file has 20");
    /* A v2 header length of 4 GiB - 1 in a tiny file. */
    PUT_LITERAL(join(path, "header2.npy"), "\x93NUMPY\x02\x00\xff\xff\xff\xff{}");
    expect_npy_fail(path, TAPPA_ERR_FORMAT, "truncated header: it claims 4294967295 bytes");

    expect_npy_fail(join(path, "does_not_exist.npy"), TAPPA_ERR_IO, "cannot open");
    expect_npy_fail(tmpdir, TAPPA_ERR_IO, "not a regular file");
}

static void test_npy_write_failures(void)
{
    char path[PATH_CAP];
    tappa_error err = {0};
    int64_t shape[2] = {2, 2};
    tappa_array a = make_array(TAPPA_F32, 2, shape);

    CHECK_INT_EQ(tappa_npy_write(join(path, "no_such_dir/x.npy"), &a, &err), TAPPA_ERR_IO);
    CHECK_CONTAINS(err.message, path);
    CHECK(!exists(path));

    /* The shape lies about the data: caught before any file is created. */
    tappa_array absurd = a;
    absurd.shape[0] = absurd.shape[1] = ABSURD;
    CHECK_INT_EQ(tappa_npy_write(join(path, "absurd.npy"), &absurd, &err), TAPPA_ERR_LIMIT);
    CHECK_CONTAINS(err.message, path);
    CHECK_CONTAINS(err.message, "absurdly large");
    tappa_array negative = a;
    negative.shape[1] = -2;
    CHECK_INT_EQ(tappa_npy_write(path, &negative, &err), TAPPA_ERR_LIMIT);
    CHECK_CONTAINS(err.message, "negative");
    tappa_array short_data = a;
    short_data.bytes = 8;
    CHECK_INT_EQ(tappa_npy_write(path, &short_data, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "array has 8 bytes of data but its shape needs 16");
    tappa_array bad_dtype = a;
    bad_dtype.dtype = (tappa_dtype)7;
    CHECK_INT_EQ(tappa_npy_write(path, &bad_dtype, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "invalid dtype");
    CHECK_INT_EQ(count_entries("absurd.npy"), 0);

    /* The rename fails after the data is written (the target is a directory):
     * the temporary file must be gone and the directory untouched. */
    CHECK_INT_EQ(mkdir(join(path, "target.npy"), 0755), 0);
    CHECK_INT_EQ(tappa_npy_write(path, &a, &err), TAPPA_ERR_IO);
    CHECK_CONTAINS(err.message, path);
    CHECK_CONTAINS(err.message, "cannot rename");
    CHECK_INT_EQ(count_entries("target.npy"), 1);
    tappa_array_free(&a);
}

/* ---- .safetensors ------------------------------------------------------------ */

static void test_st_round_trip(void)
{
    char path[PATH_CAP];
    tappa_error err = {0};
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s05[2] = {0, 5};
    tappa_array arrays[4] = {
        make_array(TAPPA_F32, 2, s23),
        make_array(TAPPA_F16, 1, s4),
        make_array(TAPPA_I32, 0, NULL),
        make_array(TAPPA_F32, 2, s05),
    };
    /* Not sorted, so the test sees whether file order is kept. */
    const char *names[4] = {"zeta", "alpha", "mid.scalar", "empty"};
    const tappa_array *ptrs[4] = {&arrays[0], &arrays[1], &arrays[2], &arrays[3]};
    CHECK_INT_EQ(tappa_safetensors_write(join(path, "bundle.safetensors"), 4, names, ptrs, &err),
                 TAPPA_OK);

    unsigned char raw[4096];
    size_t size = get_file(path, raw, sizeof raw);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | raw[i];
    CHECK_INT_EQ(header % 8, 0);
    CHECK_INT_EQ(size, 8 + header + 24 + 8 + 4 + 0); /* tensors packed back to back */

    tappa_safetensors *st = NULL;
    CHECK_INT_EQ(tappa_safetensors_read(path, &st, &err), TAPPA_OK);
    if (!st) return;
    CHECK_INT_EQ(tappa_safetensors_count(st), 4);
    for (size_t i = 0; i < 4; i++) {
        CHECK(strcmp(tappa_safetensors_name(st, i), names[i]) == 0);
        CHECK(same_array(tappa_safetensors_at(st, i), &arrays[i]));
        CHECK(tappa_safetensors_find(st, names[i]) == tappa_safetensors_at(st, i));
    }
    CHECK(tappa_safetensors_find(st, "missing") == NULL);
    CHECK(tappa_safetensors_find(st, "") == NULL);
    tappa_safetensors_free(&st);
    CHECK(st == NULL);
    tappa_safetensors_free(&st);

    /* No tensors at all is a valid file; rewriting replaces the old one. */
    CHECK_INT_EQ(tappa_safetensors_write(path, 0, NULL, NULL, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_safetensors_read(path, &st, &err), TAPPA_OK);
    CHECK(st && tappa_safetensors_count(st) == 0);
    CHECK(st && tappa_safetensors_find(st, "zeta") == NULL);
    tappa_safetensors_free(&st);
    CHECK_INT_EQ(count_entries("bundle.safetensors"), 1);
    for (int i = 0; i < 4; i++) tappa_array_free(&arrays[i]);
}

static void test_st_hand_made(void)
{
    char path[PATH_CAP];
    unsigned char buf[4096], data[64];
    tappa_error err = {0};
    tappa_safetensors *st = NULL;

    /* I64 narrows to i32, BF16 widens to f32, and __metadata__ is allowed. */
    const int64_t ids[3] = {7, INT32_MIN, INT32_MAX};
    const uint16_t bf16[2] = {0x3fc0, 0xc000}; /* 1.5, -2.0 */
    memcpy(data, ids, sizeof ids);
    memcpy(data + 24, bf16, sizeof bf16);
    const char *json = "{\"__metadata__\": {\"format\": \"pt\"},"
                       " \"w\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [24, 28]},"
                       " \"ids\": {\"dtype\": \"I64\", \"shape\": [3], \"data_offsets\": [0, 24]}}";
    put_file(join(path, "wide.safetensors"), buf, st_image(buf, strlen(json), json, data, 28));
    CHECK_INT_EQ(tappa_safetensors_read(path, &st, &err), TAPPA_OK);
    if (!st) return;
    CHECK_INT_EQ(tappa_safetensors_count(st), 2);
    CHECK(strcmp(tappa_safetensors_name(st, 0), "w") == 0);
    const tappa_array *w = tappa_safetensors_find(st, "w");
    const tappa_array *n = tappa_safetensors_find(st, "ids");
    CHECK(w && n);
    if (w && n) {
        CHECK_INT_EQ(w->dtype, TAPPA_F32);
        CHECK_NEAR(((float *)w->data)[0], 1.5, 0);
        CHECK_NEAR(((float *)w->data)[1], -2.0, 0);
        CHECK_INT_EQ(n->dtype, TAPPA_I32);
        CHECK_INT_EQ(n->bytes, 12);
        for (int i = 0; i < 3; i++) CHECK_INT_EQ(((int32_t *)n->data)[i], ids[i]);
    }
    tappa_safetensors_free(&st);

    const int64_t too_wide[2] = {1, -3000000000};
    json = "{\"ids\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]}}";
    put_file(join(path, "i64_range.safetensors"), buf,
             st_image(buf, strlen(json), json, too_wide, sizeof too_wide));
    expect_st_fail(path, TAPPA_ERR_LIMIT, "tensor 'ids': element 1 (-3000000000) does not fit in i32");
}

static void test_st_malformed(void)
{
    char path[PATH_CAP];
    unsigned char buf[4096], zeros[64] = {0};

    /* Each header with data_len zero bytes of data after it. */
    static const struct {
        const char *json;
        size_t data_len;
        tappa_status status;
        const char *problem;
    } cases[] = {
        {"{\"a\": {\"dtype\": \"F32\", ", 0, TAPPA_ERR_FORMAT, "header is not valid JSON"},
        {"[1, 2]", 0, TAPPA_ERR_FORMAT, "header is not a JSON object"},
        {"{} x", 0, TAPPA_ERR_FORMAT, "unexpected bytes after the JSON header"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [3, 4], \"data_offsets\": [0, 48]}}", 40,
         TAPPA_ERR_FORMAT, "tensor 'a': data_offsets [0, 48] lie outside the 40-byte data buffer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 0]}}", 8,
         TAPPA_ERR_FORMAT, "data_offsets [8, 0] lie outside"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 1152921504606846976]}}",
         8, TAPPA_ERR_FORMAT, "lie outside the 8-byte data buffer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 16]}}", 16,
         TAPPA_ERR_FORMAT, "data_offsets [0, 16] hold 16 bytes but shape [3] F32 needs 12"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
         " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 24,
         TAPPA_ERR_FORMAT, "tensor 'b' [8, 24] overlaps tensor 'a' [0, 16]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}", 20,
         TAPPA_ERR_FORMAT, "4 unused bytes in the data buffer before tensor 'b'"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 12,
         TAPPA_ERR_FORMAT, "4 trailing bytes after the last tensor"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", 16,
         TAPPA_ERR_FORMAT, "tensor 'a' appears twice"},
        {"{\"x\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8,
         TAPPA_ERR_UNSUPPORTED, "tensor 'x': dtype F64 is not supported"},
        {"{\"y\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1,
         TAPPA_ERR_UNSUPPORTED, "tensor 'y': dtype U8 is not supported"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1099511627776, 1099511627776],"
         " \"data_offsets\": [0, 0]}}", 0, TAPPA_ERR_LIMIT, "absurdly large"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1e300], \"data_offsets\": [0, 0]}}", 0,
         TAPPA_ERR_LIMIT, "absurdly large"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 0]}}", 0,
         TAPPA_ERR_FORMAT, "shape dimension 0 is negative"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 10]}}", 10,
         TAPPA_ERR_FORMAT, "shape dimension 0 is not an integer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 1, 1, 1, 1, 1],"
         " \"data_offsets\": [0, 4]}}", 4, TAPPA_ERR_LIMIT, "9 dimensions"},
        {"{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, TAPPA_ERR_FORMAT,
         "no \"dtype\" string"},
        {"{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, TAPPA_ERR_FORMAT,
         "no \"shape\" array"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4,
         TAPPA_ERR_FORMAT, "\"data_offsets\" is not a [begin, end] pair"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}", 4,
         TAPPA_ERR_FORMAT, "data_offsets end is not a number"},
        {"{\"a\": 3}", 0, TAPPA_ERR_FORMAT, "tensor 'a': entry is not a JSON object"},
        {"{\"__metadata__\": {\"k\": 1}}", 0, TAPPA_ERR_FORMAT, "__metadata__ value 'k' is not a string"},
        {"{\"__metadata__\": []}", 0, TAPPA_ERR_FORMAT, "__metadata__ is not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.safetensors", i);
        const char *json = cases[i].json;
        put_file(join(path, name), buf,
                 st_image(buf, strlen(json), json, zeros, cases[i].data_len));
        expect_st_fail(path, cases[i].status, cases[i].problem);
    }

    /* Lies in the length field. */
    PUT_LITERAL(join(path, "empty.safetensors"), "");
    expect_st_fail(path, TAPPA_ERR_FORMAT, "empty file");
    PUT_LITERAL(join(path, "short.safetensors"), "\x02\x00\x00");
    expect_st_fail(path, TAPPA_ERR_FORMAT, "truncated: 3 bytes, too short for the 8-byte header length");
    put_file(join(path, "long.safetensors"), buf, st_image(buf, 1000, "{}", NULL, 0));
    expect_st_fail(path, TAPPA_ERR_FORMAT, "header length 1000 runs past the end of the file (2 bytes");
    put_file(join(path, "absurd.safetensors"), buf, st_image(buf, (uint64_t)1 << 60, "{}", NULL, 0));
    expect_st_fail(path, TAPPA_ERR_FORMAT, "header length 1152921504606846976 runs past the end");
    /* A header length the file does hold but no reader should allocate; the
     * file is sparse, so this costs no disk. */
    put_file(join(path, "huge.safetensors"), buf, st_image(buf, 200000000, "{}", NULL, 0));
    CHECK_INT_EQ(truncate(path, 8 + 200000000), 0);
    expect_st_fail(path, TAPPA_ERR_LIMIT, "header of 200000000 bytes exceeds the 100000000-byte limit");

    expect_st_fail(join(path, "does_not_exist.safetensors"), TAPPA_ERR_IO, "cannot open");
}

static void test_st_write_failures(void)
{
    char path[PATH_CAP];
    tappa_error err = {0};
    int64_t shape[1] = {3};
    tappa_array a = make_array(TAPPA_F32, 1, shape), absurd = a;
    absurd.ndim = 2;
    absurd.shape[0] = absurd.shape[1] = ABSURD;

    const char *dup_names[2] = {"x", "x"};
    const tappa_array *two[2] = {&a, &a};
    CHECK_INT_EQ(tappa_safetensors_write(join(path, "dup.safetensors"), 2, dup_names, two, &err),
                 TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, path);
    CHECK_CONTAINS(err.message, "tensor name 'x' is used twice");

    const char *reserved[1] = {"__metadata__"};
    CHECK_INT_EQ(tappa_safetensors_write(path, 1, reserved, two, &err), TAPPA_ERR_INVALID_ARG);
    CHECK_CONTAINS(err.message, "reserved");

    const char *names[2] = {"ok", "absurd"};
    const tappa_array *mixed[2] = {&a, &absurd};
    CHECK_INT_EQ(tappa_safetensors_write(path, 2, names, mixed, &err), TAPPA_ERR_LIMIT);
    CHECK_CONTAINS(err.message, path);
    CHECK_CONTAINS(err.message, "tensor 'absurd'");
    CHECK_CONTAINS(err.message, "absurdly large");
    CHECK_INT_EQ(count_entries("dup.safetensors"), 0);

    CHECK_INT_EQ(tappa_safetensors_write(join(path, "no_such_dir/x.safetensors"), 2, names, two,
                                         &err), TAPPA_ERR_IO);
    CHECK_CONTAINS(err.message, path);
    CHECK(!exists(path));

    CHECK_INT_EQ(mkdir(join(path, "target.safetensors"), 0755), 0);
    CHECK_INT_EQ(tappa_safetensors_write(path, 2, names, two, &err), TAPPA_ERR_IO);
    CHECK_CONTAINS(err.message, "cannot rename");
    CHECK_INT_EQ(count_entries("target.safetensors"), 1);
    tappa_array_free(&a);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tappa_test_io.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("test_io: mkdtemp");
        return 1;
    }
    test_npy_round_trips();
    test_npy_hand_made();
    test_npy_malformed();
    test_npy_write_failures();
    test_st_round_trip();
    test_st_hand_made();
    test_st_malformed();
    test_st_write_failures();
    remove_tmpdir();
    return check_exit("test_io");
}
