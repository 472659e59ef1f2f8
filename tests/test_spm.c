/* SentencePiece-style BPE (Llama-2's tokenizer.ggml.model "llama") on a
 * hand-made vocabulary: spaces become U+2581 with one in front of the text,
 * characters merge by the score of the merged piece, characters no piece
 * covers fall back to <0xXX> byte tokens, control tokens in the text are
 * their ids, and pieces decode back to the text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tappa/tappa.h"

#define SP "\xe2\x96\x81" /* U+2581, SentencePiece's space */

static char path[] = "/tmp/tappa-spm-XXXXXX";

/* Pieces after the 3 specials and 256 byte tokens, with their scores (higher merges first). */
static const struct { const char *piece; float score; } pieces[] = {
    { SP, -1 }, { "h", -2 }, { "e", -2 }, { "l", -2 }, { "o", -2 }, { "w", -2 }, { "r", -2 }, { "d", -2 },
    { "ll", -3 }, { SP "h", -4 }, { SP "he", -5 }, { "llo", -6 }, { SP "hello", -7 }, { "or", -8 },
    { SP "w", -9 }, { SP "wor", -10 }, { "ld", -11 }, { SP "world", -12 }, { "lo", -100 },
};
enum { SPECIALS = 3, BYTES = 256, N_PIECES = sizeof pieces / sizeof pieces[0], VOCAB = SPECIALS + BYTES + N_PIECES };

static int32_t id_of(const char *piece)
{
    for (int i = 0; i < N_PIECES; i++)
        if (!strcmp(pieces[i].piece, piece)) return SPECIALS + BYTES + i;
    return -1;
}

static void write_vocab(void)
{
    static char bytes[BYTES][8];
    const char *tokens[VOCAB];
    float scores[VOCAB];
    int32_t types[VOCAB];
    tokens[0] = "<unk>", types[0] = 2, scores[0] = 0;
    tokens[1] = "<s>", types[1] = 3, scores[1] = 0;
    tokens[2] = "</s>", types[2] = 3, scores[2] = 0;
    for (int b = 0; b < BYTES; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        tokens[SPECIALS + b] = bytes[b];
        types[SPECIALS + b] = 6;
        scores[SPECIALS + b] = 0;
    }
    for (int i = 0; i < N_PIECES; i++) {
        tokens[SPECIALS + BYTES + i] = pieces[i].piece;
        types[SPECIALS + BYTES + i] = 1;
        scores[SPECIALS + BYTES + i] = pieces[i].score;
    }
    tappa_error err = { 0 };
    tappa_gguf_writer *w = NULL;
    CHECK_INT_EQ(tappa_gguf_writer_create(&w, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_str(w, "tokenizer.ggml.model", "llama", &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_strs(w, "tokenizer.ggml.tokens", tokens, VOCAB, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_f32s(w, "tokenizer.ggml.scores", scores, VOCAB, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_i32s(w, "tokenizer.ggml.token_type", types, VOCAB, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_write(w, path, &err), TAPPA_OK);
    tappa_gguf_writer_free(&w);
}

static void check_ids(const tappa_tokenizer *tok, const char *text, bool bos, const int32_t *want, size_t n_want)
{
    int32_t *ids = NULL;
    size_t n = 0;
    tappa_error err = { 0 };
    CHECK_INT_EQ(tappa_tokenize(tok, text, strlen(text), bos, &ids, &n, &err), TAPPA_OK);
    CHECK_INT_EQ((long long)n, (long long)n_want);
    for (size_t i = 0; i < n && i < n_want; i++) CHECK_INT_EQ(ids[i], want[i]);
    free(ids);
}

int main(void)
{
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    write_vocab();
    tappa_error err = { 0 };
    tappa_gguf *g = NULL;
    tappa_tokenizer *tok = NULL;
    CHECK_INT_EQ(tappa_gguf_open(path, &g, &err), TAPPA_OK);
    if (g) CHECK_INT_EQ(tappa_tokenizer_from_gguf(g, &tok, &err), TAPPA_OK);
    if (!tok) return check_exit("test_spm");
    /* " hello world": merges by score to two pieces; BOS first (SentencePiece models add it). */
    check_ids(tok, "hello world", true, (const int32_t[]){ 1, id_of(SP "hello"), id_of(SP "world") }, 3);
    /* "lo" has a low score: "hello" still becomes ▁hello, not ▁he + lo. */
    check_ids(tok, "hello", false, (const int32_t[]){ id_of(SP "hello") }, 1);
    /* é (0xC3 0xA9) is no piece: two byte tokens; the space before it a piece of its own. */
    check_ids(tok, "hello \xc3\xa9", false,
              (const int32_t[]){ id_of(SP "hello"), id_of(SP), SPECIALS + 0xC3, SPECIALS + 0xA9 }, 4);
    /* A control token's text is its id; the text after it starts a new segment. */
    check_ids(tok, "hello</s>world", false,
              (const int32_t[]){ id_of(SP "hello"), 2, id_of("w"), id_of("or"), id_of("ld") }, 5);
    /* Decoding: U+2581 is a space, byte tokens are their bytes, control tokens nothing. */
    char buf[64];
    size_t n = tappa_token_piece(tok, id_of(SP "world"), buf, sizeof buf);
    CHECK(n == 6 && !memcmp(buf, " world", 6));
    n = tappa_token_piece(tok, SPECIALS + 0xC3, buf, sizeof buf);
    CHECK(n == 1 && (unsigned char)buf[0] == 0xC3);
    CHECK_INT_EQ((long long)tappa_token_piece(tok, 2, buf, sizeof buf), 0);
    CHECK_INT_EQ(tappa_tokenizer_bos(tok), 1);
    CHECK_INT_EQ(tappa_tokenizer_eos(tok), 2);
    tappa_tokenizer_free(&tok);
    tappa_gguf_close(&g);
    remove(path);
    return check_exit("test_spm");
}
