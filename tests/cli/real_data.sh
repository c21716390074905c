# A short run on a slice of the real CIFAR-10 in ../shared/cifar10; skipped
# (exit 77) where that folder is absent.
. "$(dirname "$0")/lib.sh"
SHARED="$(cd "$TESTS_DIR/../.." && pwd)/shared/cifar10"
if [ ! -f "$SHARED/data_batch_1.bin" ]; then
    echo "real_data: $SHARED is absent: skipped"
    exit 77
fi
TINY="$TESTS_DIR/data/tiny.json"
run train --model "$TINY" --data "$SHARED" --train-examples 2000 --val 300 --test-examples 500 \
    --epochs 3 --out "$WORK/real"
expect_rc 0 "training on real data"
acc=$(printf '%s\n' "$OUT" | sed -n 's/.*test acc \([0-9.]*\)%.*/\1/p')
awk -v a="$acc" 'BEGIN { exit !(a > 13) }' && pass || fail "test accuracy $acc% is not above chance"
run eval --checkpoint "$WORK/real/best.safetensors" --data "$SHARED" --test-examples 500
expect_rc 0 "eval on real data"
expect_in "$OUT" "500 images" "evaluates 500 test images"
finish
