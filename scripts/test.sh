#!/bin/sh
# The whole test suite: every test on lavapipe (or the GPU named by
# $TAPPA_TEST_DEVICE) under the Khronos validation layer, then the CPU suite
# again built with AddressSanitizer and UBSan. Ends with 'N passed, N failed'.
set -u
cd "$(dirname "$0")/.."
status=0
meson test -C build --print-errorlogs --num-processes 2 || status=1
if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null || status=1
fi
ninja -C build-asan >/dev/null || status=1
meson test -C build-asan --setup nodriver --suite cpu --print-errorlogs || status=1
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog-nodriver.json <<'PY' || status=1
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        counts["failed"] += 1
        print(f"test.sh: no test log at {path}")
        continue
    for line in lines:
        result = json.loads(line)["result"]
        key = "passed" if result == "OK" else "skipped" if result == "SKIP" else "failed"
        counts[key] += 1
print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
sys.exit(1 if counts["failed"] or counts["passed"] == 0 else 0)
PY
exit $status
