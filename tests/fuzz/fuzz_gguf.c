/* libFuzzer target: any bytes through the GGUF reader, and, when they open,
 * through the tokenizer built from their metadata and a tokenisation. Run with
 * tests/fuzz/run.sh SECONDS. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tappa/gguf.h"
#include "tappa/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tappa_gguf *g = NULL;
    tappa_error err;
    if (tappa_gguf_open_memory(data, size, "fuzz", &g, &err)) return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < tappa_gguf_tensor_count(g); i++) {
        const tappa_gguf_tensor *t = tappa_gguf_tensor_at(g, i);
        for (size_t b = 0; b < t->bytes; b += 61) sum += ((const uint8_t *)t->data)[b];
        if (t->bytes) sum += ((const uint8_t *)t->data)[t->bytes - 1];
    }
    tappa_tokenizer *tok = NULL;
    if (!tappa_tokenizer_from_gguf(g, &tok, &err)) {
        static const char text[] = "Hello, world! 123 \xce\xb1\xce\xb2 <|endoftext|>  x\n\n";
        int32_t *ids = NULL;
        size_t n = 0;
        if (!tappa_tokenize(tok, text, sizeof text - 1, true, &ids, &n, &err)) {
            char piece[64];
            for (size_t i = 0; i < n; i++) sum += (unsigned)tappa_token_piece(tok, ids[i], piece, sizeof piece);
            free(ids);
        }
        tappa_tokenizer_free(&tok);
    }
    tappa_gguf_close(&g);
    return (int)(sum & 0);
}
