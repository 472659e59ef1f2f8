#!/bin/bash
# Session 16 call 1: fixed-cost ablations (nomerge, noloop), the first fetch before the Q tile (pre = build-rel), narrower workgroups resident 3 / 9 an SM (w96, w32), merge unroll 16.
R=$OUT/r; mkdir -p $R; T=$R/timeline.txt
for f in .gl/*.deb; do dpkg -x $f / || exit 1; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
t0=$(date +%s); ts() { echo "[$(( $(date +%s) - t0 ))s] $*" >> $T; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $R/smi.txt 2>&1
ts start
B() { if [ $1 = pre ]; then echo build-rel/tappa-bench; else echo .devbin/bin/$1/tappa-bench; fi; }
for v in pre w96 w32; do $(B $v) --op decode --dtype f16 --ctx 32768 --reps 3 --pipeline-stats > $R/stats-$v.txt 2>&1; ts "stats $v rc $? $(grep -A1 'attention f16' $R/stats-$v.txt | grep -o 'Register Count [0-9]*' | head -1)"; done
ARGS="--op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,32768,131072"
for round in 1 2; do
  for v in base pre w96 w32 m16 nomerge noloop; do
    [ $round = 2 ] && case $v in m16|nomerge|noloop) continue;; esac
    $(B $v) $ARGS --json $R/r$round-$v.json > $R/r$round-$v.txt 2>$R/r$round-$v.err; ts "r$round $v rc $? $(grep -E 'decode' $R/r$round-$v.txt | awk '{printf "%s ", $(NF-4)}')"
  done
  if [ $round = 1 ]; then python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; ts "peer rc $?"; fi
done
TAPPA_VALIDATE=1 build-rel/tappa conform --device 0 --op attention > $R/conform-pre.txt 2>&1; ts "conform pre rc $? $(tail -1 $R/conform-pre.txt)"
TAPPA_VALIDATE=1 .devbin/bin/w96/tappa conform --device 0 --op attention > $R/conform-w96.txt 2>&1; ts "conform w96 rc $? $(tail -1 $R/conform-w96.txt)"
