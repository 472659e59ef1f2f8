set -u
REAL=$OUT; R=/tmp/res5; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp res5; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc5
N=build-rel; B=.devbin
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
timeout 60 $B/bench-main --op prefill --json $R/p-main.json > $R/p-main.txt 2>&1; echo "== main" >> $R/summary.txt; grep "f16  prefill" $R/p-main.txt >> $R/summary.txt; el main; pack
for g in 2 1; do
  export TAPPA_PREFILL_GL=$g
  TAPPA_VALIDATE=1 timeout 60 $N/tappa conform --device 0 --op attention > $R/conform-gl$g.txt 2>&1; echo "rc $?" >> $R/conform-gl$g.txt
  echo "== gl$g" >> $R/summary.txt; tail -2 $R/conform-gl$g.txt | head -1 >> $R/summary.txt
  timeout 60 $N/tappa-bench --op prefill --pipeline-stats --json $R/p-gl$g.json > $R/p-gl$g.txt 2>&1
  grep "f16  prefill" $R/p-gl$g.txt >> $R/summary.txt; grep -o "spec 128 128 64 4 240 [0-9 ]*: Register.*" $R/p-gl$g.txt | head -1 >> $R/summary.txt
  unset TAPPA_PREFILL_GL; el gl$g; pack
done
