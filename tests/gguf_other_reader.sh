#!/bin/sh
# `tappa prune` writes a GGUF that another GGUF reader loads: prune one layer
# of the bundled model on the CPU, then read both files with Hugging Face's
# parser (tests/js, installed by scripts/setup.sh) and require one block
# fewer, the last block's tensors gone, and every kept tensor with its name,
# shape and type. Then the pruned file must run in tappa.
#   usage: gguf_other_reader.sh TAPPA MODEL.gguf CALIB_TEXT
set -u
tappa=$1
model=$2
calib=$3
js=$(dirname "$0")/js
[ -d "$js/node_modules/@huggingface/gguf" ] || { echo "gguf_other_reader: run scripts/setup.sh (npm install in tests/js)"; exit 1; }
dir=$(mktemp -d /tmp/tappa-gguf-XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
head -c 6000 "$calib" >"$dir/calib.txt"
"$tappa" prune -m "$model" --calib "$dir/calib.txt" --n-layers 1 --chunk 128 --beta 0.3 --device cpu \
    -o "$dir/pruned.gguf" --order-out "$dir/order.json" >/dev/null || exit 1
node "$js/gguf_summary.mjs" "$model" >"$dir/full.json" || exit 1
node "$js/gguf_summary.mjs" "$dir/pruned.gguf" >"$dir/pruned.json" || exit 1
python3 - "$dir/full.json" "$dir/pruned.json" "$dir/order.json" <<'PY' || exit 1
import json, re, sys
full, pruned, order = (json.load(open(p)) for p in sys.argv[1:])
gone = order["prune_order"][0]
blocks = full["block_count"]
assert pruned["architecture"] == full["architecture"], "architecture changed"
assert pruned["block_count"] == blocks - 1, f"block_count {pruned['block_count']}, want {blocks - 1}"
def renumbered(name):
    m = re.match(r"blk\.(\d+)\.(.*)", name)
    if not m:
        return name
    i = int(m.group(1))
    return None if i == gone else f"blk.{i - (i > gone)}.{m.group(2)}"
want = [dict(t, name=renumbered(t["name"])) for t in full["tensors"] if renumbered(t["name"]) is not None]
got = pruned["tensors"]
assert sorted(json.dumps(t, sort_keys=True) for t in got) == sorted(json.dumps(t, sort_keys=True) for t in want), \
    "the pruned file's tensors are not the full file's minus the removed block, renumbered"
assert not any(t["name"].startswith(f"blk.{blocks - 1}.") for t in got), "the last block number is still there"
print(f"gguf_other_reader: {len(got)} of {len(full['tensors'])} tensors, block {gone} removed, "
      f"block_count {pruned['block_count']}: read by @huggingface/gguf")
PY
"$tappa" run -m "$dir/pruned.gguf" -p "def f(x):" -n 8 --device cpu >/dev/null 2>"$dir/run.err" ||
    { cat "$dir/run.err"; echo "gguf_other_reader: the pruned model does not run"; exit 1; }
echo "gguf_other_reader: ok"
