set -u
REAL=$OUT; R=/tmp/r13c1; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r13c1; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc13
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $R/smi.txt 2>&1
build-rel/tappa info > $R/info.txt 2>&1
B=build-rel/tappa-bench; C=32768,131072
TAPPA_VALIDATE=1 timeout 200 build-rel/tappa conform --device 0 --op attention > $R/conform-attention.txt 2>&1; el conform; pack
timeout 60 $B --device 0 --op decode --batch 10 --ctx $C --pipeline-stats --json $R/stats.json > $R/stats.txt 2>&1; el stats; pack
for round in 1 2; do
  timeout 60 $B --device 0 --op decode --batch 10 --ctx 4096,$C --json $R/cm-$round.json > $R/cm-$round.txt 2>&1; el cm$round
  TAPPA_COOPMAT=0 timeout 60 $B --device 0 --op decode --batch 10 --ctx 4096,$C --json $R/pt-$round.json > $R/pt-$round.txt 2>&1; el pt$round
  for t in 264 1056; do timeout 60 .devbin/bin13/bench-t$t --device 0 --op decode --batch 10 --ctx $C --json $R/t$t-$round.json > $R/t$t-$round.txt 2>&1; el t$t$round; done
  pack
done
TAPPA_VALIDATE=1 timeout 120 build-rel/tests/test_model models/tiny-llama/tiny-llama.gguf models/tiny-llama/golden.json models/tiny-llama/golden.safetensors NVIDIA > $R/test_model.txt 2>&1; echo "rc $?" >> $R/test_model.txt; el test_model
timeout 60 $B --device 0 --op copy --json $R/copy.json > $R/copy.txt 2>&1; el copy; pack
