# moecl train --weights (start from a checkpoint) and --start-stage (retrain
# a staged model from one stage on, the earlier stages' parts taken from the
# checkpoint), and their bad input.
. "$(dirname "$0")/lib.sh"
HIER="$TESTS_DIR/data/hier_tiny.json"
TINY="$TESTS_DIR/data/tiny.json"
# metrics.jsonl lines of one stage without their timings
stage_metrics() { grep "\"stage\": \"$2\"" "$1/metrics.jsonl" | sed 's/"seconds": [^,]*,//; s/"images_per_second": [^,]*,//'; }

run train --model "$HIER" --synthetic 1200 --batch 32 --out "$WORK/full"
expect_rc 0 "a staged run to start from"

# the sub-gate stage again, the earlier parts from the first run's weights:
# the same stage as in the first run, epoch by epoch
run train --weights "$WORK/full/best.safetensors" --start-stage subgates --synthetic 1200 --batch 32 \
    --out "$WORK/subgates"
expect_rc 0 "retrain from the sub-gate stage"
expect_in "$ERR" "weights from $WORK/full/best.safetensors: 16 of the model's 24 tensors; the parts this run trains start fresh" \
    "the frozen parts come from the checkpoint, the sub-gates start fresh"
expect_in "$ERR" "model hier_tiny:" "without --model, the checkpoint's own model"
expect_not_in "$ERR" "stage 1/5 baseline" "the earlier stages do not train"
expect_in "$OUT" "stage baseline             from $WORK/full/best.safetensors: test acc" \
    "the earlier stages are reported as taken from the checkpoint"
a=$(stage_metrics "$WORK/full" subgates)
b=$(stage_metrics "$WORK/subgates" subgates)
[ -n "$a" ] && [ "$a" = "$b" ] && pass || fail "the retrained sub-gate stage differs from the first run's:
$a
---
$b"
lines=$(wc -l <"$WORK/subgates/metrics.jsonl")
[ "$lines" -eq "$(printf '%s\n' "$b" | wc -l)" ] && pass || fail "metrics.jsonl holds other stages' epochs"
expect_in "$(cat "$WORK/subgates/result.json")" '"from_weights":	true' "result.json marks the stages taken"
expect_in "$(cat "$WORK/subgates/options.json")" '"start_stage":	"subgates"' "options.json keeps the start stage"
run report "$WORK/subgates"
expect_rc 0 "report on a run started from weights"
expect_in "$OUT" "from --weights, not trained in this run" "report says which stages were not trained"
taken_line=$(printf '%s\n' "$OUT" | grep "stage baseline")
expect_not_in "$taken_line" "0.00%" "a stage taken from --weights shows no validation of its own"
expect_not_in "$taken_line" "0 epochs" "a stage taken from --weights shows no epochs of its own"

# a warm start: every tensor taken, training goes on from there
run train --model "$TINY" --synthetic 300 --epochs 2 --batch 32 --out "$WORK/tiny"
expect_rc 0 "a plain run to start from"
run train --model "$TINY" --weights "$WORK/tiny/best.safetensors" --synthetic 300 --epochs 1 --batch 32 \
    --out "$WORK/warm"
expect_rc 0 "a warm start"
expect_in "$ERR" "of the model's" "the warm start says what it took"
expect_not_in "$ERR" "start fresh" "every tensor of the same model is taken"

# bad input: clear errors, nothing overwritten
run train --model "$HIER" --start-stage subgates --synthetic 1200 --batch 32 --out "$WORK/bad1"
expect_rc 2 "--start-stage without --weights"
expect_in "$ERR" "--start-stage subgates needs --weights" "the error says what is missing"
run train --weights "$WORK/full/best.safetensors" --start-stage nosuch --synthetic 1200 --out "$WORK/bad2"
expect_rc 2 "an unknown stage"
expect_in "$ERR" "its stages: baseline, gate, expert_artificial, expert_natural, subgates" "the error lists the stages"
run train --model "$TINY" --weights "$WORK/tiny/best.safetensors" --start-stage gate --synthetic 300 --out "$WORK/bad3"
expect_rc 2 "--start-stage on a model without stages"
expect_in "$ERR" "has no stages" "the error says the model has no stages"
run train --model "$HIER" --weights "$WORK/tiny/best.safetensors" --start-stage subgates --synthetic 1200 \
    --out "$WORK/bad4"
expect_rc 2 "weights of another model"
expect_in "$ERR" "does not hold tensor" "the error names a missing tensor"
expect_in "$ERR" "$WORK/tiny/best.safetensors" "the error names the file"
sum=$(md5sum <"$WORK/full/best.safetensors")
run train --weights "$WORK/full/best.safetensors" --start-stage subgates --synthetic 1200 --out "$WORK/full"
expect_rc 2 "weights inside the run directory they would be overwritten in"
expect_in "$ERR" "which this run would overwrite" "the error says why"
[ "$(md5sum <"$WORK/full/best.safetensors")" = "$sum" ] && pass || fail "the checkpoint was changed"
printf 'not a checkpoint' >"$WORK/junk.safetensors"
run train --weights "$WORK/junk.safetensors" --synthetic 300 --out "$WORK/bad5"
expect_rc 2 "a corrupt checkpoint as --weights"
expect_in "$ERR" "junk.safetensors" "the error names the file"

finish
