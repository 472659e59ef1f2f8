#!/bin/bash
# session18 call 4: r3 (loads 1.5 tiles ahead) and pf2 (L2 touches two tiles before the fetch) written as unrolled inner loops rather than functions (r3u, pf2u), against the landed kernel (base); registers; conformance of whichever beats base at 128K.
R=/tmp/r; rm -rf $R; mkdir -p $R; T=$R/timeline.txt
fin() { cp .devbin/c4.sh $R/script.sh; tar czf $OUT/res.tgz -C /tmp r; }
trap fin EXIT
trap 'exit 1' TERM INT
for f in .gl/*.deb; do dpkg -x $f / || exit 1; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
t0=$(date +%s); ts() { echo "[$(( $(date +%s) - t0 ))s] $*" >> $T; fin; }
smi() { nvidia-smi --query-gpu=clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active --format=csv,noheader 2>&1 | tr -d '\n'; }
ts "start $(smi)"
B() { echo .devbin/bin/$1/tappa-bench; }
ARGS="--op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,32768,131072"
sweep() { $(B $2) $ARGS --json $R/r$1-$2.json > $R/r$1-$2.txt 2>$R/r$1-$2.err; ts "r$1 $2 rc $? $(grep -E 'decode|bytes of' $R/r$1-$2.txt | awk '{printf "%s ", $(NF-4)}') | $(smi)"; }
for v in pf2u r3u; do $(B $v) --op decode --dtype f16 --ctx 32768 --reps 3 --pipeline-stats > $R/stats-$v.txt 2>&1; ts "stats $v rc $? $(grep 'Register' $R/stats-$v.txt | grep ' 33: ' | head -2 | tr "\n" " ")"; done
for v in base pf2u r3u; do sweep 1 $v; done
t128() { grep 'ctx=131072 d=128' $R/r1-$1.txt | awk '{print $(NF-4)}'; }
for v in pf2u r3u; do
  if awk -v a=$(t128 $v) -v b=$(t128 base) 'BEGIN { exit !(a < b) }'; then TAPPA_VALIDATE=1 .devbin/bin/$v/tappa conform --device 0 --op attention > $R/conform-$v.txt 2>&1; ts "conform $v rc $? $(tail -1 $R/conform-$v.txt)"; else ts "conform $v skipped: not faster at 128K"; fi
done
for v in r3u pf2u base; do sweep 2 $v; done
ts end
