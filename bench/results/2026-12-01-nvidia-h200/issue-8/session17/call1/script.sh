#!/bin/bash
# session17 call 1: KV heads interleaved in launch order (il) against the landed kernel (base); a clock probe of il (ilclk); conformance of il; a full sweep and PyTorch.
R=/tmp/r; mkdir -p $R/probe; T=$R/timeline.txt
fin() { cp .devbin/c1.sh $R/script.sh; tar czf $OUT/res.tgz -C /tmp r; }
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
for v in base il; do sweep 1 $v; done
TAPPA_CLOCK_PROBE=$R/probe $(B ilclk) $ARGS --json $R/r1-ilclk.json > $R/r1-ilclk.txt 2>$R/r1-ilclk.err; ts "r1 ilclk rc $? $(grep -E 'decode' $R/r1-ilclk.txt | awk '{printf "%s ", $(NF-4)}') $(ls $R/probe | tr '\n' ' ') | $(smi)"
for v in il base; do sweep 2 $v; done
TAPPA_VALIDATE=1 .devbin/bin/il/tappa conform --device 0 --op attention > $R/conform-il.txt 2>&1; ts "conform il rc $? $(tail -1 $R/conform-il.txt)"
for v in base il; do sweep 3 $v; done
$(B il) --op decode --dtype f16 --batch 10 --reps 20 --ctx 4096,8192,16384,32768,65536,131072 --json $R/full-il.json > $R/full-il.txt 2>&1; ts "full il rc $? $(grep -E 'decode|bytes of' $R/full-il.txt | awk '{printf "%s ", $(NF-4)}') | $(smi)"
python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; ts "peer rc $? $(grep -E '^decode +[0-9]' $R/peer.txt | awk '{printf "%s ", $3}')"
ts end
