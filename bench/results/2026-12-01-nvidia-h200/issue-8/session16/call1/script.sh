#!/bin/bash
# Session 17 call 1: the shared-memory trim (cur, WG 128), with 96- and 160-invocation workgroups, merge unroll 32, and a clock probe of where a decode's time goes.
R=/tmp/r; mkdir -p $R/probe; T=$R/timeline.txt
fin() { cp .devbin/c1.sh $R/script.sh; tar czf $OUT/res.tgz -C /tmp r; }
trap fin EXIT
for f in .gl/*.deb; do dpkg -x $f / || exit 1; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
t0=$(date +%s); ts() { echo "[$(( $(date +%s) - t0 ))s] $*" >> $T; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $R/smi.txt 2>&1
ts start
B() { echo .devbin/bin/$1/tappa-bench; }
ARGS="--op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,32768,131072"
sweep() { $(B $2) $ARGS --json $R/r$1-$2.json > $R/r$1-$2.txt 2>$R/r$1-$2.err; ts "r$1 $2 rc $? $(grep -E 'decode|bytes of' $R/r$1-$2.txt | awk '{printf "%s ", $(NF-4)}')"; }
for v in cur w96s w160s; do $(B $v) --op decode --dtype f16 --ctx 32768 --reps 3 --pipeline-stats > $R/stats-$v.txt 2>&1; ts "stats $v rc $? $(grep -A1 'attention f16' $R/stats-$v.txt | grep -o 'Register Count [0-9]*' | head -1)"; done
for v in base cur w96s w160s m32; do sweep 1 $v; done
TAPPA_CLOCK_PROBE=$R/probe $(B clk) $ARGS --json $R/r1-clk.json > $R/r1-clk.txt 2>$R/r1-clk.err; ts "r1 clk rc $? $(grep -E 'decode' $R/r1-clk.txt | awk '{printf "%s ", $(NF-4)}') $(ls $R/probe)"
python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; ts "peer rc $? $(grep -i 'decode' $R/peer.txt | head -3 | tr -s ' ' | tr '\n' '|')"
for v in base cur w160s m32; do sweep 2 $v; done
for v in cur m32 w160s; do TAPPA_VALIDATE=1 .devbin/bin/$v/tappa conform --device 0 --op attention > $R/conform-$v.txt 2>&1; ts "conform $v rc $? $(tail -1 $R/conform-$v.txt)"; done
ts end
