# bench conv times the three passes of each vgg convolution through the way
# the layer chooses, and names the kernel that did the work (speed itself is
# not asserted: this is a shared machine).
. "$(dirname "$0")/lib.sh"
MOECL_CONV=direct run --gemm own1 bench conv --batch 2 --reps 1
expect_rc 0 "bench conv"
for pass in forward "weight gradient" "input gradient"; do
    rows=$(printf "%s\n" "$OUT" | grep -c "  $pass  ")
    [ "$rows" -eq 6 ] && pass || fail "6 '$pass' rows expected, got $rows"
done
expect_in "$OUT" "conv_direct_forward (own" "the forward pass ran the direct kernel"
expect_in "$OUT" "conv_direct_weight_grad (own" "the weight gradient ran the direct kernel"
MOECL_CONV=im2col run --gemm own1 bench conv --batch 2 --reps 1
expect_rc 0 "bench conv through im2col"
expect_in "$OUT" "gemm_packed (own" "im2col: the tile kernel did the work"
run bench conv --batch 0
expect_rc 2 "--batch 0"
finish
