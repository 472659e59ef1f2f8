#!/bin/bash
# Session 15 call 2: narrower tensor-core decode workgroups (more warps an SM), merge unroll.
R=/tmp/r15c2; mkdir -p $R; T=$R/timeline.txt
for f in .gl/*.deb; do dpkg -x $f / || exit 1; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
t0=$(date +%s); ts() { echo "[$(( $(date +%s) - t0 ))s] $*" >> $T; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $R/smi.txt 2>&1
ts start
for v in w64t660m16 w32t1320m32; do TAPPA_VALIDATE=1 .devbin/bin/$v/tappa conform --device 0 --op attention > $R/conform-$v.txt 2>&1; ts "conform $v rc $? $(tail -1 $R/conform-$v.txt)"; done
B() { if [ $1 = base ]; then echo build-rel/tappa-bench; else echo .devbin/bin/$1/tappa-bench; fi; }
for v in w64t660m16 w32t1320m32; do $(B $v) --op decode --dtype f16 --ctx 32768 --reps 3 --pipeline-stats > $R/stats-$v.txt 2>&1; ts "stats $v rc $?"; done
ARGS="--op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,16384,32768,131072"
for round in 1 2; do
  for v in base w128t264m16 w64t660m8 w64t660m16 w64t660m32 w64t528m16 w32t1320m32; do
    [ $round = 2 ] && case $v in w64t660m8|w64t528m16|w128t264m16) continue;; esac
    $(B $v) $ARGS --json $R/r$round-$v.json > $R/r$round-$v.txt 2>$R/r$round-$v.err; ts "r$round $v rc $? $(grep -E 'decode' $R/r$round-$v.txt | awk '{printf "%s ", $(NF-4)}')"
  done
  if [ $round = 1 ]; then python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; ts "peer rc $?"; fi
done
cd /tmp && tar czf $OUT/res.tgz r15c2
