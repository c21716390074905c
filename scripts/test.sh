#!/usr/bin/env bash
# Sets everything up and runs the whole test suite:
#  1. installs the packages and builds with gcc, warnings as errors;
#  2. compiles everything with clang too, warnings as errors;
#  3. runs every test with CTest on PoCL;
#  4. runs them again built with AddressSanitizer, LeakSanitizer and UBSan
#     (not the Oclgrind test: a simulator under ASan adds time, not checks);
#  5. fuzzes every reader of outside bytes for a short while (scripts/fuzz.sh;
#     MOECL_FUZZ_SECONDS each, default 10; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh

CLANG=$(command -v clang || command -v clang-15 || command -v clang-14 || true)
if [ -z "$CLANG" ]; then
  echo "test: no clang found (PoCL depends on one; is pocl-opencl-icd installed?)" >&2
  exit 1
fi
echo "== clang build ($CLANG)"
CC="$CLANG" cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DMOECL_WERROR=ON >/dev/null
cmake --build build-clang -j"$(nproc)" >/dev/null

# Two PoCL devices let the tests check listing and selection.
export POCL_DEVICES="${POCL_DEVICES:-pthread basic}"

echo "== tests"
(cd build && ctest --output-on-failure "$@")

echo "== tests under AddressSanitizer and UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMOECL_SANITIZE=ON -DMOECL_WERROR=ON >/dev/null
cmake --build build-asan -j"$(nproc)" >/dev/null
# Leaks are checked by an explicit LeakSanitizer call at the end of each
# program (the at-exit check races with PoCL's exiting worker threads);
# tests/lsan.supp names the driver libraries whose allocations live forever;
# use_tls=0 because scanning PoCL threads' TLS crashes LeakSanitizer's tracer.
export ASAN_OPTIONS=detect_leaks=1:leak_check_at_exit=0
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0:use_tls=0"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
(cd build-asan && ctest --output-on-failure -LE oclgrind "$@")

FUZZ_SECONDS=${MOECL_FUZZ_SECONDS:-10}
if [ "$FUZZ_SECONDS" != 0 ]; then
  echo "== fuzzing, $FUZZ_SECONDS s a reader"
  # a new finding is reported, not a failed suite: a few seconds of random
  # search must not decide whether the tests pass; the inputs found once are
  # replayed by the suite above (tests/fuzz/corpus), and those fail it
  bash scripts/fuzz.sh "$FUZZ_SECONDS" ||
    echo "test: WARNING: the fuzzers found new failing inputs (above, in build-fuzz/crashes): fix the reader and add them to tests/fuzz/corpus"
fi
