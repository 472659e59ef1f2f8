#!/bin/bash
# session17 call 3: one thread fencing the count (fx: a workgroup barrier ordering buffer memory, then its device-scope fences, as CUDA's grid sync does), the merge in one batch of 33 partials (mu), and both (fxmu), on top of the tile-store epilogue (ep), against the landed kernel (base); conformance of fxmu, mu and fx; a full sweep of the best, PyTorch.
R=/tmp/r; rm -rf $R; mkdir -p $R/probe; T=$R/timeline.txt
fin() { cp .devbin/c3.sh $R/script.sh; tar czf $OUT/res.tgz -C /tmp r; }
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
for v in base ep fx mu fxmu; do sweep 1 $v; done
for v in fxmu mu fx ep base; do sweep 2 $v; done
for v in fxmu mu; do TAPPA_VALIDATE=1 .devbin/bin/$v/tappa conform --device 0 --op attention > $R/conform-$v.txt 2>&1; ts "conform $v rc $? $(tail -1 $R/conform-$v.txt)"; done
for v in base fxmu; do sweep 3 $v; done
$(B fxmu) --op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,8192,16384,32768,65536,131072 --json $R/full-fxmu.json > $R/full-fxmu.txt 2>&1; ts "full fxmu rc $? $(grep -E 'decode|bytes of' $R/full-fxmu.txt | awk '{printf "%s ", $(NF-4)}') | $(smi)"
python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; ts "peer rc $? $(grep -E '^decode +[0-9]' $R/peer.txt | awk '{printf "%s ", $3}')"
TAPPA_VALIDATE=1 .devbin/bin/fx/tappa conform --device 0 --op attention > $R/conform-fx.txt 2>&1; ts "conform fx rc $? $(tail -1 $R/conform-fx.txt)"
ts end
