/* tappa trace: run a prompt through a model and write the trace of SPEC.md. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: tappa trace [-m MODEL.gguf] (-p TEXT | -f FILE) -o TRACE.safetensors [--device D]\n"
    "Run a prompt through a model and write its trace (SPEC.md): for each layer i\n"
    "layer.{i}.q and layer.{i}.q_pre [Hq, N, D] (queries after and before RoPE),\n"
    "layer.{i}.k and layer.{i}.v [Hkv, N, D], and hidden.0 .. hidden.L [N, d_model] (the\n"
    "embeddings, then each layer's output before the final norm), all f32. The trace feeds\n"
    "'tappa qsim', 'tappa compress' and 'tappa prune-scores'.\n"
    "  -m FILE    the model (default: the bundled models/tiny-llama/tiny-llama.gguf)\n"
    "  --device D index, name substring, or 'cpu'\n";

int cmd_trace(int argc, char **argv)
{
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' }, { "prompt", required_argument, NULL, 'p' },
        { "file", required_argument, NULL, 'f' },  { "output", required_argument, NULL, 'o' },
        { "device", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *model_path = TAPPA_BUNDLED_MODEL, *prompt = NULL, *file = NULL, *out = NULL;
    const char *device = NULL;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:p:f:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'f': file = optarg; break;
        case 'o': out = optarg; break;
        case 'd': device = optarg; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("trace", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("trace", "unexpected argument '%s'", argv[optind]);
    if (!prompt == !file) return cli_usage("trace", "needs -p TEXT or -f FILE");
    if (!out) return cli_usage("trace", "needs -o TRACE.safetensors");
    tappa_error err = { 0 };
    char *text = NULL;
    size_t len = 0;
    tappa_status st = TAPPA_OK;
    if (file) {
        if (!(text = cli_read_text(file, 16u << 20, &len, &err))) st = err.status;
    } else if (!(text = strdup(prompt))) {
        st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    } else {
        len = strlen(text);
    }
    tappa_context *ctx = NULL;
    tappa_model *m = NULL;
    tappa_session *s = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    float *logits = NULL;
    if (!st) st = cli_context(device, &ctx, &err);
    if (!st) st = tappa_model_load(ctx, model_path, NULL, &m, &err);
    if (!st) st = tappa_tokenize(tappa_model_tokenizer(m), text, len, true, &ids, &n, &err);
    if (!st && n == 0) st = tappa_fail(&err, TAPPA_ERR_INVALID_ARG, "the prompt has no tokens");
    if (!st) st = tappa_session_create(m, (int64_t)n, &s, &err);
    if (!st) st = tappa_session_record_trace(s, &err);
    if (!st && !(logits = malloc(sizeof(float) * tappa_model_get_info(m)->vocab)))
        st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (!st) st = tappa_session_eval(s, ids, n, false, logits, &err);
    if (!st) st = tappa_session_write_trace(s, out, &err);
    if (!st)
        printf("wrote %s: %zu tokens, %d layers\n", out, n, tappa_model_get_info(m)->layers);
    free(logits);
    free(ids);
    free(text);
    tappa_session_free(&s);
    tappa_model_free(&m);
    tappa_context_destroy(&ctx);
    return st ? cli_error("trace", &err) : EXIT_OK;
}
