/* tappa: the command-line front end. Each subcommand lives in cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    { "run", cmd_run, "generate text with a GGUF model (default: the bundled tiny Llama)" },
    { "trace", cmd_trace, "a prompt's queries, keys, values and hidden states as a trace" },
    { "demo", cmd_demo, "TAPPA q-similarity and window-attention scores on a generated prompt" },
    { "attn", cmd_attn, "one attention call from .npy files (prefill or decode)" },
    { "budget", cmd_budget, "per-layer KV budgets from layer preferences (TAPPA step 4)" },
    { "info", cmd_info, "list Vulkan devices with their probed capabilities" },
    { "conform", cmd_conform, "check every op against the float64 CPU reference on each device" },
    { "qsim", cmd_qsim, "TAPPA q-similarity per head of a .npy or of every layer of a trace" },
    { "compress", cmd_compress, "compress a prompt trace's KV cache (tappa, cake, snapkv, ...)" },
    { "prune-scores", cmd_prune_scores, "per-layer block influence and q-similarity from calibration traces" },
    { "patterns", cmd_patterns, "classify each head's attention pattern in a trace, q-similarity against predictability, a gallery" },
    { "prune-order", cmd_prune_order, "which layers to prune first, from score files (TAPPA or ShortGPT)" },
    { "prune", cmd_prune, "calibrate layer-pruning scores and write a GGUF without the first K layers" },
    { "eval", cmd_eval, "perplexity of a model, and of TAPPA- vs ShortGPT-pruned versions of it" },
    { "convert", cmd_convert, "a Hugging Face Llama or Qwen2 checkpoint to GGUF (f32, f16, q8_0, q4_0)" },
    { "inspect", cmd_inspect, "list the tensors of a .npy or .safetensors file" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tappa COMMAND [options]   (tappa COMMAND --help for each)\n\n"
               "LLM attention and TAPPA scoring on any Vulkan GPU, checked against a CPU reference.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nenvironment:\n"
               "  TAPPA_DEVICE=D     device index, name substring, or 'cpu' (default: best GPU)\n"
               "  TAPPA_VALIDATE=1   run under the Khronos validation layer\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "tappa: missing command (see 'tappa --help')\n");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("tappa 0.1.0\n");
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tappa: unknown command '%s' (see 'tappa --help')\n", argv[1]);
    return EXIT_USAGE;
}
