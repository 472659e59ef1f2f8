/* Tokenizers from GGUF metadata (tokenizer.ggml.*): byte-level BPE as GPT-2,
 * Llama-3 and Qwen2 use it (model "gpt2"; the pre-tokenisation regex chosen
 * by tokenizer.ggml.pre), and SentencePiece-style BPE as Llama-2 uses it
 * (model "llama": merges by token score, byte fallback). */
#ifndef TAPPA_TOKENIZER_H
#define TAPPA_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tappa/gguf.h"
#include "tappa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tappa_tokenizer tappa_tokenizer;

tappa_status tappa_tokenizer_from_gguf(const tappa_gguf *g, tappa_tokenizer **out, tappa_error *err);
void tappa_tokenizer_free(tappa_tokenizer **t);

/* Token ids of len bytes of UTF-8 text into *ids (malloc'd, the caller frees),
 * their count in *n. The text of control tokens (e.g. <|endoftext|>) becomes
 * that token; with add_bos and a model that wants it, BOS comes first. */
tappa_status tappa_tokenize(const tappa_tokenizer *t, const char *text, size_t len, bool add_bos, int32_t **ids,
                            size_t *n, tappa_error *err);

/* The bytes token id stands for (control tokens: none) into buf (cap bytes);
 * returns their count, or 0 for an id outside the vocabulary. A piece can be
 * part of a UTF-8 character: concatenate pieces before printing. */
size_t tappa_token_piece(const tappa_tokenizer *t, int32_t id, char *buf, size_t cap);

/* The text a byte-level BPE vocabulary (GPT-2, Llama-3, Qwen2) gives the
 * token of one byte: printable bytes stand for themselves, the others for
 * code points 256, 257, ... in byte order; as UTF-8 (1 or 2 bytes, no NUL)
 * into out. Returns its length. For building such vocabularies. */
size_t tappa_byte_token_text(uint8_t byte, char out[4]);

int32_t tappa_tokenizer_vocab(const tappa_tokenizer *t);
int32_t tappa_tokenizer_bos(const tappa_tokenizer *t); /* -1 when none */
int32_t tappa_tokenizer_eos(const tappa_tokenizer *t); /* -1 when none */

#ifdef __cplusplus
}
#endif
#endif
