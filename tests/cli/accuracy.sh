# scripts/accuracy.sh: trains each model for each seed with its recipe,
# records each finished run, skips recorded ones (even where their run
# directory is gone), and writes ACCURACY.md from the record: the mean,
# spread and range over seeds on all test images and on the first 1,017.
. "$(dirname "$0")/lib.sh"
accuracy_run() {
    MOECL="$MOECL" ACCURACY_OUT="$WORK/acc" ACCURACY_RECORD="$WORK/record.tsv" ACCURACY_SEEDS="${SEEDS:-1 2}" \
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
[ "$(grep -c "^tiny	" "$WORK/record.tsv")" -eq 2 ] && pass || fail "a line per run in the record: $(cat "$WORK/record.tsv")"
accuracy_run
expect_in "$OUT" "accuracy: tiny seed 2 finished earlier" "a finished run is not trained again"
[ "$(grep -c "^tiny	" "$WORK/record.tsv")" -eq 2 ] && pass || fail "recorded once: $(cat "$WORK/record.tsv")"
# the record outlives the run directories: a recorded seed is not trained
# again, and its line counts in the table with the new seed's
rm -rf "$WORK/acc"
SEEDS="1 2 3" accuracy_run
expect_rc 0 "a third seed after the run directories are gone"
expect_in "$OUT" "accuracy: tiny seed 1 finished earlier" "seed 1 is in the record"
[ ! -d "$WORK/acc/tiny-s1" ] && [ -f "$WORK/acc/tiny-s3/result.json" ] && pass || fail "only seed 3 trained"
expect_in "$(cat "$WORK/acc/ACCURACY.md")" "| tiny | 3 |" "three seeds in the table"
finish
