set -u
REAL=$OUT; R=/tmp/res; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp res; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
N=build-rel; B=.devbin
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
var() { # name pipe bc rt
  export TAPPA_PREFILL_PIPE=$2 TAPPA_PREFILL_BC=$3 TAPPA_PREFILL_RT=$4
  TAPPA_VALIDATE=1 timeout 60 $N/tappa conform --device 0 --op attention > $R/conform-$1.txt 2>&1; echo "rc $?" >> $R/conform-$1.txt
  tail -2 $R/conform-$1.txt | head -1 >> $R/summary.txt
  timeout 60 $N/tappa-bench --op prefill --pipeline-stats --json $R/p-$1.json > $R/p-$1.txt 2>&1
  echo "== $1" >> $R/summary.txt; grep "f16  prefill" $R/p-$1.txt >> $R/summary.txt
  unset TAPPA_PREFILL_PIPE TAPPA_PREFILL_BC TAPPA_PREFILL_RT; el $1; pack
}
timeout 60 $B/bench-main --op prefill --json $R/p-main.json > $R/p-main.txt 2>&1; echo "== main" >> $R/summary.txt; grep "f16  prefill" $R/p-main.txt >> $R/summary.txt; el main; pack
var p0-64-2 0 64 2
var p1-32-2 1 32 2
var p2-32-2 2 32 2
var p1-16-2 1 16 2
var p1-32-1 1 32 1
var p0-32-2 0 32 2
timeout 60 $B/bench-main --op prefill --json $R/p-main2.json > $R/p-main2.txt 2>&1; echo "== main2" >> $R/summary.txt; grep "f16  prefill" $R/p-main2.txt >> $R/summary.txt; el main2; pack
