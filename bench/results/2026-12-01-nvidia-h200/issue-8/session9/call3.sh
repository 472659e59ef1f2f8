set -u
REAL=$OUT; R=/tmp/res; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp res; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
N=build-rel; B=.devbin
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
main() { timeout 60 $B/bench-main --op prefill --json $R/p-$1.json > $R/p-$1.txt 2>&1; echo "== $1" >> $R/summary.txt; grep "f16  prefill" $R/p-$1.txt >> $R/summary.txt; el $1; pack; }
var() { # name bc sc qs
  export TAPPA_PREFILL_BC=$2 TAPPA_PREFILL_SC=$3 TAPPA_PREFILL_QS=$4
  echo "== $1" >> $R/summary.txt
  timeout 60 $N/tappa-bench --op prefill --pipeline-stats --json $R/p-$1.json > $R/p-$1.txt 2>&1
  grep "f16  prefill" $R/p-$1.txt >> $R/summary.txt; grep "spec 128 128 $2" $R/p-$1.txt | head -1 >> $R/summary.txt
  unset TAPPA_PREFILL_BC TAPPA_PREFILL_SC TAPPA_PREFILL_QS; el $1; pack
}
main main
var a-64-64-0 64 64 0
var b-64-32-0 64 32 0
var d-64-32-2 64 32 2
var e-32-32-4 32 32 4
var f-32-32-6 32 32 6
var g-64-64-2 64 64 2
