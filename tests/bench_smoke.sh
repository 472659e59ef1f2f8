#!/bin/sh
# tappa-bench --quick on the Vulkan test device: it must finish, print its
# table and write valid JSON naming every op. Times are not checked.
bench=$1
tappa=$2
. "$(dirname "$0")/require_device.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The test device's facts, read once: device_has FIELD prints 1 or 0.
"$tappa" info --device "$device" --json >"$tmp/info.json" || exit 1
device_has() {
    python3 -c 'import json,sys; print(int(next(d for d in json.load(open(sys.argv[1]))["devices"] if d["selected"])[sys.argv[2]]))' \
        "$tmp/info.json" "$1"
}
# refused PATTERN ARGS: tappa-bench ARGS must fail with one line matching PATTERN.
refused() {
    pattern=$1
    shift
    if "$bench" --device "$device" "$@" >/dev/null 2>"$tmp/err"; then
        echo "bench_smoke: '$*' was accepted"; exit 1
    fi
    grep -q -- "$pattern" "$tmp/err" || { echo "bench_smoke: '$*': $(cat "$tmp/err")"; exit 1; }
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || { echo "bench_smoke: '$*' error is not one line"; exit 1; }
}
"$bench" --device "$device" --quick --reps 3 --json "$tmp/bench.json" || exit 1
python3 - "$tmp/bench.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
ops = {o["op"] for o in report["ops"]}
want = {"copy", "softmax", "rope", "qsim", "window_stats", "attention", "matvec", "matvec_swiglu", "kv_append_rope"}
assert want <= ops, f"missing ops: {want - ops}"
assert report["copy_gbps"] > 0
for o in report["ops"]:
    assert o["median_us"] > 0 and o["gbps"] > 0, o
print("bench_smoke: JSON has", len(report["ops"]), "timed cases")
PY
[ $? -eq 0 ] || exit 1
# --batch: the runs of a batch timed together, named in the JSON; --op copy
# adds the shorter copies; a batch outside 1..100 is refused in one line.
"$bench" --device "$device" --quick --reps 2 --batch 3 --op copy --json "$tmp/copy.json" >/dev/null || exit 1
python3 - "$tmp/copy.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["batch"] == 3, report["batch"]
assert all(o["batch"] == 3 for o in report["ops"]), [o["batch"] for o in report["ops"]]
sizes = sorted({o["bytes"] for o in report["ops"] if o["op"] == "copy"})
assert len(sizes) >= 3 and sizes[0] == 2 * (1 << 20), sizes
assert all(o["median_us"] > 0 for o in report["ops"])
print("bench_smoke: --batch 3 --op copy timed", len(sizes), "copy sizes")
PY
[ $? -eq 0 ] || exit 1
for bad in 0 3x 101; do refused "batch needs 1..100" --batch "$bad"; done
echo "bench_smoke: --batch 0, 3x and 101 refused"
# --ctx: the decode sweep at the lengths asked for, and nothing else besides
# the copy yardstick; bad lists and --ctx without a sweep are refused in one line.
"$bench" --device "$device" --quick --reps 2 --op decode --ctx 300,1000 --json "$tmp/ctx.json" >/dev/null || exit 1
python3 - "$tmp/ctx.json" <<'PY'
import json, re, sys
report = json.load(open(sys.argv[1]))
decode = [o for o in report["ops"] if o["op"] == "attention"]
ctx = sorted({int(re.search(r"ctx=(\d+)", o["case"]).group(1)) for o in decode})
assert ctx == [300, 1000], ctx
assert {o["op"] for o in report["ops"]} == {"copy", "attention"}, {o["op"] for o in report["ops"]}
assert all(o["median_us"] > 0 for o in decode)
# Beside the sweep, a copy of each decode's bytes (f16 decode where the device has it).
dt = "f16" if any(o["dtype"] == "f16" for o in decode) else "f32"
for o in decode:
    if o["dtype"] != dt:
        continue
    n = re.search(r"ctx=(\d+)", o["case"]).group(1)
    twin = [c for c in report["ops"] if c["op"] == "copy" and c["case"].endswith("bytes of %s ctx=%s" % (dt, n))]
    assert len(twin) == 1 and abs(twin[0]["bytes"] - o["bytes"]) < 32 and twin[0]["median_us"] > 0, (o, twin)
print("bench_smoke: --op decode --ctx 300,1000 timed", len(decode), "decode cases and a copy of each", dt, "decode's bytes")
PY
[ $? -eq 0 ] || exit 1
# A decode whose bytes pass the yardstick's (quick: 64 MiB a copy): its twin
# copy is larger than the yardstick copies, which still set the copy bandwidth.
"$bench" --device "$device" --quick --reps 1 --op decode --ctx 66000 --json "$tmp/long.json" >/dev/null || exit 1
python3 - "$tmp/long.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
copies = [o for o in report["ops"] if o["op"] == "copy"]
yard = [o for o in copies if "bytes of" not in o["case"]]
twin = [o for o in copies if "bytes of" in o["case"]]
assert len(yard) == 4 and len(twin) == 1 and twin[0]["bytes"] > yard[0]["bytes"], copies
assert report["copy_gbps"] == max(o["gbps"] for o in yard), (report["copy_gbps"], copies)
print("bench_smoke: a decode copy larger than the yardstick leaves the copy bandwidth to the yardstick")
PY
[ $? -eq 0 ] || exit 1
for bad in "--op decode --ctx 0" "--op decode --ctx 5,x" "--op decode --ctx 1,2," "--op decode --ctx 2000000" \
           "--ctx 4096" "--op rope --ctx 4096"; do
    refused "--ctx needs" $bad
done
echo "bench_smoke: bad --ctx lists and --ctx without a sweep refused"
# --dtype: only that dtype's decode cases, and the copies beside them follow
# it; a dtype other than f32 or f16, or --dtype without a sweep, is refused
# in one line.
f16=$(device_has storage_16bit) || exit 1
dts="f32"
[ "$f16" = 1 ] && dts="f32 f16"
for dt in $dts; do
    "$bench" --device "$device" --quick --reps 1 --op decode --ctx 300 --dtype $dt --json "$tmp/dtype.json" >/dev/null || exit 1
    python3 - "$tmp/dtype.json" $dt <<'PY'
import json, sys
report, dt = json.load(open(sys.argv[1])), sys.argv[2]
decode = [o for o in report["ops"] if o["op"] == "attention"]
twins = [o for o in report["ops"] if o["op"] == "copy" and "bytes of" in o["case"]]
assert decode and all(o["dtype"] == dt for o in decode), [(o["dtype"], o["case"]) for o in decode]
assert len(twins) == len(decode) and all(("bytes of %s " % dt) in o["case"] for o in twins), twins
print("bench_smoke: --dtype", dt, "timed", len(decode), dt, "decode cases and their copies")
PY
    [ $? -eq 0 ] || exit 1
done
for bad in "--op decode --dtype f8" "--op decode --dtype F16" "--dtype f16" "--op rope --dtype f32"; do
    refused "--dtype needs" $bad
done
echo "bench_smoke: bad --dtype values and --dtype without a sweep refused"
# --pipeline-stats: where the driver keeps compiler statistics, every case
# that built a pipeline lists it with named values; where it does not, one
# line says so, the exit is non-zero and no JSON file is left.
has=$(device_has pipeline_statistics) || exit 1
if [ "$has" = 1 ]; then
    "$bench" --device "$device" --quick --reps 2 --op rmsnorm --pipeline-stats --json "$tmp/stats.json" >"$tmp/stats.txt" || exit 1
    grep -q "^pipeline statistics" "$tmp/stats.txt" || { echo "bench_smoke: no statistics section"; exit 1; }
    python3 - "$tmp/stats.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
built = [p for o in report["ops"] for p in o["pipelines"]]
assert built, "no case lists a pipeline"
assert all(p["statistics"] and p["spec"] for p in built), built
print("bench_smoke: --pipeline-stats listed", len(built), "pipelines with", len(built[0]["statistics"]), "statistics")
PY
    [ $? -eq 0 ] || exit 1
else
    refused "keeps no pipeline statistics" --quick --op rmsnorm --pipeline-stats --json "$tmp/stats.json"
    [ ! -e "$tmp/stats.json" ] || { echo "bench_smoke: --pipeline-stats left a JSON file"; exit 1; }
    echo "bench_smoke: --pipeline-stats refused in one line (this driver keeps no statistics)"
fi
