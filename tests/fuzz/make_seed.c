/* Writes a small GGUF seed for the fuzzer: llama metadata, a byte-level BPE
 * tokenizer (256 byte tokens, a few merges, a control token) and tensors of
 * each type. usage: make_seed OUT.gguf */
#include <stdio.h>
#include <string.h>

#include "tappa/tappa.h"

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    tappa_error err = { 0 };
    tappa_gguf_writer *w = NULL;
    static char store[260][8];
    const char *tokens[260];
    int32_t types[260];
    for (int b = 0; b < 256; b++) {
        tappa_byte_token_text((uint8_t)b, store[b]); /* static: NUL-filled */
        tokens[b] = store[b];
        types[b] = 1;
    }
    tokens[256] = "He"; tokens[257] = "ll"; tokens[258] = "Hell"; tokens[259] = "<|endoftext|>";
    types[256] = types[257] = types[258] = 1;
    types[259] = 3;
    const char *merges[3] = { "H e", "l l", "He ll" };
    float data[64] = { 0 };
    uint64_t d2[2] = { 32, 2 };
    tappa_status st = tappa_gguf_writer_create(&w, &err);
    if (!st) st = tappa_gguf_set_str(w, "general.architecture", "llama", &err);
    if (!st) st = tappa_gguf_set_u32(w, "llama.block_count", 1, &err);
    if (!st) st = tappa_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", &err);
    if (!st) st = tappa_gguf_set_str(w, "tokenizer.ggml.pre", "gpt-2", &err);
    if (!st) st = tappa_gguf_set_strs(w, "tokenizer.ggml.tokens", tokens, 260, &err);
    if (!st) st = tappa_gguf_set_i32s(w, "tokenizer.ggml.token_type", types, 260, &err);
    if (!st) st = tappa_gguf_set_strs(w, "tokenizer.ggml.merges", merges, 3, &err);
    if (!st) st = tappa_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 259, &err);
    if (!st) st = tappa_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true, &err);
    if (!st) st = tappa_gguf_add_tensor(w, "a", TAPPA_GGML_F32, 2, d2, data, &err);
    if (!st) st = tappa_gguf_add_tensor(w, "b", TAPPA_GGML_Q8_0, 2, d2, data, &err);
    if (!st) st = tappa_gguf_write(w, argv[1], &err);
    tappa_gguf_writer_free(&w);
    if (st) fprintf(stderr, "make_seed: %s\n", err.message);
    return st ? 1 : 0;
}
