#!/bin/sh
# tappa-bench --quick on the Vulkan test device: it must finish, print its
# table and write valid JSON naming every op. Times are not checked.
bench=$1
tappa=$2
. "$(dirname "$0")/require_device.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bench" --device "$device" --quick --reps 3 --json "$tmp/bench.json" || exit 1
python3 - "$tmp/bench.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
ops = {o["op"] for o in report["ops"]}
want = {"copy", "softmax", "rope", "qsim", "window_stats", "attention"}
assert want <= ops, f"missing ops: {want - ops}"
assert report["copy_gbps"] > 0
for o in report["ops"]:
    assert o["median_us"] > 0 and o["gbps"] > 0, o
print("bench_smoke: JSON has", len(report["ops"]), "timed cases")
PY
