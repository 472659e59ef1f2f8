set -u
REAL=$OUT; R=/tmp/r10d; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r10d; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc10d
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
(build-rel/bench/synth_model /tmp/l3.gguf > $R/synth.txt 2>&1 &)
timeout 60 build-rel/tappa-bench --device 0 --op copy --json $R/copy-1.json > $R/copy-1.txt 2>&1; el copy1; pack
while pgrep -f synth_model >/dev/null; do sleep 1; done; el synth
for round in 1 2; do
  timeout 60 build-rel/tappa run -m /tmp/l3.gguf -p "hello world" -n 256 --device 0 --profile > $R/profile-main-$round.txt 2>&1; el main$round
  TAPPA_PREFETCH=0,0,24,0,0 TAPPA_PREFETCH_WG=132 timeout 60 build-pf/tappa run -m /tmp/l3.gguf -p "hello world" -n 256 --device 0 --profile > $R/profile-a24-$round.txt 2>&1; el a24$round
  pack
done
timeout 60 build-rel/tappa-bench --device 0 --op copy --json $R/copy-2.json > $R/copy-2.txt 2>&1; el copy2; pack
