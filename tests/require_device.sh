# Sourced by the Vulkan test scripts: sets $device to the test device
# ($TAPPA_TEST_DEVICE, else lavapipe) and exits 77, meson's "skipped", when
# `tappa info` cannot open it, so a machine without Vulkan shows skips.
# Needs $tappa set to the tappa binary.
device=${TAPPA_TEST_DEVICE:-llvmpipe}
if ! "$tappa" info --device "$device" >/dev/null 2>&1; then
    echo "no Vulkan device '$device': skipped"
    exit 77
fi
