#!/bin/bash
# Session 15 call 1: conform the D-split tensor-core decode, then time variants.
R=/tmp/r15c1; mkdir -p $R; T=$R/timeline.txt
for f in .gl/*.deb; do dpkg -x $f / || exit 1; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
t0=$(date +%s); ts() { echo "[$(( $(date +%s) - t0 ))s] $*" >> $T; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $R/smi.txt 2>&1
ts start
TAPPA_VALIDATE=1 build-rel/tappa conform --device 0 --op attention > $R/conform-kt2.txt 2>&1; ts "conform kt2 rc $? $(tail -1 $R/conform-kt2.txt)"
TAPPA_VALIDATE=1 .devbin/bin/kt4t264/tappa conform --device 0 --op attention > $R/conform-kt4.txt 2>&1; ts "conform kt4 rc $? $(tail -1 $R/conform-kt4.txt)"
B() { if [ $1 = kt2t396 ]; then echo build-rel/tappa-bench; else echo .devbin/bin/$1/tappa-bench; fi; }
for v in base kt2t396 kt4t264; do $(B $v) --op decode --dtype f16 --ctx 32768 --reps 3 --pipeline-stats > $R/stats-$v.txt 2>&1; ts "stats $v rc $?"; done
ARGS="--op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,16384,32768,131072"
for round in 1 2; do
  for v in base kt2t396 kt2t264 kt2t528 kt4t264 kt4t396 kt1t528; do
    [ $round = 2 ] && case $v in kt2t528|kt4t396|kt1t528) continue;; esac
    $(B $v) $ARGS --json $R/r$round-$v.json > $R/r$round-$v.txt 2>$R/r$round-$v.err; ts "r$round $v rc $?"
  done
  if [ $round = 1 ]; then python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; ts "peer rc $?"; fi
done
GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536 TAPPA_VALIDATE=1 TAPPA_TEST_DEVICE=0 build-rel/tests/test_vulkan > $R/test_vulkan.txt 2>&1; ts "test_vulkan rc $? $(tail -1 $R/test_vulkan.txt)"
cd /tmp && tar czf $OUT/res.tgz r15c1
