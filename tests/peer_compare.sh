#!/bin/sh
# tappa-peer on the H200 results committed in bench/results: the table and
# JSON hold every decode context, prefill length and the q-sim shape, each
# ratio is the peer's time over tappa's (recomputed here from the inputs),
# both PNGs are real PNGs; bad inputs give one line, a non-zero exit and no
# output file.
#   usage: peer_compare.sh TAPPA_PEER RESULTS_DIR
set -u
peer=$1
res=$2
dir=$(mktemp -d /tmp/tappa-peer-XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
fail() { echo "peer_compare: $*"; exit 1; }
"$peer" --tappa "$res/tappa-decode.json" --tappa "$res/tappa-prefill.json" --tappa "$res/tappa-qsim.json" \
    --portable "$res/portable-decode.json" --portable "$res/portable-prefill.json" --peer "$res/peer.json" \
    --json "$dir/compare.json" --plots "$dir" >"$dir/table.txt" || fail "tappa-peer failed"
python3 - "$res" "$dir" <<'PY' || exit 1
import json, sys
res, out = sys.argv[1:]
rows = json.load(open(out + "/compare.json"))["rows"]
tappa = [o for f in ("tappa-decode", "tappa-prefill", "tappa-qsim") for o in json.load(open(f"{res}/{f}.json"))["ops"]]
peer = json.load(open(f"{res}/peer.json"))["ops"]
kinds = [r["op"] for r in rows]
assert kinds.count("decode") == 8 and kinds.count("prefill") == 5 and kinds.count("qsim") == 1, kinds
table = open(out + "/table.txt").read()
for r in rows:
    t = next(o for o in tappa if o["case"] == r["case"] and o["dtype"] == ("f32" if r["op"] == "qsim" else "f16"))
    p = next(o for o in peer if o["case"] == r["case"])
    want = p["us"] / t["median_us"]
    assert abs(r["peer_over_tappa_time"] - want) < 1e-9 * want, (r["case"], r["peer_over_tappa_time"], want)
    assert r["tappa_path"] == t["path"], r
    assert r["case"] in table and f"{want:.2f}x" in table, r["case"]
assert any(r.get("portable_us") for r in rows if r["op"] == "prefill"), "no portable prefill times"
for png in ("decode-bandwidth.png", "prefill-tflops.png"):
    data = open(f"{out}/{png}", "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, png
print("peer_compare:", len(rows), "rows checked")
PY
# Bad inputs: one line on stderr, exit non-zero, no JSON left behind.
printf 'not json' >"$dir/bad.json"
for args in "--tappa $dir/missing.json --peer $res/peer.json" "--tappa $dir/bad.json --peer $res/peer.json" \
            "--tappa $res/tappa-decode.json --peer $dir/bad.json" "--tappa $res/peer.json --peer $res/tappa-decode.json --portable $dir/bad.json"; do
    rm -f "$dir/out.json"
    # shellcheck disable=SC2086
    if "$peer" $args --json "$dir/out.json" >/dev/null 2>"$dir/err.txt"; then fail "accepted: $args"; fi
    [ "$(wc -l <"$dir/err.txt")" -eq 1 ] || fail "not one line for: $args: $(cat "$dir/err.txt")"
    [ ! -e "$dir/out.json" ] && [ ! -e "$dir/out.json.tmp" ] || fail "left output behind: $args"
done
"$peer" --peer "$res/peer.json" >/dev/null 2>&1 && fail "ran without --tappa"
echo "peer_compare: ok"
