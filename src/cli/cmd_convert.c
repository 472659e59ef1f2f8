/* tappa convert: a Hugging Face Llama or Qwen2 checkpoint to GGUF. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: tappa convert HF_DIR -o MODEL.gguf [--type f32|f16|q8_0|q4_0] [--add-bos yes|no]\n"
    "Convert a Hugging Face LlamaForCausalLM or Qwen2ForCausalLM folder (config.json,\n"
    "tokenizer.json, model.safetensors or the shards listed in model.safetensors.index.json)\n"
    "to a GGUF file with llama.cpp's metadata keys and tensor names, so it also loads in\n"
    "llama.cpp. Norms and biases stay f32.\n"
    "  --type T       the matrices' type (default f16); q8_0 and q4_0 fall back to f16 for\n"
    "                 rows that are not whole blocks of 32\n"
    "  --add-bos B    whether prompts begin with the BOS token (default: as tokenizer.json's\n"
    "                 post-processor says)\n";

static void progress(int done, int total, void *user)
{
    (void)user;
    fprintf(stderr, "\rtappa convert: shard %d of %d", done, total);
    if (done == total) fputc('\n', stderr);
}

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' }, { "type", required_argument, NULL, 't' },
        { "add-bos", required_argument, NULL, 'b' }, { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *out = NULL;
    tappa_convert_params p = { TAPPA_GGML_F16, -1 };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 't':
            if (!strcmp(optarg, "f32")) p.type = TAPPA_GGML_F32;
            else if (!strcmp(optarg, "f16")) p.type = TAPPA_GGML_F16;
            else if (!strcmp(optarg, "q8_0")) p.type = TAPPA_GGML_Q8_0;
            else if (!strcmp(optarg, "q4_0")) p.type = TAPPA_GGML_Q4_0;
            else return cli_usage("convert", "--type must be f32, f16, q8_0 or q4_0, not '%s'", optarg);
            break;
        case 'b':
            if (strcmp(optarg, "yes") && strcmp(optarg, "no"))
                return cli_usage("convert", "--add-bos must be yes or no, not '%s'", optarg);
            p.add_bos = !strcmp(optarg, "yes");
            break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("convert", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return cli_usage("convert", "needs exactly one HF_DIR");
    if (!out) return cli_usage("convert", "needs -o MODEL.gguf");
    tappa_error err = { 0 };
    if (tappa_convert_hf(argv[optind], out, &p, cli_stderr_tty() ? progress : NULL, NULL, &err))
        return cli_error("convert", &err);
    printf("wrote %s\n", out);
    return EXIT_OK;
}
