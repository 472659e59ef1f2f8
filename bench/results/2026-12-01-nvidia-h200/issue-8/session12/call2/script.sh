set -u
REAL=$OUT; R=/tmp/r12c2; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r12c2; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc12
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
timeout 60 build-rel/tappa-bench --device 0 --op copy --json $R/copy-1.json > $R/copy-1.txt 2>&1; el copy1
TAPPA_VALIDATE=1 timeout 150 build-rel/tappa conform --device 0 --op attention > $R/conform-attention.txt 2>&1; el conform
pack
timeout 90 build-rel/tappa-bench --device 0 --op decode --batch 10 --json $R/d-rel-0.json > $R/d-rel-0.txt 2>&1; el drel0
for b in x rel u2p u8; do
  timeout 90 build-$b/tappa-bench --device 0 --op decode --batch 10 --pipeline-stats --json $R/d-$b-1.json > $R/d-$b-1.txt 2>&1; el d${b}1
  pack
done
for b in x rel; do
  timeout 90 build-$b/tappa-bench --device 0 --op decode --batch 10 --json $R/d-$b-2.json > $R/d-$b-2.txt 2>&1; el d${b}2
  pack
done
timeout 60 build-rel/tappa-bench --device 0 --op copy --json $R/copy-2.json > $R/copy-2.txt 2>&1; el copy2; pack
