#!/bin/bash
# Session 15 call 3: the transposed tensor-core decode (heads in 8 tile columns).
R=/tmp/r15c3; mkdir -p $R; T=$R/timeline.txt
for f in .gl/*.deb; do dpkg -x $f / || exit 1; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
t0=$(date +%s); ts() { echo "[$(( $(date +%s) - t0 ))s] $*" >> $T; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $R/smi.txt 2>&1
ts start
TAPPA_VALIDATE=1 build-rel/tappa conform --device 0 --op attention > $R/conform-n8.txt 2>&1; ts "conform n8 rc $? $(tail -1 $R/conform-n8.txt)"
TAPPA_VALIDATE=1 .devbin/bin/c16/tappa conform --device 0 --op attention > $R/conform-n16.txt 2>&1; ts "conform n16 rc $? $(tail -1 $R/conform-n16.txt)"
B() { if [ $1 = t264 ]; then echo build-rel/tappa-bench; else echo .devbin/bin/$1/tappa-bench; fi; }
build-rel/tappa-bench --op decode --dtype f16 --ctx 32768 --reps 3 --pipeline-stats > $R/stats-t264.txt 2>&1; ts "stats rc $? $(grep -A1 'attention f16' $R/stats-t264.txt | grep -o 'Register Count [0-9]*')"
ARGS="--op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,16384,32768,131072"
for round in 1 2; do
  for v in base t264 t396 t528 c16; do
    [ $round = 2 ] && case $v in t528|c16) continue;; esac
    $(B $v) $ARGS --json $R/r$round-$v.json > $R/r$round-$v.txt 2>$R/r$round-$v.err; ts "r$round $v rc $? $(grep -E 'decode' $R/r$round-$v.txt | awk '{printf "%s ", $(NF-4)}')"
  done
  if [ $round = 1 ]; then python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; ts "peer rc $?"; fi
done
cd /tmp && tar czf $OUT/res.tgz r15c3
