#!/bin/bash
# session17 call 2: the tile-store epilogue (ep, on top of il) and with the first tile fetched before the Q tile (epef), against il and the landed kernel (base); a clock probe of ep with stamps inside the merge (epclk); conformance of ep and epef; a full sweep of ep.
R=/tmp/r; rm -rf $R; mkdir -p $R/probe; T=$R/timeline.txt
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
for v in base il ep epef; do sweep 1 $v; done
TAPPA_CLOCK_PROBE=$R/probe $(B epclk) $ARGS --json $R/r1-epclk.json > $R/r1-epclk.txt 2>$R/r1-epclk.err; ts "r1 epclk rc $? $(grep -E 'decode' $R/r1-epclk.txt | awk '{printf "%s ", $(NF-4)}') $(ls $R/probe | tr '\n' ' ') | $(smi)"
for v in epef ep il base; do sweep 2 $v; done
for v in ep epef; do TAPPA_VALIDATE=1 .devbin/bin/$v/tappa conform --device 0 --op attention > $R/conform-$v.txt 2>&1; ts "conform $v rc $? $(tail -1 $R/conform-$v.txt)"; done
for v in base ep; do sweep 3 $v; done
$(B ep) --op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,8192,16384,32768,65536,131072 --json $R/full-ep.json > $R/full-ep.txt 2>&1; ts "full ep rc $? $(grep -E 'decode|bytes of' $R/full-ep.txt | awk '{printf "%s ", $(NF-4)}') | $(smi)"
ts end
