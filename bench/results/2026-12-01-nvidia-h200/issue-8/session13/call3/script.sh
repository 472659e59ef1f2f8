set -u
REAL=$OUT; R=/tmp/r13c3; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r13c3; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc13
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $R/smi.txt 2>&1
X=.devbin/bin13; C=32768,131072; ALL=1024,2048,4096,8192,16384,32768,65536,131072
TAPPA_VALIDATE=1 timeout 100 $X/Bn-tappa conform --device 0 --op attention > $R/conform-Bn.txt 2>&1; el confBn; pack
for b in Bn Bp; do TAPPA_VALIDATE=1 timeout 60 $X/$b-test_model models/tiny-llama/tiny-llama.gguf models/tiny-llama/golden.json models/tiny-llama/golden.safetensors NVIDIA > $R/test_model-$b.txt 2>&1; echo "rc $?" >> $R/test_model-$b.txt; el tm$b; done
timeout 60 $X/Bn-t264 --device 0 --op decode --batch 10 --ctx 32768 --pipeline-stats > $R/stats-Bn.txt 2>&1; el stats; pack
timeout 60 $X/Bn-t264 --device 0 --op decode --batch 10 --ctx $C > $R/warm.txt 2>&1; el warm
for round in 1 2; do
  for b in Bp-t264 Bn-t264 Bn-t396 Bn-t528; do
    CC=$C; case "$round$b" in 2Bp-t264|2Bn-t264) CC=$ALL;; esac
    timeout 80 $X/$b --device 0 --op decode --batch 10 --ctx $CC --json $R/$b-$round.json > $R/$b-$round.txt 2>&1; el $b$round
  done
  TAPPA_COOPMAT=0 timeout 60 $X/Bn-t264 --device 0 --op decode --batch 10 --ctx $C --json $R/pt-$round.json > $R/pt-$round.txt 2>&1; el pt$round
  pack
done
timeout 120 python3 -c "
import sys, json; sys.path.insert(0, 'bench'); import peer
ops = [peer.bench_copy(30)]
for n in [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]:
    ops.append(peer.bench_decode(n, 30)); print(n, ops[-1]['us'], flush=True)
import torch
json.dump({'peer': 'pytorch %s, cuda %s, sdpa backend default (decode only)' % (torch.__version__, torch.version.cuda), 'timing': 'median of 30 batches of %d back-to-back calls, CUDA events' % peer.BATCH, 'device': torch.cuda.get_device_name(), 'reps': 30, 'copy_gbps': ops[0]['gbps'], 'ops': ops}, open('$R/peer-decode.json', 'w'), indent=1)
print('copy', ops[0]['gbps'])
" > $R/peer-decode.txt 2>&1; el peer
pack
