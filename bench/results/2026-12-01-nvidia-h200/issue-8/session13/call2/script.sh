set -u
REAL=$OUT; R=/tmp/r13c2; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r13c2; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc13
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $R/smi.txt 2>&1
X=.devbin/bin13; C=32768,131072
TAPPA_VALIDATE=1 timeout 200 build-rel/tappa conform --device 0 --op attention > $R/conform-A.txt 2>&1; el confA; pack
TAPPA_VALIDATE=1 timeout 200 $X/B-tappa conform --device 0 --op attention > $R/conform-B.txt 2>&1; el confB; pack
timeout 60 build-rel/tappa-bench --device 0 --op decode --batch 10 --ctx 32768 --pipeline-stats > $R/stats-A.txt 2>&1; el statsA
timeout 60 $X/B-t528 --device 0 --op decode --batch 10 --ctx 32768 --pipeline-stats > $R/stats-B.txt 2>&1; el statsB; pack
timeout 60 build-rel/tappa-bench --device 0 --op decode --batch 10 --ctx $C > $R/warm.txt 2>&1; el warm
for round in 1 2; do
  timeout 60 build-rel/tappa-bench --device 0 --op decode --batch 10 --ctx $C --json $R/A528-$round.json > $R/A528-$round.txt 2>&1; el A528$round
  for b in A-t264 A-t396 B-t264 B-t396 B-t528; do timeout 60 $X/$b --device 0 --op decode --batch 10 --ctx $C --json $R/$b-$round.json > $R/$b-$round.txt 2>&1; el $b$round; done
  TAPPA_COOPMAT=0 timeout 60 build-rel/tappa-bench --device 0 --op decode --batch 10 --ctx $C --json $R/pt-$round.json > $R/pt-$round.txt 2>&1; el pt$round
  pack
done
