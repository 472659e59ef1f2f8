#!/bin/sh
# The tappa command line on the CPU backend: help for every command, usage
# errors exit 2 with one line, malformed tensor files exit 1 with one line
# naming the file, and the main commands run.
tappa=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0

# expect CODE DESCRIPTION -- COMMAND...: exit code and, for errors, exactly one stderr line
expect() {
    code=$1; what=$2; shift 3
    checks=$((checks + 1))
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    lines=$(wc -l <"$tmp/err")
    if [ "$got" -ne "$code" ]; then
        echo "FAIL: $what: exit $got, expected $code"; cat "$tmp/err"; fails=$((fails + 1))
    elif [ "$code" -ne 0 ] && [ "$lines" -ne 1 ]; then
        echo "FAIL: $what: $lines lines on stderr, expected one"; cat "$tmp/err"; fails=$((fails + 1))
    fi
}
# contains FILE TEXT: the last command's FILE (out or err) contains TEXT
contains() {
    checks=$((checks + 1))
    if ! grep -q -- "$2" "$tmp/$1"; then
        echo "FAIL: expected '$2' in std$1:"; cat "$tmp/$1"; fails=$((fails + 1))
    fi
}

expect 0 "top help" -- "$tappa" --help
contains out "conform"
for cmd in info conform demo inspect attn budget qsim; do
    expect 0 "$cmd --help" -- "$tappa" "$cmd" --help
    contains out "usage: tappa $cmd"
done
expect 2 "no command" -- "$tappa"
expect 2 "unknown command" -- "$tappa" frobnicate
contains err "unknown command 'frobnicate'"
expect 2 "unknown option" -- "$tappa" info --bogus
expect 2 "missing option value" -- "$tappa" conform --seed
expect 2 "bad seed" -- "$tappa" conform --seed -3
expect 2 "unknown op" -- "$tappa" conform --op nosuchop --device cpu
expect 2 "inspect without file" -- "$tappa" inspect
expect 2 "inspect wrong suffix" -- "$tappa" inspect "$tmp/x.txt"

# Malformed tensor files: one line naming the file, exit 1.
printf 'NOTNUMPY' >"$tmp/badmagic.npy"
expect 1 "bad magic" -- "$tappa" inspect "$tmp/badmagic.npy"
contains err "badmagic.npy"
printf '\223NUMPY\001\000\166\000{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (1000, 1000), }' >"$tmp/trunc.npy"
expect 1 "truncated npy" -- "$tappa" inspect "$tmp/trunc.npy"
contains err "trunc.npy"
: >"$tmp/empty.safetensors"
expect 1 "empty safetensors" -- "$tappa" inspect "$tmp/empty.safetensors"
contains err "empty.safetensors"
printf '\377\377\377\377\377\377\377\017{}' >"$tmp/liar.safetensors"
expect 1 "header length lies" -- "$tappa" inspect "$tmp/liar.safetensors"
contains err "liar.safetensors"
expect 1 "missing file" -- "$tappa" inspect "$tmp/nope.npy"
contains err "nope.npy"

# A valid safetensors file made by hand: inspect lists it, also as JSON.
hdr='{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'
len=$(printf '%s' "$hdr" | wc -c)
printf "$(printf '\\%03o' "$len")\000\000\000\000\000\000\000" >"$tmp/ok.safetensors"
printf '%s' "$hdr" >>"$tmp/ok.safetensors"
head -c 16 /dev/zero >>"$tmp/ok.safetensors"
expect 0 "inspect ok" -- "$tappa" inspect "$tmp/ok.safetensors"
contains out "f32"
expect 0 "inspect json" -- "$tappa" inspect --json "$tmp/ok.safetensors"
contains out '"shape"'

# The CPU backend runs every command.
expect 0 "conform on cpu" -- "$tappa" conform --device cpu --no-large
contains out "0 failed"
expect 0 "conform json on cpu" -- "$tappa" conform --device cpu --no-large --op rope --json
contains out '"passed"'
expect 0 "demo on cpu" -- "$tappa" demo --device cpu --seed 7
contains out "matches\|ok"
expect 0 "demo json" -- "$tappa" demo --device cpu --seed 7 --json
contains out '"budget_share"'
expect 0 "info" -- env TAPPA_DEVICE=cpu "$tappa" info
contains out "selected: cpu"
expect 1 "named device missing" -- "$tappa" info --device no-such-gpu-xyzzy

# Budgets from preferences: the hand-computed capped case of test_budget.c.
expect 0 "budget json" -- "$tappa" budget --pref 6,1,1 --cache-size 200 --window 10 --seq-len 300 --json
contains out '{"budgets":\[290,141,139\]}'
expect 0 "budget table" -- "$tappa" budget --pref 1,1 --seq-len 5000
contains out "992"
expect 2 "budget without seq-len" -- "$tappa" budget --pref 1,1
expect 2 "budget bad pref" -- "$tappa" budget --pref 1,x --seq-len 10
expect 1 "budget all zero" -- "$tappa" budget --pref 0,0 --seq-len 5000
contains err "all preferences are 0"

# With no Vulkan driver at all, the CPU backend runs and says so in one line.
nodrv="env VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json"
expect 0 "info without a driver" -- $nodrv "$tappa" info
contains out "no Vulkan device"
expect 0 "demo without a driver" -- $nodrv "$tappa" demo --seed 3
contains err "running on the CPU reference backend"
checks=$((checks + 1))
if [ "$(wc -l <"$tmp/err")" -ne 1 ]; then echo "FAIL: fallback notice is not one line"; fails=$((fails + 1)); fi

echo "test_cli: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
