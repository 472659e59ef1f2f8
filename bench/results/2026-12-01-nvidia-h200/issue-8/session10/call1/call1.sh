set -u
REAL=$OUT; R=/tmp/r10a; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r10a; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc10
N=build-rel
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
[ -f /tmp/l3.gguf ] || build-rel/bench/synth_model /tmp/l3.gguf > $R/synth.txt 2>&1; el synth
TAPPA_VALIDATE=1 TAPPA_PREFETCH=16,8,24,16,12 timeout 60 $N/tappa run -m /tmp/l3.gguf -p "hello world" -n 16 --device 0 > $R/validate.txt 2>&1; echo "rc $?" >> $R/validate.txt; el validate; pack
for round in 1 2; do
  for v in off o32 a b c; do
    case $v in off) P=;; o32) P=0,0,32,0,0;; a) P=16,8,24,16,12;; b) P=24,12,22,24,16;; c) P=8,4,16,8,8;; esac
    if [ -z "$P" ]; then timeout 60 $N/tappa run -m /tmp/l3.gguf -p "hello world" -n 256 --device 0 --profile > $R/profile-$v-$round.txt 2>&1
    else TAPPA_PREFETCH=$P timeout 60 $N/tappa run -m /tmp/l3.gguf -p "hello world" -n 256 --device 0 --profile > $R/profile-$v-$round.txt 2>&1; fi
    el $v$round
  done; pack
done
