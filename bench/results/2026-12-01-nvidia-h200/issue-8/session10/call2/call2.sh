set -u
REAL=$OUT; R=/tmp/r10b; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r10b; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc10b
N=build-rel
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
[ -f /tmp/l3.gguf ] || build-rel/bench/synth_model /tmp/l3.gguf > $R/synth.txt 2>&1; el synth
TAPPA_VALIDATE=1 TAPPA_PREFETCH=5,4,12,5,3 TAPPA_PREFETCH_WG=32 timeout 60 $N/tappa run -m /tmp/l3.gguf -p "hello world" -n 16 --device 0 > $R/validate.txt 2>&1; echo "rc $?" >> $R/validate.txt; el validate; pack
for round in 1 2; do
  for v in off w32 w64 w16 att; do
    case $v in off) P=0,0,0,0,0; W=1;; w32) P=5,4,12,5,3; W=32;; w64) P=10,8,24,10,6; W=64;; w16) P=3,2,6,3,2; W=16;; att) P=0,0,16,0,0; W=132;; esac
    TAPPA_PREFETCH=$P TAPPA_PREFETCH_WG=$W timeout 60 $N/tappa run -m /tmp/l3.gguf -p "hello world" -n 256 --device 0 --profile > $R/profile-$v-$round.txt 2>&1
    el $v$round
  done; pack
done
