#!/bin/sh
# The gallery of `tappa patterns` in a real browser: trace the bundled model
# on the CPU, draw the gallery, open index.html in headless Chromium, and
# require the page's own check that every picture loaded (body
# data-images="ok"), then take a screenshot of it that is a real PNG.
#   usage: gallery_browser.sh TAPPA MODEL.gguf
set -u
tappa=$1
model=$2
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "gallery_browser: no chromium (scripts/setup.sh installs it)"
    exit 1
fi
dir=$(mktemp -d /tmp/tappa-gallery-XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
"$tappa" trace -m "$model" -p "def fibonacci(n):
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)
" --device cpu -o "$dir/trace.safetensors" >/dev/null || exit 1
"$tappa" patterns "$dir/trace.safetensors" --rows 16 --device cpu --out "$dir/gallery" >"$dir/table.txt" || exit 1
grep -q "Spearman" "$dir/table.txt" || { echo "gallery_browser: no Spearman line"; exit 1; }
flags="--headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=$dir/profile"
state=$(timeout 120 "$browser" $flags --virtual-time-budget=5000 --dump-dom "file://$dir/gallery/index.html" 2>/dev/null |
        grep -o 'data-images="[a-z]*"' | head -1)
echo "gallery_browser: page says $state"
[ "$state" = 'data-images="ok"' ] || exit 1
timeout 120 "$browser" $flags --window-size=1200,1600 --screenshot="$dir/shot.png" "file://$dir/gallery/index.html" \
    >/dev/null 2>&1
[ "$(head -c 4 "$dir/shot.png" | od -An -c | tr -d ' ')" = '211PNG' ] || { echo "gallery_browser: no screenshot"; exit 1; }
echo "gallery_browser: ok"
