# Label smoothing (--label-smoothing 0.2): training's targets become
# 0.8 onehot + 0.02, so the training loss can never fall below their
# entropy (0.867 nats for 10 classes), while the plain run's falls far below
# it; validation scores the plain loss, so it may. Heads with a loss of their
# own (soft, hierarchical) refuse it, saying why, before any run directory.
. "$(dirname "$0")/lib.sh"
TINY="$TESTS_DIR/data/tiny_conv.json"
column() { grep -o "\"$1\": [0-9.e-]*" "$2" | sed 's/.*: //'; }
for ls in 0 0.2; do
    run train --model "$TINY" --synthetic 480 --epochs 6 --patience 0 --batch 32 \
        --label-smoothing "$ls" --out "$WORK/run-$ls"
    expect_rc 0 "6 epochs with --label-smoothing $ls"
done
floor=0.8670 # -(0.82 ln 0.82 + 9 x 0.02 ln 0.02)
low=$(column train_loss "$WORK/run-0.2/metrics.jsonl" | awk -v f=$floor '$1 < f' | wc -l)
[ "$low" -eq 0 ] && pass || fail "a smoothed training loss under the targets' entropy $floor"
last_plain=$(column train_loss "$WORK/run-0/metrics.jsonl" | tail -1)
awk -v x="$last_plain" -v f=$floor 'BEGIN { exit !(x < f) }' && pass ||
    fail "the plain run's training loss ($last_plain) should fall under $floor"
last_val=$(column val_loss "$WORK/run-0.2/metrics.jsonl" | tail -1)
awk -v x="$last_val" -v f=$floor 'BEGIN { exit !(x < f) }' && pass ||
    fail "validation scores the plain loss: $last_val should fall under $floor"
grep -qE '"label_smoothing":[[:space:]]*0\.2' "$WORK/run-0.2/options.json" && pass || fail "options.json keeps it"

run train --model flat --synthetic 64 --epochs 1 --label-smoothing 0.2 --out "$WORK/flat"
expect_rc 2 "a soft mixture with --label-smoothing"
expect_in "$ERR" "has a loss of its own" "says why"
[ ! -e "$WORK/flat" ] && pass || fail "no run directory made"
run train --model "$TINY" --label-smoothing 1 --synthetic 64
expect_rc 2 "--label-smoothing 1"
finish
