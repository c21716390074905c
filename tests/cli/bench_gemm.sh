# bench gemm runs and prints a row per shape with a GFLOPS figure (speed
# itself is not asserted: this is a shared machine).
. "$(dirname "$0")/lib.sh"
# One parameter set of ours forced: the measured choice between paths is
# tested in test_gemm (measuring every full-size VGG shape takes minutes).
run --gemm own1 bench gemm --max-size 128 --min-time 0.01 --json
expect_rc 0 "bench gemm"
expect_in "$OUT" '"shape": "square 128"' "square row"
expect_in "$OUT" '"shape": "conv3 32->64 fwd", "m": 64, "n": 32768, "k": 288' "VGG conv row"
expect_in "$OUT" '"path": "own' "the row names the parameter set that ran"
peak=$(printf '%s\n' "$OUT" | sed -n 's/.*"peak_gflops": \([0-9.]*\).*/\1/p' | head -1)
awk -v p="${peak:-0}" 'BEGIN { exit !(p > 0) }' && pass || fail "a positive measured peak expected, got '$peak'"
rows=$(printf '%s\n' "$OUT" | grep -c '"gflops"')
[ "$rows" -eq 19 ] && pass || fail "19 rows expected (a square, 6 convolutions x 3 products), got $rows"
run --gemm own1 bench gemm --max-size 128 --min-time 0.01 --profile
expect_rc 0 "bench gemm --profile"
expect_in "$OUT" "gemm_pack_a (own" "the profile names the packing kernel"
expect_in "$OUT" "gemm_packed (own" "the profile names the tile kernel"
expect_in "$OUT" "device multiply-add peak:" "the table starts with the device's measured peak"
run bench gemm --json --profile
expect_rc 2 "--json with --profile"
run --gemm no-such bench gemm --max-size 128
expect_rc 2 "an unknown --gemm path"
expect_in "$ERR" "unknown GEMM path 'no-such'" "the error names the path"
finish
