# A device index or name that matches nothing: exit code 2 and the list.
. "$(dirname "$0")/lib.sh"
export POCL_DEVICES="pthread basic"
for spec in 9 -1 no-such-device-name; do
    for cmd in kernels devices "bench gemm"; do
        run --device "$spec" $cmd
        expect_rc 2 "--device $spec $cmd"
        expect_in "$ERR" "0: " "--device $spec $cmd lists device 0"
        expect_in "$ERR" "1: " "--device $spec $cmd lists device 1"
        expect_in "$ERR" "error" "--device $spec $cmd says error"
    done
done
MOECL_DEVICE=42 run kernels
expect_rc 2 "MOECL_DEVICE=42"
expect_in "$ERR" "device index 42 does not exist" "names the bad index"
run --device
expect_rc 2 "--device without a value"
finish
