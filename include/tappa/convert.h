/* Hugging Face checkpoint -> GGUF, with llama.cpp's metadata keys and tensor
 * names (Q and K rows of llama models permuted to llama.cpp's interleaved
 * rotary layout), so the file loads in llama.cpp and other GGUF readers too. */
#ifndef TAPPA_CONVERT_H
#define TAPPA_CONVERT_H

#include "tappa/gguf.h"
#include "tappa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tappa_convert_params {
    tappa_ggml_type type; /* of the 2-D weights (f32, f16, q8_0, q4_0); norms and biases stay f32 */
    int add_bos;          /* -1: as tokenizer.json / tokenizer_config.json say; 0 or 1: override */
} tappa_convert_params;

/* Convert hf_dir (config.json, tokenizer.json, model.safetensors or shards
 * listed in model.safetensors.index.json) of a LlamaForCausalLM or
 * Qwen2ForCausalLM to a GGUF file at out_path. progress, if given, is called
 * after each shard with (shards done, shards). */
tappa_status tappa_convert_hf(const char *hf_dir, const char *out_path, const tappa_convert_params *params,
                              void (*progress)(int done, int total, void *user), void *user, tappa_error *err);

#ifdef __cplusplus
}
#endif
#endif
