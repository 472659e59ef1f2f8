/* GGUF reader and writer: a file with every value type and tensor type
 * written and read back; then hostile bytes - every truncation of a small
 * valid file, random byte changes (seed printed), and hand-made lies (absurd
 * counts, offsets past the end or unaligned, duplicate names, bad dims, an
 * unknown type) - each either read or refused with a message, never a crash
 * or a read outside the buffer (run under ASan in CI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "rng.h"
#include "tappa/tappa.h"

static char path[] = "/tmp/tappa-gguf-XXXXXX";

static void *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*n ? *n : 1);
    if (b && fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

/* Open from memory; on success touch every tensor byte and metadata entry
 * (ASan catches any out-of-bounds pointer). */
static tappa_status try_open(const void *bytes, size_t n)
{
    tappa_gguf *g = NULL;
    tappa_error err = { 0 };
    tappa_status st = tappa_gguf_open_memory(bytes, n, "fuzz", &g, &err);
    if (st) {
        CHECK(err.message[0] != '\0' && !strchr(err.message, '\n'));
        CHECK(g == NULL);
        return st;
    }
    unsigned sum = 0;
    for (size_t i = 0; i < tappa_gguf_tensor_count(g); i++) {
        const tappa_gguf_tensor *t = tappa_gguf_tensor_at(g, i);
        for (size_t b = 0; b < t->bytes; b++) sum += ((const unsigned char *)t->data)[b];
    }
    for (size_t i = 0; i < tappa_gguf_kv_count(g); i++) {
        const char *key = tappa_gguf_kv_key(g, i);
        tappa_gguf_type type;
        uint64_t count;
        if (tappa_gguf_array(g, key, &type, &count))
            for (uint64_t j = 0; j < count && j < 64; j++) {
                double v;
                size_t len;
                const char *s = tappa_gguf_array_str(g, key, j, &len);
                if (s) sum += (unsigned)len;
                else if (tappa_gguf_array_num(g, key, j, &v)) sum += (unsigned)(v != 0);
            }
    }
    (void)sum;
    tappa_gguf_close(&g);
    return TAPPA_OK;
}

static void write_sample(void)
{
    tappa_error err = { 0 };
    tappa_gguf_writer *w = NULL;
    CHECK_INT_EQ(tappa_gguf_writer_create(&w, &err), TAPPA_OK);
    const char *strs[3] = { "a", "", "\xce\xb1\xce\xb2" };
    int32_t ints[4] = { -1, 0, 7, 1 << 30 };
    float fl[2] = { 0.5f, -2.25f };
    CHECK_INT_EQ(tappa_gguf_set_str(w, "general.architecture", "llama", &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_u32(w, "llama.block_count", 3, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_f32(w, "llama.rope.freq_base", 500000.0f, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_bool(w, "flag", true, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_strs(w, "words", strs, 3, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_i32s(w, "ints", ints, 4, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_f32s(w, "floats", fl, 2, &err), TAPPA_OK);
    float data[64];
    for (int i = 0; i < 64; i++) data[i] = (float)i - 20.5f;
    uint64_t d1[1] = { 5 }, d2[2] = { 32, 2 };
    uint8_t q8[68], q4[36];
    memset(q8, 3, sizeof q8);
    memset(q4, 9, sizeof q4);
    CHECK_INT_EQ(tappa_gguf_add_tensor(w, "vec", TAPPA_GGML_F32, 1, d1, data, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_add_tensor(w, "half", TAPPA_GGML_F16, 2, d2, data, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_add_tensor(w, "q8", TAPPA_GGML_Q8_0, 2, d2, q8, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_add_tensor(w, "q4", TAPPA_GGML_Q4_0, 2, d2, q4, &err), TAPPA_OK);
    uint64_t odd[1] = { 33 };
    CHECK(tappa_gguf_add_tensor(w, "bad", TAPPA_GGML_Q8_0, 1, odd, q8, &err) != TAPPA_OK); /* not whole blocks */
    CHECK_INT_EQ(tappa_gguf_write(w, path, &err), TAPPA_OK);
    tappa_gguf_writer_free(&w);
}

static void test_round_trip(void)
{
    tappa_error err = { 0 };
    tappa_gguf *g = NULL;
    CHECK_INT_EQ(tappa_gguf_open(path, &g, &err), TAPPA_OK);
    if (!g) return;
    uint32_t u;
    float f;
    bool b;
    double v;
    size_t len;
    CHECK(!strcmp(tappa_gguf_str(g, "general.architecture"), "llama"));
    CHECK(tappa_gguf_u32(g, "llama.block_count", &u) && u == 3);
    CHECK(tappa_gguf_f32(g, "llama.rope.freq_base", &f) && f == 500000.0f);
    CHECK(tappa_gguf_bool(g, "flag", &b) && b);
    CHECK(!tappa_gguf_u32(g, "general.architecture", &u)); /* a string is not a number */
    CHECK(!strcmp(tappa_gguf_array_str(g, "words", 2, &len), "\xce\xb1\xce\xb2") && len == 4);
    CHECK(tappa_gguf_array_str(g, "words", 3, &len) == NULL);
    CHECK(tappa_gguf_array_num(g, "ints", 0, &v) && v == -1);
    CHECK(tappa_gguf_array_num(g, "ints", 3, &v) && v == (1 << 30));
    CHECK(tappa_gguf_array_num(g, "floats", 1, &v) && v == -2.25);
    CHECK_INT_EQ((int)tappa_gguf_tensor_count(g), 4);
    const tappa_gguf_tensor *t = tappa_gguf_find(g, "vec");
    CHECK(t && t->n_dims == 1 && t->dims[0] == 5 && !memcmp(t->data, (float[]){ -20.5f, -19.5f, -18.5f, -17.5f, -16.5f }, 20));
    t = tappa_gguf_find(g, "q4");
    CHECK(t && t->type == TAPPA_GGML_Q4_0 && t->bytes == 36 && t->dims[1] == 2 && ((const uint8_t *)t->data)[35] == 9);
    CHECK(((uintptr_t)tappa_gguf_find(g, "q8")->data) % 32 == 0);
    tappa_gguf_close(&g);
}

static void test_hostile(rng *r)
{
    size_t n = 0;
    unsigned char *good = slurp(path, &n);
    CHECK(good && n > 100);
    if (!good) return;
    /* Every truncation: refused up to the end of the last tensor (36 bytes of
     * q4_0); the writer's 28 bytes of alignment padding after it may go. */
    size_t wrong = 0, data_end = n - 28;
    for (size_t len = 0; len < n; len++) {
        unsigned char *cut = malloc(len ? len : 1);
        memcpy(cut, good, len);
        wrong += (try_open(cut, len) == TAPPA_OK) != (len >= data_end);
        free(cut);
    }
    CHECK_INT_EQ((long long)wrong, 0);
    CHECK_INT_EQ(try_open(good, n), TAPPA_OK);
    /* Random changes of 1 to 8 bytes, each run in its own exact-size buffer. */
    unsigned char *bad = malloc(n);
    for (int round = 0; round < 20000; round++) {
        memcpy(bad, good, n);
        int changes = 1 + (int)rng_uniform(r, 0, 8);
        for (int c = 0; c < changes; c++) {
            size_t at = (size_t)rng_uniform(r, 0, (double)n);
            bad[at < n ? at : n - 1] = (unsigned char)rng_uniform(r, 0, 256);
        }
        try_open(bad, n);
    }
    /* Lies at known places: the counts after the 8-byte magic and version. */
    uint64_t huge = ~0ull;
    memcpy(bad, good, n);
    memcpy(bad + 8, &huge, 8);
    CHECK_INT_EQ(try_open(bad, n), TAPPA_ERR_FORMAT);
    memcpy(bad, good, n);
    memcpy(bad + 16, &huge, 8);
    CHECK_INT_EQ(try_open(bad, n), TAPPA_ERR_FORMAT);
    memcpy(bad, good, n);
    uint32_t v9 = 9;
    memcpy(bad + 4, &v9, 4);
    CHECK_INT_EQ(try_open(bad, n), TAPPA_ERR_UNSUPPORTED);
    memcpy(bad, good, n);
    bad[0] = 'X';
    CHECK_INT_EQ(try_open(bad, n), TAPPA_ERR_FORMAT);
    free(bad);
    free(good);
}

/* A file whose one tensor says dims/type/offset of the caller's choosing. */
static tappa_status one_tensor(uint32_t n_dims, uint64_t dim0, uint32_t type, uint64_t offset, bool twice)
{
    unsigned char buf[512] = { 0 };
    size_t at = 0;
#define PUT(v) (memcpy(buf + at, &(v), sizeof(v)), at += sizeof(v))
    uint32_t magic = 0x46554747u, version = 3;
    uint64_t tensors = twice ? 2 : 1, kvs = 0, name_len = 1;
    PUT(magic);
    PUT(version);
    PUT(tensors);
    PUT(kvs);
    for (int t = 0; t < (twice ? 2 : 1); t++) {
        PUT(name_len);
        buf[at++] = 'w';
        PUT(n_dims);
        for (uint32_t d = 0; d < n_dims && d < 8; d++) PUT(dim0);
        PUT(type);
        PUT(offset);
    }
#undef PUT
    size_t data = (at + 31) / 32 * 32;
    return try_open(buf, data + 128);
}

static void test_lies(void)
{
    CHECK_INT_EQ(one_tensor(1, 8, TAPPA_GGML_F32, 0, false), TAPPA_OK);
    CHECK_INT_EQ(one_tensor(1, 64, TAPPA_GGML_F32, 0, false), TAPPA_ERR_FORMAT);  /* 256 bytes, 128 there */
    CHECK_INT_EQ(one_tensor(1, 8, TAPPA_GGML_F32, 96, false), TAPPA_OK);
    CHECK_INT_EQ(one_tensor(1, 8, TAPPA_GGML_F32, 100, false), TAPPA_ERR_FORMAT); /* 4-byte aligned only */
    CHECK_INT_EQ(one_tensor(1, 8, TAPPA_GGML_F32, 1ull << 62, false), TAPPA_ERR_FORMAT);
    CHECK_INT_EQ(one_tensor(5, 2, TAPPA_GGML_F32, 0, false), TAPPA_ERR_FORMAT);
    CHECK_INT_EQ(one_tensor(0, 2, TAPPA_GGML_F32, 0, false), TAPPA_ERR_FORMAT);
    CHECK_INT_EQ(one_tensor(1, 0, TAPPA_GGML_F32, 0, false), TAPPA_ERR_FORMAT);
    CHECK_INT_EQ(one_tensor(4, 1ull << 20, TAPPA_GGML_F32, 0, false), TAPPA_ERR_FORMAT); /* 2^80 elements */
    CHECK_INT_EQ(one_tensor(1, 8, 99, 0, false), TAPPA_ERR_UNSUPPORTED);
    CHECK_INT_EQ(one_tensor(1, 48, TAPPA_GGML_Q8_0, 0, false), TAPPA_ERR_FORMAT); /* not whole blocks */
    CHECK_INT_EQ(one_tensor(1, 8, TAPPA_GGML_F32, 0, true), TAPPA_ERR_FORMAT);    /* the same name twice */
}

int main(void)
{
    uint64_t seed = rng_fresh_seed();
    printf("test_gguf: seed %llu\n", (unsigned long long)seed);
    rng r;
    rng_seed(&r, seed);
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    write_sample();
    test_round_trip();
    test_hostile(&r);
    test_lies();
    tappa_error err = { 0 };
    tappa_gguf *g = NULL;
    CHECK_INT_EQ(tappa_gguf_open("/nonexistent.gguf", &g, &err), TAPPA_ERR_IO);
    remove(path);
    return check_exit("test_gguf");
}
