#!/bin/sh
# Set up tappa on a Debian/Ubuntu machine: install the Debian packages it
# needs (with sudo when not root), then configure and build ./build.
set -eu
cd "$(dirname "$0")/.."
packages="build-essential meson ninja-build pkg-config python3 libvulkan-dev libvulkan-volk-dev
 glslang-tools spirv-tools mesa-vulkan-drivers vulkan-validationlayers libcjson-dev libpcre2-dev libcairo2-dev
 chromium nodejs"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing$missing"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
fi
# The tests' independent file readers (tests/js: Hugging Face's GGUF parser).
command -v npm >/dev/null 2>&1 || {
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends npm
}
[ -d tests/js/node_modules/@huggingface/gguf ] || (cd tests/js && npm ci --no-audit --no-fund)
[ -f build/build.ninja ] || meson setup build --buildtype=release
ninja -C build
