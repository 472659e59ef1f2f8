set -u
REAL=$OUT; R=/tmp/r13c4; mkdir -p $R
pack() { tar czf $REAL/res.tgz -C /tmp r13c4; }
for f in .gl/*.deb; do dpkg -x $f / >/dev/null; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=$PWD/build-rel/lib XDG_CACHE_HOME=/tmp/tc13
t0=$(date +%s); el() { echo "$1 at $(( $(date +%s) - t0 )) s" >> $R/timeline.txt; }
ALL=1024,2048,4096,8192,16384,32768,65536,131072
TAPPA_VALIDATE=1 timeout 60 build-rel/tappa conform --device 0 --op attention > $R/conform-attention.txt 2>&1; el conform
TAPPA_VALIDATE=1 timeout 30 build-rel/tests/test_model models/tiny-llama/tiny-llama.gguf models/tiny-llama/golden.json models/tiny-llama/golden.safetensors NVIDIA > $R/test_model.txt 2>&1; echo "rc $?" >> $R/test_model.txt; el tm; pack
timeout 40 build-rel/tappa-bench --device 0 --op decode --batch 10 --ctx 32768,131072 > $R/warm.txt 2>&1; el warm
for r in 1 2; do timeout 60 build-rel/tappa-bench --device 0 --op decode --batch 10 --ctx $ALL --json $R/d-$r.json > $R/d-$r.txt 2>&1; el d$r; pack; done
timeout 40 python3 -c "
import sys, json; sys.path.insert(0, 'bench'); import peer
ops = [peer.bench_copy(30)]
for n in [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]:
    ops.append(peer.bench_decode(n, 30)); print(n, ops[-1]['us'], flush=True)
import torch
json.dump({'peer': 'pytorch %s, cuda %s, sdpa backend default (decode only)' % (torch.__version__, torch.version.cuda), 'timing': 'median of 30 batches of %d back-to-back calls, CUDA events' % peer.BATCH, 'device': torch.cuda.get_device_name(), 'reps': 30, 'copy_gbps': ops[0]['gbps'], 'ops': ops}, open('$R/peer-decode.json', 'w'), indent=1)
print('copy', ops[0]['gbps'])
" > $R/peer-decode.txt 2>&1; el peer; pack
