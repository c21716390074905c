# --ema D: validation, test and the checkpoints use a moving average of the
# weights (ema = D ema + (1 - D) w after every step). A decay near 0 gives
# the plain run's losses; 0.9 gives others; a run killed after an epoch's
# state and resumed ends where the uninterrupted run ends (the averages are
# part of the state).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare.sh"
TINY="$TESTS_DIR/data/tiny_conv.json"
train() { # train OUT [options]
    local out=$1
    shift
    run train --model "$TINY" --synthetic 480 --epochs 4 --patience 0 --batch 32 --out "$out" "$@"
}
train "$WORK/plain"
expect_rc 0 "plain"
train "$WORK/tiny-decay" --ema 0.000001
expect_rc 0 "--ema 0.000001"
TOL=1e-4
msg=$(compare_metrics "$WORK/plain/metrics.jsonl" "$WORK/tiny-decay/metrics.jsonl") && pass ||
    fail "a decay near 0 should give the plain run's losses: $msg"
echo "--ema 0.000001 against plain: $msg"
train "$WORK/ema" --ema 0.9
expect_rc 0 "--ema 0.9"
grep -qE '"ema":[[:space:]]*0\.(9|8999)' "$WORK/ema/options.json" && pass || fail "options.json keeps it"
vals() { grep -o '"val_loss": [0-9.e-]*' "$1" | sed 's/.*: //'; }
differ=$(paste <(vals "$WORK/plain/metrics.jsonl") <(vals "$WORK/ema/metrics.jsonl") |
    awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-3 * $1) n++ } END { print n + 0 }')
[ "$differ" -gt 0 ] && pass || fail "the averaged weights should give other validation losses"
# killed after the second epoch's state, before its checkpoints; resumed
MOECL_TEST_KILL=epoch-end:state@2 train "$WORK/killed" --ema 0.9
[ "$RC" -ne 0 ] && pass || fail "the kill point was reached"
run train --resume "$WORK/killed"
expect_rc 0 "resumed"
msg=$(compare_metrics "$WORK/ema/metrics.jsonl" "$WORK/killed/metrics.jsonl") && pass ||
    fail "killed and resumed against uninterrupted, with --ema: $msg"
echo "--ema 0.9 killed and resumed against uninterrupted: $msg"
run eval --checkpoint "$WORK/ema/last.safetensors" --synthetic --json
e1=$OUT
run eval --checkpoint "$WORK/killed/last.safetensors" --synthetic --json
msg=$(compare_numbers "$e1" "$OUT") && pass || fail "the last checkpoints differ: $msg"
run train --model "$TINY" --ema 1 --synthetic 64
expect_rc 2 "--ema 1"
finish
