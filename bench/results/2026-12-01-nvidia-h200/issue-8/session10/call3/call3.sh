set -u
REAL=$OUT; R=/tmp/r10c; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r10c; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc10b
N=build-rel
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
[ -f /tmp/l3.gguf ] || build-rel/bench/synth_model /tmp/l3.gguf > $R/synth.txt 2>&1; el synth
for round in 1 2; do
  for v in off a16 a24 a32 f24 f32; do
    case $v in off) P=0,0,0,0,0; W=1;; a16) P=0,0,16,0,0; W=132;; a24) P=0,0,24,0,0; W=132;; a32) P=0,0,32,0,0; W=132;; f24) P=0,0,24,0,0; W=65535;; f32) P=0,0,32,0,0; W=65535;; esac
    TAPPA_PREFETCH=$P TAPPA_PREFETCH_WG=$W timeout 60 $N/tappa run -m /tmp/l3.gguf -p "hello world" -n 256 --device 0 --profile > $R/profile-$v-$round.txt 2>&1
    el $v$round
  done; pack
done
