set -u
REAL=$OUT; R=/tmp/res; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp res; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc
N=build-rel; B=.devbin
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
$N/tappa info --json > $R/info.json 2>&1
TAPPA_VALIDATE=1 timeout 100 $N/tappa conform --device 0 --op attention > $R/conform-attention.txt 2>&1; echo "rc $?" >> $R/conform-attention.txt; el conform; pack
timeout 60 $N/tappa-bench --op prefill --json $R/prefill.json > $R/prefill.txt 2>&1; el prefill; pack
timeout 120 python3 bench/peer.py --json $R/peer.json > $R/peer.txt 2>&1; echo "rc $?" >> $R/peer.txt; el peer; pack
timeout 60 $B/bench-main --op prefill --json $R/prefill-main.json > $R/prefill-main.txt 2>&1; el main; pack
GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536 TAPPA_VALIDATE=1 TAPPA_TEST_DEVICE=0 timeout 150 $N/tests/test_vulkan > $R/test_vulkan.txt 2>&1; echo "rc $?" >> $R/test_vulkan.txt; el tv; pack
timeout 90 $N/tappa-bench --op compress --json $R/compress.json > $R/compress.txt 2>&1; el compress; pack
timeout 40 $N/tappa-bench --op window_stats --json $R/window_stats.json > $R/window_stats.txt 2>&1; el ws; pack
