/* BPE tokenizers from GGUF metadata. Byte-level BPE (GPT-2, Llama-3, Qwen2):
 * control tokens are split out first, the rest is cut into pre-tokens by the
 * model's regex (PCRE2, Unicode properties), each pre-token's bytes are
 * mapped to GPT-2's printable byte alphabet and merged by merge rank.
 * SentencePiece-style BPE (Llama-2): spaces become U+2581, characters merge by
 * the score of the merged token, and what no token covers falls back to the
 * <0xXX> byte tokens. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tappa/tokenizer.h"

/* GPT-2's pre-tokenisation regex and those of Llama-3 and Qwen2 (tokenizer.ggml.pre). */
static const struct { const char *pre, *regex; } pre_regexes[] = {
    { "gpt-2", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+" },
    { "default", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+" },
    { "llama-bpe", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                   "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
    { "qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
               "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
};

/* String -> int map, open addressing; keys are owned copies. */
typedef struct strmap {
    char **keys;
    size_t *lens;
    int32_t *vals;
    size_t cap;
} strmap;

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static bool map_init(strmap *m, size_t n)
{
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap *= 2;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->lens = calloc(m->cap, sizeof *m->lens);
    m->vals = calloc(m->cap, sizeof *m->vals);
    return m->keys && m->lens && m->vals;
}

static void map_free(strmap *m)
{
    for (size_t i = 0; m->keys && i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->lens);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Insert (first value wins for a repeated key); false when out of memory. */
static bool map_put(strmap *m, const char *k, size_t n, int32_t v)
{
    size_t i = hash(k, n) & (m->cap - 1);
    for (; m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (m->lens[i] == n && !memcmp(m->keys[i], k, n)) return true;
    if (!(m->keys[i] = malloc(n + 1))) return false;
    memcpy(m->keys[i], k, n);
    m->keys[i][n] = '\0';
    m->lens[i] = n;
    m->vals[i] = v;
    return true;
}

static int32_t map_get(const strmap *m, const char *k, size_t n)
{
    for (size_t i = hash(k, n) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (m->lens[i] == n && !memcmp(m->keys[i], k, n)) return m->vals[i];
    return -1;
}

struct tappa_tokenizer {
    bool spm;                /* SentencePiece-style, else byte-level */
    bool ignore_merges;      /* llama-bpe: a pre-token that is a whole token is not merged */
    bool add_space_prefix;   /* spm */
    int32_t n_vocab, bos, eos;
    bool add_bos;
    char **tokens;           /* (n_vocab) token texts, owned by the gguf */
    size_t *token_len;
    int32_t *types;          /* 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
    float *scores;           /* spm */
    strmap vocab, merges;    /* token text -> id; "left right" -> rank */
    int32_t *specials;       /* control and user-defined ids, longest text first */
    size_t n_specials;
    int32_t byte_token[256]; /* spm: <0xXX> ids, -1 if absent */
    uint32_t byte_char[256]; /* byte level: the code point standing for each byte */
    pcre2_code *re;
    pcre2_match_data *md;
};

/* GPT-2's byte alphabet: printable bytes stand for themselves, the others for
 * 256, 257, ... in byte order. */
static void byte_alphabet(uint32_t *out)
{
    uint32_t next = 256;
    for (int b = 0; b < 256; b++)
        out[b] = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ? (uint32_t)b : next++;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000)
        return out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 63)),
               out[2] = (char)(0x80 | (cp & 63)), 3;
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 63));
    out[2] = (char)(0x80 | ((cp >> 6) & 63));
    out[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Length of the UTF-8 character at s (1 for a stray byte), within n. */
static size_t utf8_len(const char *s, size_t n)
{
    uint8_t c = (uint8_t)s[0];
    size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    return l <= n ? l : 1;
}

/* The code point at s and its length. */
static uint32_t utf8_get(const char *s, size_t n, size_t *len)
{
    *len = utf8_len(s, n);
    const uint8_t *u = (const uint8_t *)s;
    switch (*len) {
    case 2: return (uint32_t)(u[0] & 31) << 6 | (u[1] & 63);
    case 3: return (uint32_t)(u[0] & 15) << 12 | (uint32_t)(u[1] & 63) << 6 | (u[2] & 63);
    case 4: return (uint32_t)(u[0] & 7) << 18 | (uint32_t)(u[1] & 63) << 12 | (uint32_t)(u[2] & 63) << 6 | (u[3] & 63);
    default: return u[0];
    }
}

/* Longest text first, so the longest special token at a position wins
 * (insertion sort: models have a few hundred special tokens at most). */
static void sort_specials(tappa_tokenizer *t)
{
    for (size_t i = 1; i < t->n_specials; i++) {
        int32_t id = t->specials[i];
        size_t j = i;
        for (; j > 0 && t->token_len[t->specials[j - 1]] < t->token_len[id]; j--) t->specials[j] = t->specials[j - 1];
        t->specials[j] = id;
    }
}

void tappa_tokenizer_free(tappa_tokenizer **tp)
{
    if (!tp || !*tp) return;
    tappa_tokenizer *t = *tp;
    map_free(&t->vocab);
    map_free(&t->merges);
    free(t->tokens);
    free(t->token_len);
    free(t->types);
    free(t->scores);
    free(t->specials);
    if (t->md) pcre2_match_data_free(t->md);
    if (t->re) pcre2_code_free(t->re);
    free(t);
    *tp = NULL;
}

tappa_status tappa_tokenizer_from_gguf(const tappa_gguf *g, tappa_tokenizer **out, tappa_error *err)
{
    *out = NULL;
    const char *model = tappa_gguf_str(g, "tokenizer.ggml.model");
    if (!model) return tappa_fail(err, TAPPA_ERR_FORMAT, "the model file has no tokenizer (tokenizer.ggml.model)");
    bool spm = !strcmp(model, "llama");
    if (!spm && strcmp(model, "gpt2"))
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "tokenizer model '%s' (tappa reads gpt2 and llama)", model);
    tappa_gguf_type type;
    uint64_t n;
    if (!tappa_gguf_array(g, "tokenizer.ggml.tokens", &type, &n) || type != TAPPA_GGUF_STRING || n == 0 || n > (1u << 24))
        return tappa_fail(err, TAPPA_ERR_FORMAT, "tokenizer.ggml.tokens is missing or not a list of strings");
    tappa_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    t->spm = spm;
    t->n_vocab = (int32_t)n;
    t->tokens = calloc(n, sizeof *t->tokens);
    t->token_len = calloc(n, sizeof *t->token_len);
    t->types = calloc(n, sizeof *t->types);
    t->scores = calloc(n, sizeof *t->scores);
    t->specials = calloc(n, sizeof *t->specials);
    tappa_status st = TAPPA_OK;
    if (!t->tokens || !t->token_len || !t->types || !t->scores || !t->specials || !map_init(&t->vocab, n))
        st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    tappa_gguf_type tt;
    uint64_t tn;
    bool have_types = tappa_gguf_array(g, "tokenizer.ggml.token_type", &tt, &tn) && tn == n;
    bool have_scores = tappa_gguf_array(g, "tokenizer.ggml.scores", &tt, &tn) && tn == n;
    for (int b = 0; b < 256; b++) t->byte_token[b] = -1;
    for (uint64_t i = 0; i < n && !st; i++) {
        t->tokens[i] = (char *)tappa_gguf_array_str(g, "tokenizer.ggml.tokens", i, &t->token_len[i]);
        double v = 1;
        if (have_types) tappa_gguf_array_num(g, "tokenizer.ggml.token_type", i, &v);
        t->types[i] = (int32_t)v;
        if (have_scores && tappa_gguf_array_num(g, "tokenizer.ggml.scores", i, &v)) t->scores[i] = (float)v;
        if (!map_put(&t->vocab, t->tokens[i], t->token_len[i], (int32_t)i))
            st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        if ((t->types[i] == 3 || t->types[i] == 4) && t->token_len[i]) t->specials[t->n_specials++] = (int32_t)i;
        unsigned byte;
        if (spm && t->token_len[i] == 6 && sscanf(t->tokens[i], "<0x%2X>", &byte) == 1) t->byte_token[byte] = (int32_t)i;
    }
    uint32_t v32;
    t->bos = tappa_gguf_u32(g, "tokenizer.ggml.bos_token_id", &v32) && v32 < n ? (int32_t)v32 : -1;
    t->eos = tappa_gguf_u32(g, "tokenizer.ggml.eos_token_id", &v32) && v32 < n ? (int32_t)v32 : -1;
    t->add_bos = spm; /* SentencePiece models add BOS unless told otherwise */
    tappa_gguf_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    t->add_space_prefix = true;
    tappa_gguf_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    sort_specials(t);
    if (!st && !spm) {
        byte_alphabet(t->byte_char);
        uint64_t nm = 0;
        if (!tappa_gguf_array(g, "tokenizer.ggml.merges", &tt, &nm) || tt != TAPPA_GGUF_STRING)
            st = tappa_fail(err, TAPPA_ERR_FORMAT, "a gpt2 tokenizer needs tokenizer.ggml.merges");
        if (!st && !map_init(&t->merges, nm)) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        for (uint64_t i = 0; i < nm && !st; i++) {
            size_t len;
            const char *m = tappa_gguf_array_str(g, "tokenizer.ggml.merges", i, &len);
            if (!map_put(&t->merges, m, len, (int32_t)i)) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        }
        const char *pre = tappa_gguf_str(g, "tokenizer.ggml.pre");
        const char *regex = NULL;
        for (size_t i = 0; i < sizeof pre_regexes / sizeof pre_regexes[0]; i++)
            if (!strcmp(pre ? pre : "default", pre_regexes[i].pre)) regex = pre_regexes[i].regex;
        if (!st && !regex)
            st = tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "pre-tokenizer '%s' (tappa knows gpt-2, llama-bpe, qwen2)", pre);
        t->ignore_merges = pre && !strcmp(pre, "llama-bpe");
        int code;
        PCRE2_SIZE at;
        if (!st && !(t->re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK,
                                          &code, &at, NULL)))
            st = tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "pre-tokenizer regex does not compile (PCRE2 error %d)", code);
        if (!st && !(t->md = pcre2_match_data_create_from_pattern(t->re, NULL)))
            st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    }
    if (st) {
        tappa_tokenizer_free(&t);
        return st;
    }
    *out = t;
    return TAPPA_OK;
}

/* ---- output ---------------------------------------------------------------- */
typedef struct id_list {
    int32_t *v;
    size_t n, cap;
} id_list;

static bool push(id_list *l, int32_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        int32_t *grown = realloc(l->v, cap * sizeof *grown);
        if (!grown) return false;
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n++] = id;
    return true;
}

/* ---- BPE merging over symbols (offsets into one string) --------------------- */
typedef struct sym {
    size_t start, len;
} sym;

/* Merge adjacent symbols of s until no pair merges: byte level by the lowest
 * merge rank, spm by the highest score of the merged token; ties go left. */
static void bpe_merge(const tappa_tokenizer *t, const char *s, sym *syms, size_t *count, char *scratch)
{
    size_t n = *count;
    while (n > 1) {
        size_t best = n;
        double best_key = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            double key;
            if (t->spm) {
                int32_t id = map_get(&t->vocab, s + syms[i].start, syms[i].len + syms[i + 1].len);
                if (id < 0) continue;
                key = -t->scores[id];
            } else {
                memcpy(scratch, s + syms[i].start, syms[i].len);
                scratch[syms[i].len] = ' ';
                memcpy(scratch + syms[i].len + 1, s + syms[i + 1].start, syms[i + 1].len);
                int32_t rank = map_get(&t->merges, scratch, syms[i].len + syms[i + 1].len + 1);
                if (rank < 0) continue;
                key = rank;
            }
            if (best == n || key < best_key) {
                best = i;
                best_key = key;
            }
        }
        if (best == n) break;
        syms[best].len += syms[best + 1].len;
        memmove(syms + best + 1, syms + best + 2, (n - best - 2) * sizeof *syms);
        n--;
    }
    *count = n;
}

/* One byte-level pre-token (len raw bytes) to ids. */
static bool encode_bytes_piece(const tappa_tokenizer *t, const char *p, size_t len, id_list *out)
{
    char *mapped = malloc(4 * len + 1), *scratch = malloc(8 * len + 2);
    sym *syms = malloc((len ? len : 1) * sizeof *syms);
    bool ok = mapped && scratch && syms;
    size_t m = 0, n = 0;
    for (size_t i = 0; ok && i < len; i++) {
        syms[n].start = m;
        syms[n].len = utf8_put(t->byte_char[(uint8_t)p[i]], mapped + m);
        m += syms[n++].len;
    }
    int32_t whole = ok && t->ignore_merges ? map_get(&t->vocab, mapped, m) : -1;
    if (whole >= 0) ok = push(out, whole);
    else if (ok) {
        bpe_merge(t, mapped, syms, &n, scratch);
        for (size_t i = 0; i < n && ok; i++) {
            int32_t id = map_get(&t->vocab, mapped + syms[i].start, syms[i].len);
            /* Every byte is a token in a byte-level vocabulary; a file without one is skipped over. */
            if (id >= 0) ok = push(out, id);
        }
    }
    free(mapped);
    free(scratch);
    free(syms);
    return ok;
}

static tappa_status encode_byte_level(const tappa_tokenizer *t, const char *s, size_t len, id_list *out,
                                      tappa_error *err)
{
    size_t pos = 0;
    while (pos < len) {
        int rc = pcre2_match(t->re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, t->md, NULL);
        size_t a = len, b = len;
        if (rc >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
            a = ov[0];
            b = ov[1];
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "pre-tokenizer regex failed (PCRE2 error %d)", rc);
        }
        if (b == a && a < len) b = a + utf8_len(s + a, len - a); /* an empty match: take one character */
        if (a > pos && !encode_bytes_piece(t, s + pos, a - pos, out)) goto oom; /* text between matches */
        if (b > a && !encode_bytes_piece(t, s + a, b - a, out)) goto oom;
        pos = b > pos ? b : len;
    }
    return TAPPA_OK;
oom:
    return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
}

static tappa_status encode_spm(const tappa_tokenizer *t, const char *s, size_t len, bool at_start, id_list *out,
                               tappa_error *err)
{
    /* Spaces become U+2581 (3 bytes); a space goes first at the text's start. */
    char *text = malloc(3 * len + 4), *scratch = NULL;
    sym *syms = malloc((3 * len + 4) * sizeof *syms);
    if (!text || !syms) {
        free(text);
        free(syms);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    }
    size_t m = 0, n = 0;
    if (at_start && t->add_space_prefix) m += (size_t)(memcpy(text, "\xe2\x96\x81", 3), 3);
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ') m += (size_t)(memcpy(text + m, "\xe2\x96\x81", 3), 3);
        else text[m++] = s[i];
    for (size_t i = 0; i < m; i += syms[n++].len) {
        syms[n].start = i;
        syms[n].len = utf8_len(text + i, m - i);
    }
    bpe_merge(t, text, syms, &n, scratch);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        int32_t id = map_get(&t->vocab, text + syms[i].start, syms[i].len);
        if (id >= 0) ok = push(out, id);
        else
            for (size_t b = 0; b < syms[i].len && ok; b++) {
                int32_t bt = t->byte_token[(uint8_t)text[syms[i].start + b]];
                if (bt >= 0) ok = push(out, bt);
            }
    }
    free(text);
    free(syms);
    return ok ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
}

tappa_status tappa_tokenize(const tappa_tokenizer *t, const char *text, size_t len, bool add_bos, int32_t **ids,
                            size_t *n, tappa_error *err)
{
    id_list out = { 0 };
    *ids = NULL;
    *n = 0;
    tappa_status st = TAPPA_OK;
    if (add_bos && t->add_bos && t->bos >= 0 && !push(&out, t->bos))
        st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    size_t pos = 0, plain = 0;
    while (!st && pos <= len) {
        /* The longest control or user-defined token at pos, if any. */
        int32_t special = -1;
        for (size_t i = 0; pos < len && i < t->n_specials && special < 0; i++) {
            int32_t id = t->specials[i];
            if (t->token_len[id] <= len - pos && !memcmp(text + pos, t->tokens[id], t->token_len[id])) special = id;
        }
        if (special < 0 && pos < len) {
            pos++;
            continue;
        }
        if (pos > plain)
            st = t->spm ? encode_spm(t, text + plain, pos - plain, plain == 0, &out, err)
                        : encode_byte_level(t, text + plain, pos - plain, &out, err);
        if (special < 0) break; /* pos == len */
        if (!st && !push(&out, special)) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        pos += t->token_len[special];
        plain = pos;
    }
    if (st) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n = out.n;
    return TAPPA_OK;
}

size_t tappa_token_piece(const tappa_tokenizer *t, int32_t id, char *buf, size_t cap)
{
    if (id < 0 || id >= t->n_vocab || t->types[id] == 3) return 0;
    const char *s = t->tokens[id];
    size_t len = t->token_len[id], n = 0;
    if (t->spm) {
        unsigned byte;
        if (t->types[id] == 6 && sscanf(s, "<0x%2X>", &byte) == 1) {
            if (cap) buf[0] = (char)byte;
            return cap ? 1 : 0;
        }
        for (size_t i = 0; i < len && n < cap;) {
            if (len - i >= 3 && !memcmp(s + i, "\xe2\x96\x81", 3)) buf[n++] = ' ', i += 3;
            else buf[n++] = s[i++];
        }
        return n;
    }
    if (t->types[id] == 4) { /* user-defined tokens are their own text */
        n = len < cap ? len : cap;
        memcpy(buf, s, n);
        return n;
    }
    for (size_t i = 0; i < len && n < cap;) {
        size_t l;
        uint32_t cp = utf8_get(s + i, len - i, &l);
        i += l;
        int byte = -1;
        for (int b = 0; b < 256 && byte < 0; b++)
            if (t->byte_char[b] == cp) byte = b;
        if (byte >= 0) buf[n++] = (char)byte;
    }
    return n;
}

size_t tappa_byte_token_text(uint8_t byte, char out[4])
{
    uint32_t alphabet[256];
    byte_alphabet(alphabet);
    return utf8_put(alphabet[byte], out);
}

int32_t tappa_tokenizer_vocab(const tappa_tokenizer *t) { return t->n_vocab; }
int32_t tappa_tokenizer_bos(const tappa_tokenizer *t) { return t->bos; }
int32_t tappa_tokenizer_eos(const tappa_tokenizer *t) { return t->eos; }
