#!/bin/sh
# Check and time tappa on a lent GPU machine that has a Vulkan driver but no
# loader (see ../shared/device/README.md): unpack the carried loader and
# validation-layer .debs, then run the steps asked for (default: all), each
# written under $OUT (or ./device-out):
#   info     tappa info (text and JSON), nvidia-smi
#   conform  tappa conform on the GPU under the validation layer (only the ops
#            in $CONFORM_OPS when set); tensor-core cases run on both paths
#   tests    the Vulkan tests on the GPU (tensors, model, run, prune/eval, compress, attn)
#   model    tappa run / run --kv / eval / prune on the bundled model, on the GPU
#   decode   tappa-bench --op decode (1K..128K), also for each extra bench binary in $BENCHES
#   bench    the whole tappa-bench
#   peer     tappa-bench --batch 10 decode, prefill and qsim (tensor-core paths,
#            then with TAPPA_COOPMAT=0), bench/peer.py (PyTorch) and tappa-peer: the
#            side-by-side table (peer.txt), compare.json and two PNGs
#   usage: bench/run-on-device.sh BUILD_DIR [STEP ...]
#   (BUILD_DIR carried, with lib/ from bench/device-libs.sh)
set -u
build=${1:-build-rel}
[ $# -gt 0 ] && shift
steps=${*:-info conform tests model decode bench peer}
out=${OUT:-device-out}
mkdir -p "$out"
for f in .gl/*.deb; do dpkg -x "$f" / || exit 1; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export LD_LIBRARY_PATH="$PWD/$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_CACHE_HOME=/tmp/tappa-cache  # pipeline caches stay off $OUT
tappa="$build/tappa"
model=models/tiny-llama
log="$out/all.txt"
step() { echo "== $*" | tee -a "$log"; }
for s in $steps; do
    case $s in
    info)
        step info
        nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv 2>&1 | tee -a "$log"
        "$tappa" info | tee -a "$log"
        "$tappa" info --json >"$out/info.json" ;;
    conform)
        step conform
        if [ -n "${CONFORM_OPS:-}" ]; then
            : >"$out/conform.txt"
            for op in $CONFORM_OPS; do
                TAPPA_VALIDATE=1 "$tappa" conform --device 0 --op "$op" >>"$out/conform.txt" 2>&1
                echo "conform $op exit $?: $(tail -1 "$out/conform.txt")" | tee -a "$log"
            done
        else
            TAPPA_VALIDATE=1 "$tappa" conform --device 0 >"$out/conform.txt" 2>&1
            echo "conform exit $?: $(tail -1 "$out/conform.txt")" | tee -a "$log"
        fi ;;
    tests)
        step tests
        dev=$("$tappa" info --json | python3 -c "import json,sys; print(json.load(sys.stdin)['devices'][0]['name'])")
        # test_vulkan opens and closes a device about a dozen times. NVIDIA's
        # driver takes static TLS each time the loader loads it, and glibc's
        # default surplus runs out on about the twelfth (vkCreateInstance then
        # fails as if there were no driver); a larger surplus lets it run.
        GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536 TAPPA_VALIDATE=1 TAPPA_TEST_DEVICE=0 \
            "$build/tests/test_vulkan" >"$out/test_vulkan.txt" 2>&1
        echo "test_vulkan exit $?: $(tail -1 "$out/test_vulkan.txt")" | tee -a "$log"
        TAPPA_VALIDATE=1 "$build/tests/test_model" $model/tiny-llama.gguf $model/golden.json $model/golden.safetensors "$dev" 2>&1 | tail -4 | tee -a "$log"
        for t in test_run_cli:"$tappa $model/golden.json" test_prune_model:"$tappa $model/tiny-llama.gguf" \
                 test_compress_cli:"$tappa" test_attn_cli:"$tappa"; do
            name=${t%%:*}
            TAPPA_VALIDATE=1 "$build/tests/$name" ${t#*:} "$dev" >"$out/$name.txt" 2>&1
            echo "$name exit $?: $(tail -1 "$out/$name.txt")" | tee -a "$log"
        done ;;
    model)
        step model
        head -c 1800 $model/eval.txt >"$out/prompt.txt"
        "$tappa" run -m $model/tiny-llama.gguf -n 200 --device 0 --json >"$out/run.json" 2>>"$log"
        for kv in full tappa snapkv; do
            "$tappa" run -m $model/tiny-llama.gguf -f "$out/prompt.txt" -n 64 --kv $kv --kv-budget 128 --kv-window 8 \
                --verbose --device 0 2>&1 | tail -12 | tee -a "$log"
        done
        "$tappa" eval ppl -m $model/tiny-llama.gguf -f $model/eval.txt --ctx 256 --device 0 2>&1 | tail -3 | tee -a "$log"
        "$tappa" eval ppl -m $model/tiny-llama.gguf -f $model/eval.txt --ctx 256 --kv tappa --kv-budget 64 --kv-window 8 \
            --device 0 2>&1 | tail -3 | tee -a "$log"
        "$tappa" eval kv -m $model/tiny-llama.gguf -f $model/eval.txt --ctx 256 --budgets 16,32,64,96 --kv-window 8 \
            --device 0 2>&1 | tee "$out/eval-kv.txt" | tail -12 | tee -a "$log"
        "$tappa" prune -m $model/tiny-llama.gguf --calib tools/train_tiny_llama.py --n-layers 1 --beta 0.3 --chunk 256 \
            -o "$out/pruned.gguf" --order-out "$out/order.json" --device 0 2>&1 | tail -6 | tee -a "$log"
        "$tappa" run -m "$out/pruned.gguf" -n 16 --device 0 2>&1 | tail -2 | tee -a "$log"
        rm -f "$out/pruned.gguf"
        "$tappa" eval prune -m $model/tiny-llama.gguf -f $model/eval.txt --calib tools/train_tiny_llama.py \
            --n-layers 1,2,3 --beta 0.3 --chunk 256 --ctx 256 --device 0 2>&1 | tee "$out/eval-prune.txt" | tail -8 | tee -a "$log" ;;
    decode)
        step decode
        "$build/tappa-bench" --op decode --json "$out/decode.json" 2>&1 | tee "$out/decode.txt" | tail -20 | tee -a "$log"
        for b in ${BENCHES:-}; do
            step "decode $b"
            "$b" --op decode 2>&1 | tail -18 | tee -a "$log"
        done ;;
    bench)
        step bench
        "$build/tappa-bench" --json "$out/bench.json" 2>"$out/bench.err" | tee "$out/bench.txt" | tail -60 | tee -a "$log" ;;
    peer)
        step peer
        # --batch 10: timed as peer.py times PyTorch, 10 calls per timestamp pair.
        for op in decode prefill qsim; do
            "$build/tappa-bench" --op $op --batch 10 --json "$out/tappa-$op.json" >"$out/tappa-$op.txt" \
                2>"$out/tappa-$op.err"
            echo "tappa-bench --op $op exit $?" | tee -a "$log"
        done
        for op in decode prefill; do
            TAPPA_COOPMAT=0 "$build/tappa-bench" --op $op --batch 10 --json "$out/portable-$op.json" \
                >"$out/portable-$op.txt" 2>"$out/portable-$op.err"
            echo "TAPPA_COOPMAT=0 tappa-bench --op $op exit $?" | tee -a "$log"
        done
        python3 bench/peer.py --json "$out/peer.json" >"$out/peer-only.txt" 2>&1
        echo "peer.py exit $?" | tee -a "$log"
        "$build/tappa-peer" --tappa "$out/tappa-decode.json" --tappa "$out/tappa-prefill.json" \
            --tappa "$out/tappa-qsim.json" --portable "$out/portable-decode.json" \
            --portable "$out/portable-prefill.json" --peer "$out/peer.json" --json "$out/compare.json" \
            --plots "$out" 2>&1 | tee "$out/peer.txt" | tee -a "$log" ;;
    *) echo "run-on-device.sh: unknown step '$s'" >&2; exit 2 ;;
    esac
done
