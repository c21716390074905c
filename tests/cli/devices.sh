# With POCL_DEVICES="pthread basic", PoCL shows two devices: the list shows
# both, --device 1 selects the second (its name appears), and a name
# substring and MOECL_DEVICE select too.
. "$(dirname "$0")/lib.sh"
export POCL_DEVICES="pthread basic"

run devices
expect_rc 0 "devices"
expect_in "$OUT" " 0: " "device 0 listed"
expect_in "$OUT" " 1: " "device 1 listed"
for field in "platform " "type CPU" "vendor " "driver " "OpenCL C" "compute units" "MHz" \
             "global " "local " "max work-group" "fp16 " "fp64 "; do
    expect_in "$OUT" "$field" "the list shows '$field'"
done

run devices --json
expect_rc 0 "devices --json"
count=$(printf '%s\n' "$OUT" | grep -c '"index":')
[ "$count" -eq 2 ] && pass || fail "--json lists $count devices, expected 2"
name0=$(printf '%s\n' "$OUT" | sed -n 's/.*"index": 0,.*"name": "\([^"]*\)".*/\1/p')
name1=$(printf '%s\n' "$OUT" | sed -n 's/.*"index": 1,.*"name": "\([^"]*\)".*/\1/p')
[ -n "$name0" ] && [ -n "$name1" ] && [ "$name0" != "$name1" ] && pass ||
    fail "two distinct device names: '$name0' '$name1'"

run --device 1 kernels
expect_rc 0 "--device 1 kernels"
expect_in "$ERR" "device 1: $name1" "--device 1 names the second device"

run kernels --device 0
expect_rc 0 "--device after the command"
expect_in "$ERR" "device 0: $name0" "--device 0 names the first device"

MOECL_DEVICE=1 run kernels
expect_in "$ERR" "device 1: $name1" "MOECL_DEVICE=1 selects the second device"
MOECL_DEVICE=1 run --device 0 kernels
expect_in "$ERR" "device 0: $name0" "--device overrides MOECL_DEVICE"

sub=$(printf '%s' "$name1" | cut -d- -f1 | tr 'a-z' 'A-Z')
run --device "$sub" kernels
expect_rc 0 "--device NAME"
expect_in "$ERR" "$name1" "--device $sub (upper case) selects by substring"

run --device=1 devices
expect_in "$OUT" "* 1: $name1" "the list marks the selected device"
finish
