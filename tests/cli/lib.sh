# Helpers for the command-line tests: run moecl, keep its exit code and
# output, assert on them, and close with "N passed, N failed".
set -u
MOECL=${1:?usage: $0 path/to/moecl}
MOECL="$(cd "$(dirname "$MOECL")" && pwd)/$(basename "$MOECL")"
TESTS_DIR="$(cd "$(dirname "$0")/.." && pwd)"
TEST_NAME=$(basename "$0" .sh)
PASSED=0
FAILED=0
WORK=$(mktemp -d "/tmp/moecl-${TEST_NAME}-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export MOECL_CACHE_DIR="$WORK/cache"
# One way of running products, so that each script's fresh cache does not
# time every way of every shape of every small model it trains (minutes);
# gemm_choice.sh and the engine tests cover the measured choice.
export MOECL_GEMM=${MOECL_GEMM_CLI:-own1}

# run ARGS...: sets $RC, $OUT (stdout) and $ERR (stderr)
run() {
    "$MOECL" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
    RC=$?
    OUT=$(cat "$WORK/out")
    ERR=$(cat "$WORK/err")
}

pass() { PASSED=$((PASSED + 1)); }
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL $TEST_NAME: $*" >&2
    echo "  stdout: ${OUT:-}" | head -20 >&2
    echo "  stderr: ${ERR:-}" | head -20 >&2
}

expect_rc() { if [ "$RC" -eq "$1" ]; then pass; else fail "$2: exit code $RC, expected $1"; fi; }
expect_in() { # expect_in TEXT NEEDLE WHAT
    case "$1" in *"$2"*) pass ;; *) fail "$3: '$2' not in the output" ;; esac
}
expect_not_in() {
    case "$1" in *"$2"*) fail "$3: '$2' should not be in the output" ;; *) pass ;; esac
}

finish() {
    echo "$TEST_NAME: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
