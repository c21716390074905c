# bench gemm runs and prints a row per shape with a GFLOPS figure (speed
# itself is not asserted: this is a shared machine).
. "$(dirname "$0")/lib.sh"
run bench gemm --max-size 128 --min-time 0.01 --json
expect_rc 0 "bench gemm"
expect_in "$OUT" '"shape": "square 128"' "square row"
expect_in "$OUT" '"shape": "conv3 32->64 fwd", "m": 64, "n": 32768, "k": 288' "VGG conv row"
rows=$(printf '%s\n' "$OUT" | grep -c '"gflops"')
[ "$rows" -eq 13 ] && pass || fail "13 rows expected, got $rows"
finish
