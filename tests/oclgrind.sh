# Runs a test program under Oclgrind, which simulates an OpenCL device and
# reports out-of-bounds accesses and API misuse that PoCL runs silently.
# Oclgrind's exit code ignores those reports, so its log is read: any
# report fails the test.
#
# Not --uninitialized: CLBlast's direct GEMM stages out-of-range tile entries
# in local memory, Oclgrind marks them uninitialised and the taint flows into
# every kernel that reads a GEMM result (false reports), and its checker
# cannot simulate LLVM's 'freeze' without -cl-opt-disable (6x slower).
set -u
program=${1:?usage: $0 test-program}
log=$(mktemp /tmp/moecl-oclgrind-XXXXXX.log)
trap 'rm -f "$log"' EXIT
export MOECL_FD_SAMPLES=${MOECL_FD_SAMPLES:-8}
oclgrind --check-api --log "$log" "$program"
rc=$?
if grep -q '[a-zA-Z]' "$log"; then
    echo "Oclgrind reported problems in $(basename "$program"):"
    head -80 "$log"
    exit 1
fi
exit $rc
