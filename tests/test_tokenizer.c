/* The bundled model's tokenizer against transformers: the ids of the golden
 * tokenizer cases and prompts (models/tiny-llama/golden.json) exactly, and
 * the text back from the ids (round trip) for every case.
 * usage: test_tokenizer MODEL.gguf GOLDEN.json */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json_file.h"
#include "tappa/tappa.h"

/* text -> ids against want (a JSON array), and ids -> text back. */
static void check_case(const tappa_tokenizer *tok, const char *text, const cJSON *want, bool with_bos)
{
    int32_t *ids = NULL;
    size_t n = 0;
    tappa_error err = { 0 };
    CHECK_INT_EQ(tappa_tokenize(tok, text, strlen(text), with_bos, &ids, &n, &err), TAPPA_OK);
    CHECK_INT_EQ((int)n, cJSON_GetArraySize(want));
    bool same = (int)n == cJSON_GetArraySize(want);
    for (size_t i = 0; same && i < n; i++) same = ids[i] == cJSON_GetArrayItem(want, (int)i)->valueint;
    if (!same) {
        fprintf(stderr, "ids differ for \"%.40s\":", text);
        for (size_t i = 0; i < n && i < 16; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same);
    /* Round trip: the pieces of the ids are the text (control tokens print as their text here). */
    char back[4096];
    size_t len = 0;
    for (size_t i = (with_bos ? 1 : 0); i < n; i++) {
        size_t got = tappa_token_piece(tok, ids[i], back + len, sizeof back - len - 1);
        if (got == 0 && ids[i] == tappa_tokenizer_bos(tok)) got = (size_t)snprintf(back + len, sizeof back - len, "<|endoftext|>");
        len += got;
    }
    back[len] = 0;
    CHECK(!strcmp(back, text));
    free(ids);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_tokenizer MODEL.gguf GOLDEN.json\n");
        return 2;
    }
    tappa_error err = { 0 };
    tappa_gguf *g = NULL;
    tappa_tokenizer *tok = NULL;
    CHECK_INT_EQ(tappa_gguf_open(argv[1], &g, &err), TAPPA_OK);
    if (g) CHECK_INT_EQ(tappa_tokenizer_from_gguf(g, &tok, &err), TAPPA_OK);
    cJSON *golden = json_read_file(argv[2]);
    CHECK(golden != NULL);
    if (!tok || !golden) {
        fprintf(stderr, "%s\n", err.message);
        return check_exit("test_tokenizer");
    }
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(golden, "tokenizer_cases"))
    {
        check_case(tok, cJSON_GetObjectItem(c, "text")->valuestring, cJSON_GetObjectItem(c, "ids"), false);
        cases++;
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(golden, "prompts"))
    {
        check_case(tok, cJSON_GetObjectItem(c, "text")->valuestring, cJSON_GetObjectItem(c, "ids"), true);
        cases++;
    }
    CHECK(cases >= 10);
    cJSON_Delete(golden);
    tappa_tokenizer_free(&tok);
    tappa_gguf_close(&g);
    return check_exit("test_tokenizer");
}
