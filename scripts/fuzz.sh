#!/usr/bin/env bash
# Fuzzes every reader of bytes from outside (tests/fuzz/fuzz_*.c: model
# files, safetensors, CIFAR-10 batches, PNG, metrics.jsonl, result.json,
# options.json, GEMM tuning files, the kernel cache, the choices file) with
# clang's libFuzzer under AddressSanitizer and UBSan, SECONDS each (default
# 60), starting from tests/fuzz/corpus. Usage:
#   bash scripts/fuzz.sh [SECONDS] [READER...]
# The readers' own messages are silenced (-close_fd_mask=3; sanitizer reports
# still show). What a run finds is left in build-fuzz/: the grown corpus in corpus/READER,
# crashing inputs in crashes/. Fix the reader, then copy the input into
# tests/fuzz/corpus/READER/ so that the test suite replays it for good.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
bash scripts/setup.sh >/dev/null
CLANG=$(command -v clang || command -v clang-14)
readers=("$@")
if [ ${#readers[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do
    r=$(basename "$f" .c)
    r=${r#fuzz_}
    case $r in main | util) ;; *) readers+=("$r") ;; esac
  done
fi
CC="$CLANG" cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DMOECL_FUZZ=ON -DMOECL_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${readers[@]/#/fuzz_}" >/dev/null
mkdir -p build-fuzz/crashes
failed=()
for r in "${readers[@]}"; do
  mkdir -p "build-fuzz/corpus/$r"
  log="build-fuzz/fuzz-$r.log"
  set +e
  "build-fuzz/tests/fuzz_$r" -max_total_time="$SECS" -print_final_stats=1 -close_fd_mask=3 \
    -artifact_prefix="build-fuzz/crashes/$r-" "build-fuzz/corpus/$r" "tests/fuzz/corpus/$r" \
    >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n "s/^stat::number_of_executed_units: *//p" "$log" | tail -1 || true)
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1 || true)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $r: ${runs:-?} runs in ${SECS} s, ${cov:-cov: ?}, nothing found"
  else
    echo "fuzz: $r: FOUND a failure (exit $rc) after ${runs:-?} runs; see $log and build-fuzz/crashes/"
    grep -m3 -E "ERROR|SUMMARY|runtime error" "$log" || true
    failed+=("$r")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failures in: ${failed[*]}"; exit 1; }
