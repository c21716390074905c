# scripts/accuracy.sh: trains each model for each seed with its recipe,
# skips finished runs, and writes ACCURACY.md with the mean, spread and
# range over seeds on all test images and on the first 1,017.
. "$(dirname "$0")/lib.sh"
accuracy_run() {
    MOECL="$MOECL" ACCURACY_OUT="$WORK/acc" ACCURACY_SEEDS="1 2" \
        ACCURACY_ARGS="--synthetic 200 --epochs 1 --batch 50 --patience 0 --tta translate" \
        ACCURACY_EVAL_ARGS="--synthetic" \
        bash "$TESTS_DIR/../scripts/accuracy.sh" "$TESTS_DIR/data/tiny.json" >"$WORK/out" 2>"$WORK/err" </dev/null
    RC=$?; OUT=$(cat "$WORK/out"); ERR=$(cat "$WORK/err")
}
accuracy_run
expect_rc 0 "scripts/accuracy.sh on one model, two seeds"
[ -f "$WORK/acc/tiny-s1/result.json" ] && [ -f "$WORK/acc/tiny-s2/result.json" ] && pass || fail "a run per seed"
row=$(grep "^| tiny | 2 |" "$WORK/acc/ACCURACY.md")
[ -n "$row" ] && pass || fail "ACCURACY.md has the row of two seeds: $(cat "$WORK/acc/ACCURACY.md")"
# the mean of the two runs' test accuracy is the table's
a1=$(grep -oE '"test_accuracy":[[:space:]]*[0-9.]+' "$WORK/acc/tiny-s1/result.json" | sed 's/.*:[[:space:]]*//')
a2=$(grep -oE '"test_accuracy":[[:space:]]*[0-9.]+' "$WORK/acc/tiny-s2/result.json" | sed 's/.*:[[:space:]]*//')
want=$(awk -v a="$a1" -v b="$a2" 'BEGIN { printf "%.2f", 50 * (a + b) }')
expect_in "$row" "| tiny | 2 | $want |" "the mean over seeds ($a1, $a2)"
accuracy_run
expect_in "$OUT" "accuracy: tiny seed 2 finished earlier" "a finished run is not trained again"
finish
