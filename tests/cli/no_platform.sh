# No OpenCL platform installed (an empty ICD list): a clear message saying
# how to install one, exit code 1, no crash.
. "$(dirname "$0")/lib.sh"
mkdir -p "$WORK/empty-vendors"
export OCL_ICD_VENDORS="$WORK/empty-vendors"
for cmd in devices kernels "bench gemm"; do
    run $cmd
    expect_rc 1 "$cmd without a platform"
    expect_in "$ERR" "no OpenCL platform" "$cmd says there is no platform"
    expect_in "$ERR" "pocl-opencl-icd" "$cmd says how to install PoCL"
done
finish
