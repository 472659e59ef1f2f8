set -u
REAL=$OUT; R=/tmp/res4; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp res4; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc4
N=build-rel
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
echo fa61acb > $R/commit.txt
TAPPA_VALIDATE=1 timeout 60 $N/tappa conform --device 0 --op attention > $R/conform-attention.txt 2>&1; echo "rc $?" >> $R/conform-attention.txt; el conform; pack
GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536 TAPPA_VALIDATE=1 TAPPA_TEST_DEVICE=0 timeout 150 $N/tests/test_vulkan > $R/test_vulkan.txt 2>&1; echo "rc $?" >> $R/test_vulkan.txt; el tv; pack
