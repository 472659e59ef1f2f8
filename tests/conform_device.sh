#!/bin/sh
# Run `tappa conform --op OP` (or `tappa demo` when OP is demo) on the Vulkan
# test device: $TAPPA_TEST_DEVICE, else lavapipe (llvmpipe). Exit 77, meson's
# "skipped", when that device does not exist, so a machine without Vulkan
# shows skips, never passes.
tappa=$1
op=$2
device=${TAPPA_TEST_DEVICE:-llvmpipe}
if ! "$tappa" info --device "$device" >/dev/null 2>&1; then
    echo "no Vulkan device '$device': skipped"
    exit 77
fi
if [ "$op" = demo ]; then
    exec "$tappa" demo --device "$device"
fi
exec "$tappa" conform --device "$device" --op "$op"
