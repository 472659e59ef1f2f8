set -u
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc6
mkdir -p /tmp/ir6/ir
TAPPA_DUMP_IR=/tmp/ir6/ir timeout 100 build-rel/tappa-bench --op prefill --quick --pipeline-stats > /tmp/ir6/bench.txt 2>&1
echo "rc $?" >> /tmp/ir6/bench.txt
ls -la /tmp/ir6/ir | head -30
grep "IR query" /tmp/ir6/bench.txt | head
tar czf $OUT/ir.tgz -C /tmp ir6
