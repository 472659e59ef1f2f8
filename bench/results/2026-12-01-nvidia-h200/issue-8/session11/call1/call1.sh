set -u
REAL=$OUT; R=/tmp/r11a; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r11a; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc11a
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
(build-rel/bench/synth_model /tmp/l3.gguf > $R/synth.txt 2>&1 &)
timeout 60 build-rel/tappa-bench --device 0 --op copy --json $R/copy-1.json > $R/copy-1.txt 2>&1; el copy1
TAPPA_VALIDATE=1 timeout 90 build-rel/tappa conform --device 0 --op swiglu > $R/conform-swiglu.txt 2>&1; el cs
TAPPA_VALIDATE=1 timeout 90 build-rel/tappa conform --device 0 --op matvec > $R/conform-matvec.txt 2>&1; el cm
pack
while pgrep -f synth_model >/dev/null; do sleep 1; done; el synth
TAPPA_VALIDATE=1 timeout 90 build-rel/tappa run -m /tmp/l3.gguf -p "hello world" -n 16 --device 0 > $R/validate-fold.txt 2>&1; echo "rc $?" >> $R/validate-fold.txt; el val
for round in 1 2; do
  timeout 60 build-main/tappa run -m /tmp/l3.gguf -p "hello world" -n 256 --device 0 --profile > $R/profile-main-$round.txt 2>&1; el main$round
  timeout 60 build-rel/tappa run -m /tmp/l3.gguf -p "hello world" -n 256 --device 0 --profile > $R/profile-fold-$round.txt 2>&1; el fold$round
  pack
done
timeout 60 build-rel/tappa-bench --device 0 --op copy --json $R/copy-2.json > $R/copy-2.txt 2>&1; el copy2; pack
