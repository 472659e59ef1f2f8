#!/bin/bash
# session18 call 2: subgroup barriers ordering shared memory only, in the landed loop (bs) and in the 1.5-tile-ahead loop (r3b), against the landed kernel (base); registers and conformance of both; PyTorch.
R=/tmp/r; rm -rf $R; mkdir -p $R; T=$R/timeline.txt
fin() { cp .devbin/c2.sh $R/script.sh; tar czf $OUT/res.tgz -C /tmp r; }
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
for v in r3b bs; do $(B $v) --op decode --dtype f16 --ctx 32768 --reps 3 --pipeline-stats > $R/stats-$v.txt 2>&1; ts "stats $v rc $? $(grep 'Register' $R/stats-$v.txt | grep ' 33: ' | head -2 | tr "\n" " ")"; done
for v in base bs r3b; do sweep 1 $v; done
for v in r3b bs; do TAPPA_VALIDATE=1 .devbin/bin/$v/tappa conform --device 0 --op attention > $R/conform-$v.txt 2>&1; ts "conform $v rc $? $(tail -1 $R/conform-$v.txt)"; done
for v in r3b bs base; do sweep 2 $v; done
python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; ts "peer rc $? $(grep -E '^decode +[0-9]' $R/peer.txt | awk '{printf "%s ", $3}')"
for v in base bs r3b; do sweep 3 $v; done
ts end
