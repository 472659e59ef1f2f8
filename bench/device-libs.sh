#!/bin/sh
# Copy into BUILD_DIR/lib the shared libraries that tappa's programs need and
# a bare GPU machine lacks (it has the C library and little else): everything
# ldd resolves for them except glibc's own libraries and the Vulkan loader,
# which comes from the carried .debs. run-on-device.sh puts BUILD_DIR/lib on
# LD_LIBRARY_PATH.
#   usage: bench/device-libs.sh BUILD_DIR
set -eu
build=${1:?usage: bench/device-libs.sh BUILD_DIR}
mkdir -p "$build/lib"
for exe in "$build/tappa" "$build/tappa-bench" "$build/tappa-peer" "$build/tests/test_vulkan" "$build/tests/test_model"; do
    [ -x "$exe" ] || continue
    ldd "$exe" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libvulkan.so*) ;;
        *) cp -L "$lib" "$build/lib/" ;;
    esac
done
du -sh "$build/lib"
