#!/bin/sh
# Check and time tappa on a lent GPU machine that has a Vulkan driver but no
# loader (see ../shared/device/README.md): unpack the carried loader and
# validation-layer .debs, then run info, conformance under the validation
# layer, the Vulkan tests on the GPU, and the benchmark. Everything is also
# written under $OUT (or ./device-out).
#   usage: bench/run-on-device.sh BUILD_DIR   (BUILD_DIR carried, with lib/libcjson.so.1)
set -u
build=${1:-build-rel}
out=${OUT:-device-out}
mkdir -p "$out"
for f in .gl/*.deb; do dpkg -x "$f" / || exit 1; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export LD_LIBRARY_PATH="$PWD/$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_CACHE_HOME="$out/cache"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv 2>&1 | tee "$out/nvidia-smi.txt"
"$build/tappa" info | tee "$out/info.txt"
"$build/tappa" info --json >"$out/info.json"
TAPPA_VALIDATE=1 "$build/tappa" conform --device 0 | tee "$out/conform.txt" | tail -3
TAPPA_VALIDATE=1 "$build/tappa" conform --device 0 --json >"$out/conform.json"
TAPPA_VALIDATE=1 TAPPA_TEST_DEVICE=0 "$build/tests/test_vulkan" 2>&1 | tee "$out/test_vulkan.txt"
TAPPA_VALIDATE=1 "$build/tappa" demo --device 0 | tee "$out/demo.txt"
"$build/tappa-bench" --json "$out/bench.json" 2>"$out/bench.err" | tee "$out/bench.txt"
