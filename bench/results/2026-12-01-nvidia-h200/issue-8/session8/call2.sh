set -u
REAL=$OUT; R=/tmp/res; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp res; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
N=build-rel; B=.devbin
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
conf() { name=$1; shift; env "$@" TAPPA_VALIDATE=1 timeout 100 $N/tappa conform --device 0 --op attention > $R/conform-$name.txt 2>&1; echo "rc $?" >> $R/conform-$name.txt; el conf-$name; pack; }
conf rt1-64 TAPPA_PREFILL_BC=64 TAPPA_PREFILL_RT=1
conf rt2-32 TAPPA_PREFILL_BC=32 TAPPA_PREFILL_RT=2
conf rt2-64 TAPPA_PREFILL_BC=64 TAPPA_PREFILL_RT=2
run() { name=$1; shift; env "$@" timeout 60 $N/tappa-bench --op prefill --json $R/p-$name.json > $R/p-$name.txt 2>&1; el $name; pack; }
for round in 1 2; do
  run rt1-64-128-$round TAPPA_PREFILL_BC=64 TAPPA_PREFILL_WG=128 TAPPA_PREFILL_RT=1
  run rt1-64-256-$round TAPPA_PREFILL_BC=64 TAPPA_PREFILL_WG=256 TAPPA_PREFILL_RT=1
  run rt2-32-128-$round TAPPA_PREFILL_BC=32 TAPPA_PREFILL_WG=128 TAPPA_PREFILL_RT=2
  run rt2-64-128-$round TAPPA_PREFILL_BC=64 TAPPA_PREFILL_WG=128 TAPPA_PREFILL_RT=2
  run rt2-32-256-$round TAPPA_PREFILL_BC=32 TAPPA_PREFILL_WG=256 TAPPA_PREFILL_RT=2
done
for v in "1 64" "2 32" "2 64"; do set -- $v; TAPPA_PREFILL_RT=$1 TAPPA_PREFILL_BC=$2 timeout 40 $N/tappa-bench --op prefill --quick --pipeline-stats > $R/stats-rt$1-$2.txt 2>&1; done; el stats; pack
