#!/bin/sh
# Fuzz the GGUF reader and the tokenizer built from a file's metadata with
# libFuzzer (clang) under AddressSanitizer and UBSan, for SECONDS (default
# 600), from a small seed written by make_seed.c and the bundled model's
# header. Crashes land in tests/fuzz/out/. usage: tests/fuzz/run.sh [SECONDS]
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-600}
out=tests/fuzz/out
mkdir -p "$out/corpus"
ninja -C build >/dev/null
cc -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude tests/fuzz/make_seed.c build/src/libtappa.a \
   $(pkg-config --libs libcjson libpcre2-8) -lm -ldl -lpthread -o "$out/make_seed"
"$out/make_seed" "$out/corpus/seed.gguf"
clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
      tests/fuzz/fuzz_gguf.c src/model/gguf_read.c src/model/gguf_write.c src/io/file_io.c src/model/tokenizer.c \
      src/core/status.c \
      $(pkg-config --libs libpcre2-8) -o "$out/fuzz_gguf"
"$out/fuzz_gguf" -max_total_time="$seconds" -max_len=65536 -artifact_prefix="$out/" "$out/corpus"
