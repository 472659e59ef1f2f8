#!/bin/bash
# Session 17 call 2: tiles handed out at run time plus a batched merge (dyn; dyn16 with merge unroll 16) against the landed kernel (base), a clock probe of dyn (dclk), conformance.
R=/tmp/r; mkdir -p $R/probe; T=$R/timeline.txt
fin() { cp .devbin/c2.sh $R/script.sh; tar czf $OUT/res.tgz -C /tmp r; }
trap fin EXIT
for f in .gl/*.deb; do dpkg -x $f / || exit 1; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
t0=$(date +%s); ts() { echo "[$(( $(date +%s) - t0 ))s] $*" >> $T; }
smi() { nvidia-smi --query-gpu=clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active --format=csv,noheader 2>&1 | tr -d '\n'; }
ts "start $(smi)"
B() { echo .devbin/bin/$1/tappa-bench; }
ARGS="--op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,32768,131072"
sweep() { $(B $2) $ARGS --json $R/r$1-$2.json > $R/r$1-$2.txt 2>$R/r$1-$2.err; ts "r$1 $2 rc $? $(grep -E 'decode|bytes of' $R/r$1-$2.txt | awk '{printf "%s ", $(NF-4)}') | $(smi)"; }
$(B dyn) --op decode --dtype f16 --ctx 32768 --reps 3 --pipeline-stats > $R/stats-dyn.txt 2>&1; ts "stats dyn rc $? $(grep -A1 'attention f16' $R/stats-dyn.txt | grep -o 'Register Count [0-9]*' | head -1)"
for v in base dyn dyn16; do sweep 1 $v; done
TAPPA_CLOCK_PROBE=$R/probe $(B dclk) $ARGS --json $R/r1-dclk.json > $R/r1-dclk.txt 2>$R/r1-dclk.err; ts "r1 dclk rc $? $(grep -E 'decode' $R/r1-dclk.txt | awk '{printf "%s ", $(NF-4)}') $(ls $R/probe | tr '\n' ' ') | $(smi)"
for v in base dyn dyn16; do sweep 2 $v; done
for v in dyn dyn16; do TAPPA_VALIDATE=1 .devbin/bin/$v/tappa conform --device 0 --op attention > $R/conform-$v.txt 2>&1; ts "conform $v rc $? $(tail -1 $R/conform-$v.txt)"; done
$(B dyn) --op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,8192,16384,32768,65536,131072 --json $R/full-dyn.json > $R/full-dyn.txt 2>&1; ts "full dyn rc $? $(grep -E 'decode|bytes of' $R/full-dyn.txt | awk '{printf "%s ", $(NF-4)}') | $(smi)"
python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; ts "peer rc $? $(grep -E '^decode +[0-9]' $R/peer.txt | awk '{printf "%s ", $3}')"
for v in base dyn; do sweep 3 $v; done
ts end
