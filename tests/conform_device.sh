#!/bin/sh
# Run `tappa conform --op OP` (or `tappa demo` when OP is demo) on the Vulkan
# test device: $TAPPA_TEST_DEVICE, else lavapipe (llvmpipe). Exit 77, meson's
# "skipped", when that device does not exist, so a machine without Vulkan
# shows skips, never passes.
tappa=$1
op=$2
. "$(dirname "$0")/require_device.sh"
if [ "$op" = demo ]; then
    exec "$tappa" demo --device "$device"
fi
exec "$tappa" conform --device "$device" --op "$op"
