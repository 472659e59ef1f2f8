#!/usr/bin/env python3
"""Train tappa's bundled model: a small Llama (GQA, RoPE with Llama-3 frequency
scaling, head dim 64, 1024-token context) and its byte-level BPE tokenizer, on
text found on the machine (Python's sources and documentation), with
transformers' LlamaForCausalLM. Then write golden data for tappa's tests:
transformers' float32 logits and greedy tokens for fixed prompts, and the ids of
tokenizer test strings.

    python3 tools/train_tiny_llama.py --out DIR [--minutes M] [--smoke]

DIR gets hf/ (config.json, tokenizer.json, the checkpoint sharded into
model-0000N-of-0000M.safetensors with model.safetensors.index.json), golden.json
and golden.safetensors, and train-log.json. Convert with
    tappa convert DIR/hf -o tiny-llama.gguf
Needs torch, transformers (with tokenizers) and safetensors; a CUDA GPU for
training in reasonable time. Everything is seeded; the corpus is the sorted list
of files found, so a rerun on the same machine gives the same model up to GPU
nondeterminism.
"""
import argparse
import json
import math
import os
import random
import site
import sys
import sysconfig
import time

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

VOCAB = 2048
CONTEXT = 1024
SPECIAL = "<|endoftext|>"  # id 0: begins every sequence and separates documents

PROMPTS = [
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "import os\nimport sys\n\n\nclass",
    "The following example shows how to open a file and read",
]

# Tokenizer test strings: code, prose, digits, whitespace runs, contractions,
# non-ASCII letters and symbols, an emoji, the special token's text.
TOKENIZER_CASES = [
    "hello world",
    "  leading and trailing spaces  ",
    "for i in range(10):\n\tprint(i, end='')\n",
    "It's 3.14159 and we'll see 2024-11-25 at 12:30.",
    "Ünïcödé: naïve café, Ελληνικά, русский, 日本語のテキスト",
    "emoji 🙂 and symbols ±×÷ → ∑",
    "\n\n\n    \n",
    "x" * 300,
    "<|endoftext|> is text here",
]


def corpus_files(limit_bytes):
    """Python's standard library and installed packages: .py sources and
    .txt/.rst/.md documentation, sorted, up to limit_bytes."""
    roots = [sysconfig.get_paths()["stdlib"]] + site.getsitepackages()
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith((".py", ".txt", ".rst", ".md")):
                    found.append(os.path.join(dirpath, name))
    random.Random(0).shuffle(found)
    texts, total = [], 0
    for path in found:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        if not text.strip() or len(text) > 400_000:
            continue
        texts.append(text)
        total += len(text)
        if total >= limit_bytes:
            break
    return texts, total


def train_tokenizer(texts):
    tok = Tokenizer(models.BPE())
    # GPT-2's pre-tokenisation regex and byte-level alphabet (tokenizer.ggml.pre "gpt-2").
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=[SPECIAL],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def make_config():
    return LlamaConfig(
        vocab_size=VOCAB, hidden_size=256, intermediate_size=640, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=CONTEXT,
        rms_norm_eps=1e-5, rope_theta=10000.0,
        rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 256},
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, attention_bias=False, mlp_bias=False)


def batches(ids, batch, seed):
    """Random CONTEXT-token windows of the token stream, forever."""
    gen = torch.Generator().manual_seed(seed)
    stream = torch.tensor(ids, dtype=torch.long)
    while True:
        starts = torch.randint(0, len(stream) - CONTEXT, (batch,), generator=gen)
        yield torch.stack([stream[s:s + CONTEXT] for s in starts.tolist()])


def train(model, ids, seconds, steps_cap, device, log):
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.1)
    batch = 32
    data = batches(ids, batch, seed=1)
    start = time.time()
    step = 0
    model.train()
    while step < steps_cap:
        elapsed = time.time() - start
        if elapsed >= seconds:
            break
        frac = elapsed / seconds
        lr = 2e-3 * min(1.0, (step + 1) / 200) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        x = next(data).to(device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 200 == 0:
            entry = {"step": step, "seconds": round(elapsed, 1), "loss": round(loss.item(), 4), "lr": lr}
            log.append(entry)
            print(json.dumps(entry), flush=True)
        step += 1
    log.append({"step": step, "seconds": round(time.time() - start, 1), "tokens": step * batch * CONTEXT})
    return step


def golden(hf_dir, out_dir):
    """transformers' float32 logits (eager attention, on the CPU) and greedy
    continuations of PROMPTS, and the ids of TOKENIZER_CASES."""
    tok = PreTrainedTokenizerFast.from_pretrained(hf_dir)
    model = LlamaForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    tensors, prompts = {}, []
    for i, text in enumerate(PROMPTS):
        ids = [0] + tok.encode(text, add_special_tokens=False)
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(input_ids=x).logits[0].float().contiguous()
            greedy = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=32, do_sample=False,
                                    pad_token_id=0)[0, len(ids):].tolist()
        tensors[f"prompt.{i}.logits"] = logits
        prompts.append({"text": text, "ids": ids, "greedy": greedy, "greedy_text": tok.decode(greedy)})
    cases = [{"text": t, "ids": tok.encode(t, add_special_tokens=False)} for t in TOKENIZER_CASES]
    save_file(tensors, os.path.join(out_dir, "golden.safetensors"))
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump({"note": "transformers float32 logits (golden.safetensors: prompt.{i}.logits [T, vocab]) "
                           "and greedy tokens; ids begin with the BOS id 0",
                   "prompts": prompts, "tokenizer_cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return prompts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--corpus-mb", type=float, default=40.0)
    ap.add_argument("--smoke", action="store_true", help="a few steps on a small corpus: checks the pipeline")
    args = ap.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    hf_dir = os.path.join(args.out, "hf")
    os.makedirs(hf_dir, exist_ok=True)
    t0 = time.time()
    texts, total = corpus_files(int((1.0 if args.smoke else args.corpus_mb) * 1e6))
    print(f"corpus: {len(texts)} files, {total / 1e6:.1f} MB ({time.time() - t0:.0f} s)", flush=True)
    tok = train_tokenizer(texts)
    ids = []
    for enc in tok.encode_batch(texts):
        ids.append(0)
        ids.extend(enc.ids)
    print(f"tokenizer: vocab {tok.get_vocab_size()}, corpus {len(ids) / 1e6:.2f}M tokens "
          f"({time.time() - t0:.0f} s)", flush=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIAL, eos_token=SPECIAL)
    fast.save_pretrained(hf_dir)

    config = make_config()
    model = LlamaForCausalLM(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f}M parameters, config {json.dumps(config.to_dict(), sort_keys=True)}",
          flush=True)
    log = []
    steps = train(model, ids, 20 if args.smoke else args.minutes * 60, 5 if args.smoke else 10**9, device, log)
    print(f"trained {steps} steps ({time.time() - t0:.0f} s)", flush=True)
    model = model.float().cpu()
    model.save_pretrained(hf_dir, max_shard_size="4MB", safe_serialization=True)
    with open(os.path.join(args.out, "train-log.json"), "w") as f:
        json.dump({"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                   "torch": torch.__version__, "corpus_files": len(texts), "corpus_bytes": total,
                   "corpus_tokens": len(ids), "parameters": n_params, "log": log}, f, indent=1)
    for p in golden(hf_dir, args.out):
        print(json.dumps({"prompt": p["text"][:40], "greedy_text": p["greedy_text"]}), flush=True)
    print(f"done ({time.time() - t0:.0f} s); files: {sorted(os.listdir(hf_dir))}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
