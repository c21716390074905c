# moecl train and eval from the command line on synthetic data: outputs,
# metrics, checkpoints, eval, and bad input (model files, checkpoints,
# data files, divergence, a failed download), and Ctrl-C with --resume.
. "$(dirname "$0")/lib.sh"
TINY="$TESTS_DIR/data/tiny.json"
RUN="$WORK/run"

run train --model "$TINY" --synthetic 300 --epochs 2 --batch 32 --out "$RUN"
expect_rc 0 "train on synthetic data"
expect_in "$OUT" "test acc" "a summary line with the test accuracy"
expect_in "$ERR" "epoch 2/2" "a summary line per epoch"
lines=$(wc -l <"$RUN/metrics.jsonl")
[ "$lines" -eq 2 ] && pass || fail "metrics.jsonl has $lines lines, expected 2"
expect_in "$(head -1 "$RUN/metrics.jsonl")" '"val_accuracy"' "metrics hold validation accuracy"

run eval --checkpoint "$RUN/best.safetensors" --synthetic
expect_rc 0 "eval"
expect_in "$OUT" "test accuracy" "eval prints the accuracy"
expect_in "$OUT" "confusion matrix" "eval prints the confusion matrix"
expect_in "$OUT" "automobile" "per-class lines"
run eval --checkpoint "$RUN/best.safetensors" --synthetic --json
expect_in "$OUT" '"confusion": [[' "eval --json"

# DenseMoE layers train and their checkpoints evaluate
run train --model "$TESTS_DIR/data/dense_moe.json" --synthetic 600 --epochs 3 --batch 32 --out "$WORK/moe"
expect_rc 0 "train a model with DenseMoE layers"
acc=$(printf '%s\n' "$OUT" | sed -n 's/.*test acc \([0-9.]*\)%.*/\1/p')
awk -v a="$acc" 'BEGIN { exit !(a > 50) }' && pass || fail "DenseMoE model test accuracy $acc%"
run eval --checkpoint "$WORK/moe/best.safetensors" --synthetic
expect_rc 0 "eval a DenseMoE checkpoint"
# the first DenseMoE layer's gate is the model's: counted, drawn, per image
expect_in "$OUT" "expert_4" "eval counts the DenseMoE layer's 4 experts"
shares=$(printf '%s\n' "$OUT" | awk '/^expert_[0-9]/ { s += $2 } END { print s }')
awk -v s="$shares" 'BEGIN { exit !(s > 99.5 && s < 100.5) }' && pass || fail "the experts' shares add to $shares%"
run gates --checkpoint "$WORK/moe/best.safetensors" --synthetic 60 --out "$WORK/moe-gates.png"
expect_rc 0 "gates on a DenseMoE layer's gate"
expect_in "$OUT" "expert_1" "a band per expert of the layer"
run predict --checkpoint "$WORK/moe/best.safetensors" --json "$WORK/moe/curves.png"
sum=$(printf '%s\n' "$OUT" | sed -n 's/.*"gates": {\([^}]*\)}.*/\1/p' | tr ',' '\n' | awk -F': ' '{ s += $2 } END { print s }')
awk -v s="$sum" 'BEGIN { exit !(s > 0.999 && s < 1.001) }' && pass || fail "the softmax gate's weights add to $sum"
run train --model "$TESTS_DIR/data/dense_moe.json" --synthetic 100 --val 0 --epochs 1 --batch 25 --out "$WORK/moe-noval"
expect_in "$OUT$ERR" "routing on the training batches: expert_1" "the layer's routing counted on the training batches"

# without --model: the default preset (apps/cli.h), trained with its recipe
# (no validation images, so its DenseMoE gate is counted on the training batches)
run train --synthetic 64 --epochs 1 --batch 32 --out "$WORK/default"
expect_rc 0 "train without --model"
expect_in "$OUT$ERR" "training airbench_moe_balanced" "the default model is airbench_moe_balanced"
expect_in "$OUT$ERR" "routing on the training batches: expert_1" "the default model's gate is counted"

# the flat soft-MoE preset: parts, a gate on the image, a mixture head
run info --model flat
expect_rc 0 "info on the flat MoE"
expect_in "$OUT" "soft mixture of 3 experts" "info shows the mixture head"
expect_in "$OUT" "gate.dense_5" "info shows part-qualified layers"
expect_in "$OUT" "weighted by gate gate, importance loss 0.1" "the flat preset has an importance loss"
expect_in "$OUT" "importance loss 0.1
input" "the preset's whole description is printed"
sed 's/"importance_loss": 0.1}/"importance_loss": 0.25}/' \
    "$TESTS_DIR/../assets/models/flat.json" >"$WORK/flat_importance.json"
run info --model "$WORK/flat_importance.json"
expect_in "$OUT" "weighted by gate gate, importance loss 0.25" "info shows a soft mixture's importance loss"
run train --model flat --synthetic 300 --epochs 1 --batch 32 --out "$WORK/flat"
expect_rc 0 "train the flat MoE"
run eval --checkpoint "$WORK/flat/best.safetensors" --synthetic
expect_rc 0 "eval a flat MoE checkpoint"
expect_in "$OUT" "routing (images by dominant expert" "eval shows the routing table"
expect_in "$(cat "$WORK/flat/metrics.jsonl")" '"expert_share": [' "metrics hold the expert shares"

# the convmoe preset: Conv2DMoE and DenseMoE layers
run info --model convmoe
expect_rc 0 "info on convmoe"
expect_in "$OUT" "conv2d_moe" "convmoe has Conv2DMoE layers"
run train --model convmoe --synthetic 200 --epochs 1 --batch 25 --out "$WORK/convmoe"
expect_rc 0 "train convmoe"

# the hierarchical MoE, staged: baseline, gate (binary), experts on their
# classes, then the sub-gates through the head
run train --model "$TESTS_DIR/data/hier_tiny.json" --synthetic 1200 --batch 32 --out "$WORK/hier"
expect_rc 0 "staged training of a hierarchical MoE"
for stage in baseline gate expert_artificial expert_natural subgates; do
    expect_in "$OUT" "stage $stage" "a result line for stage $stage"
done
expect_in "$OUT" "(2-way)" "the gate's task is binary"
expect_in "$OUT" "(4-way)" "the artificial expert's task has its 4 classes"
expect_in "$(cat "$WORK/hier/metrics.jsonl")" '"stage": "expert_natural"' "metrics name the stage"
expect_in "$ERR" "subgates: the frozen baseline, gate and experts run once on the 1200 training images and the 120 validation images;" \
    "the sub-gate stage keeps the frozen parts' outputs for training and validation"
run train --model "$TESTS_DIR/data/hier_tiny.json" --synthetic 1200 --batch 32 --no-frozen-cache \
    --out "$WORK/hier_nocache"
expect_rc 0 "staged training with --no-frozen-cache"
expect_not_in "$ERR" "run once on" "--no-frozen-cache runs the frozen parts every step"
expect_in "$(cat "$WORK/hier_nocache/options.json")" '"frozen_cache":	false' "options.json keeps --no-frozen-cache"
# the same data, weights and stages: the sub-gates end near where they end with the table
acc_table=$(tail -1 "$WORK/hier/metrics.jsonl" | sed 's/.*"val_accuracy": \([0-9.]*\).*/\1/')
acc_run=$(tail -1 "$WORK/hier_nocache/metrics.jsonl" | sed 's/.*"val_accuracy": \([0-9.]*\).*/\1/')
awk -v a="$acc_table" -v b="$acc_run" 'BEGIN { d = a - b; exit !(d < 0.02 && d > -0.02) }' &&
    pass || fail "sub-gate stage: val accuracy $acc_table with the table, $acc_run without"
run eval --checkpoint "$WORK/hier/best.safetensors" --synthetic
expect_rc 0 "eval a hierarchical checkpoint"
expect_in "$OUT" "gate accuracy" "eval reports the gate's accuracy"
expect_in "$OUT" "expert_natural" "eval reports each part"
expect_in "$OUT" "(on its classes)" "experts are measured on their own classes"
# its mixture is kept unnormalised on the device: what is read out is probabilities
run predict --checkpoint "$WORK/hier/best.safetensors" --json "$WORK/hier/curves.png"
sum=$(printf '%s\n' "$OUT" | sed -n 's/.*"probabilities": {\([^}]*\)}.*/\1/p' | tr ',' '\n' | awk -F': ' '{ s += $2 } END { print s }')
awk -v s="$sum" 'BEGIN { exit !(s > 0.999 && s < 1.001) }' && pass || fail "a hierarchical MoE's class probabilities add to $sum"
# TTA averages probabilities with the plain view weighted 1/4 at least, so each
# image's loss grows by at most log 4 = 1.386
loss_of() { printf '%s\n' "$1" | sed -n 's/.*test accuracy.*loss \([0-9.]*\).*/\1/p'; }
run eval --checkpoint "$WORK/hier/best.safetensors" --synthetic --tta none
plain=$(loss_of "$OUT")
run eval --checkpoint "$WORK/hier/best.safetensors" --synthetic --tta translate
expect_rc 0 "eval a hierarchical checkpoint with translation TTA"
tta=$(loss_of "$OUT")
awk -v a="$plain" -v b="$tta" 'BEGIN { exit !(a != "" && b != "" && b <= a + 1.386) }' &&
    pass || fail "TTA loss $tta against the plain $plain"
run eval --checkpoint "$WORK/hier/best.safetensors" --synthetic --json
expect_in "$OUT" '"parts": [{"part": "baseline"' "eval --json lists the parts"
# interrupted in stage 3, resumed: the earlier stages are reported, not retrained
"$MOECL" train --model "$TESTS_DIR/data/hier_tiny.json" --synthetic 3000 --batch 16 \
    --out "$WORK/hier_int" >"$WORK/hint.out" 2>"$WORK/hint.err" </dev/null &
pid=$!
for _ in $(seq 1 3000); do
    grep -q "stage 3/5" "$WORK/hint.err" 2>/dev/null && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
RC=$?; OUT=$(cat "$WORK/hint.out"); ERR=$(cat "$WORK/hint.err")
expect_rc 130 "Ctrl-C in stage 3"
run train --resume "$WORK/hier_int"
expect_rc 0 "--resume into stage 3"
expect_in "$ERR" "resuming $WORK/hier_int in stage 3" "resumes in the stage it left"
expect_in "$OUT" "stage gate                 finished before the resume" "earlier stages are reported"
expect_in "$OUT" "stage subgates" "the later stages run"
expect_not_in "$ERR" "stage 1/5" "the first stage is not trained again"
# result.json counts every epoch of a resumed run (from metrics.jsonl), and
# report shows each stage and the mixture against its baseline stage
epochs=$(wc -l <"$WORK/hier_int/metrics.jsonl")
expect_in "$(cat "$WORK/hier_int/result.json")" "\"epochs\":	$epochs," "result.json counts all $epochs epochs"
expect_in "$OUT" "$WORK/hier_int: $epochs epochs in " "the last line counts the whole run's epochs"
expect_in "$OUT" " in this sitting;" "and tells the run's minutes from this sitting's"
run report "$WORK/hier_int"
expect_rc 0 "report on a staged run"
for stage in baseline gate expert_artificial expert_natural subgates; do
    expect_in "$OUT" "stage $stage" "report shows stage $stage"
done
expect_in "$OUT" "its baseline stage" "a staged mixture is compared with its baseline stage"
run report "$WORK/flat" "$WORK/moe" --baseline "$RUN" --markdown
expect_rc 0 "report with --baseline"
expect_in "$OUT" "| run | model | epochs |" "a markdown table"
expect_in "$OUT" "(the baseline)" "the baseline row"
expect_in "$OUT" "(--baseline, " "the others against the baseline"
run report "$WORK/flat" "$WORK/moe" --baseline "$RUN" --png "$WORK/report.png"
expect_rc 0 "report --png"
expect_in "$ERR" "wrote $WORK/report.png" "report --png says where the chart is"
expect_in "$(head -c 4 "$WORK/report.png" | tail -c 3)" "PNG" "the chart is a PNG file"
run report "$WORK/flat" --png "$WORK/no-such-dir/report.png"
expect_rc 1 "report --png into a folder that does not exist (a write failure)"
expect_in "$ERR" "no-such-dir/report.png" "names the file it could not write"
run report "$WORK"
expect_rc 2 "report on a directory with no result"
expect_in "$ERR" "has not finished" "says the run has not finished"
# scripts/presets.sh: trains each preset once, skips finished ones, reports
presets_run() {
    MOECL="$MOECL" PRESETS_OUT="$WORK/presets" PRESETS_ARGS="--synthetic 200 --epochs 1 --batch 25" \
        bash "$TESTS_DIR/../scripts/presets.sh" switch flat >"$WORK/out" 2>"$WORK/err" </dev/null
    RC=$?; OUT=$(cat "$WORK/out"); ERR=$(cat "$WORK/err")
}
presets_run
expect_rc 0 "scripts/presets.sh on two presets"
expect_in "$(cat "$WORK/presets/REPORT.md")" "$WORK/presets/flat | flat |" "REPORT.md has the flat run"
expect_in "$(head -c 4 "$WORK/presets/REPORT.png" | tail -c 3)" "PNG" "presets.sh draws REPORT.png"
presets_run
expect_in "$OUT" "presets: switch finished earlier" "a finished preset is not trained again"
cp -r "$RUN" "$WORK/bad_result"
echo '{"format": "moecl-result-1", "model": 3}' >"$WORK/bad_result/result.json"
run report "$WORK/bad_result"
expect_rc 2 "report on a malformed result.json"
expect_in "$ERR" "bad_result/result.json: \"model\" is missing or not a string" "names the file and the key"

# the switch (top-1) preset: routing, drops, and conditional computation
run train --model switch --synthetic 300 --epochs 1 --batch 32 --out "$WORK/switch"
expect_rc 0 "train the switch MoE"
expect_in "$ERR" "routing: expert_1" "the epoch line reports the routing"
expect_in "$(cat "$WORK/switch/metrics.jsonl")" '"dropped": ' "metrics count the dropped images"
run eval --checkpoint "$WORK/switch/best.safetensors" --synthetic
expect_rc 0 "eval a switch checkpoint"
expect_in "$OUT" "routing (images by dominant expert" "eval shows the switch routing"
# without validation images the routing is counted on the training
# batches (no line of every expert at 0% over no images)
run train --model switch --synthetic 100 --val 0 --epochs 1 --batch 32 --out "$WORK/switch-noval"
expect_rc 0 "train the switch MoE without validation images"
expect_not_in "$ERR" "routing: expert_1" "no validation routing line without validation images"
expect_in "$ERR" "routing on the training batches: expert_1" "the training batches' routing instead"
noval=$(cat "$WORK/switch-noval/metrics.jsonl")
expect_not_in "$noval" '"expert_share"' "no validation shares in the metrics"
expect_in "$noval" '"train_expert_share": [' "the training batches' shares in the metrics"
expect_in "$noval" '"train_routed_images": 100}' "over the epoch's 100 images"
# the shares and the dropped images account for every image
shares=$(printf '%s\n' "$noval" | sed -n 's/.*"train_expert_share": \[\([^]]*\)\].*/\1/p')
dropped=$(printf '%s\n' "$noval" | sed -n 's/.*"train_dropped": \([0-9]*\).*/\1/p')
sum=$(echo "$shares" | awk -F', ' -v d="$dropped" '{for (i = 1; i <= NF; i++) s += $i; printf "%d", s * 100 + d + 0.5}')
[ "$sum" = 100 ] && pass || fail "shares and drops count $sum of 100 images"
run bench moe --model switch --batch 16 --steps 1
expect_rc 0 "bench moe"
expect_in "$OUT" "speed-up" "bench moe compares routed and dense"
run bench moe --model flat --batch 16 --steps 1
expect_rc 2 "bench moe on a model without switch routing"

# the noisy top-k preset
run info --model topk
expect_in "$OUT" "top-2 of 4 experts" "info describes the top-k head"
run train --model topk --synthetic 300 --epochs 1 --batch 32 --out "$WORK/topk"
expect_rc 0 "train the noisy top-k MoE"
expect_in "$ERR" "routing: expert_1" "top-k reports its routing (first choices)"

# corrupt checkpoints
head -c 100 "$RUN/best.safetensors" >"$WORK/cut.safetensors"
run eval --checkpoint "$WORK/cut.safetensors" --synthetic
expect_rc 2 "truncated checkpoint"
expect_in "$ERR" "cut.safetensors" "names the checkpoint"
printf 'not a checkpoint at all' >"$WORK/junk.safetensors"
run eval --checkpoint "$WORK/junk.safetensors" --synthetic
expect_rc 2 "junk checkpoint"
run eval --checkpoint "$WORK/none.safetensors" --synthetic
expect_rc 2 "missing checkpoint (bad input)"
expect_in "$ERR" "none.safetensors" "names the missing checkpoint"

# malformed model files
printf '{"layers": [ {"type": "conv2d", "filters": 4' >"$WORK/broken.json"
run train --model "$WORK/broken.json" --synthetic 100 --out "$WORK/r2"
expect_rc 2 "malformed JSON"
expect_in "$ERR" "broken.json" "names the model file"
printf '{"layers": [{"type": "conv3d"}, {"type": "dense", "units": 10}]}' >"$WORK/unknown.json"
run train --model "$WORK/unknown.json" --synthetic 100 --out "$WORK/r3"
expect_rc 2 "unknown layer type"
expect_in "$ERR" "layer 0" "names the layer"
expect_in "$ERR" "conv3d" "names the type"
printf '{"layers": [{"type": "dense", "unit": 10}]}' >"$WORK/typo.json"
run train --model "$WORK/typo.json" --synthetic 100 --out "$WORK/r4"
expect_rc 2 "misspelt field"
expect_in "$ERR" "unknown field 'unit'" "names the misspelt field"
# two part names alike in their first 63 characters would be one name if cut
long=$(printf 'p%.0s' $(seq 70))
printf '{"parts": [{"name": "%sa", "layers": [{"type": "dense", "units": 10}]},
 {"name": "%sb", "layers": [{"type": "dense", "units": 10}]},
 {"name": "g", "layers": [{"type": "dense", "units": 2}]}],
 "mixture": {"gate": "g", "experts": ["%sa", "%sb"]}}' "$long" "$long" "$long" "$long" >"$WORK/long.json"
run info --model "$WORK/long.json"
expect_rc 2 "a part name longer than 63 characters"
expect_in "$ERR" "long.json': part 1: 'name' is longer than 63 characters" "names the file, the part and the limit"
run train --model no-such-preset --synthetic 100
expect_rc 2 "unknown preset"
expect_in "$ERR" "vgg" "lists the presets"

# --augment alone is crops and flips; a word after it picks them
run train --model "$TINY" --synthetic 300 --epochs 2 --batch 32 --augment flip --out "$WORK/aug_flip"
expect_rc 0 "--augment flip"
expect_in "$(cat "$WORK/aug_flip/options.json")" '"augment_crop":	false' "flip only: no crops"
expect_in "$(cat "$WORK/aug_flip/options.json")" '"augment_flip":	true' "flip only: flips"
run train --model "$TINY" --synthetic 100 --epochs 1 --augment --out "$WORK/aug_both"
# (one epoch of crops may stay at chance: exit 3, a run that did not learn)
[ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "--augment alone: exit code $RC"
expect_in "$(cat "$WORK/aug_both/options.json")" '"augment_crop":	true' "--augment alone crops"
run train --model "$TINY" --synthetic 100 --augment rotate --out "$WORK/aug_bad"
expect_rc 2 "--augment rotate"
expect_in "$ERR" "crop, flip, translate, alternate, jpeg, several joined by commas (crop or translate, flip or alternate) or none, not 'rotate'" "names what --augment takes"
# the last --augment wins: a script's default (quickstart.sh) can be switched off
run train --model "$TINY" --synthetic 100 --epochs 1 --augment flip --augment none --out "$WORK/aug_none"
[ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "--augment none: exit code $RC"
expect_in "$(cat "$WORK/aug_none/options.json")" '"augment_flip":	false' "--augment none after flip: no flips"

# bad data files
DATA="$WORK/cifar"
mkdir -p "$DATA"
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    head -c $((3073 * 4)) /dev/zero >"$DATA/$f.bin"
done
printf '\x0a' | dd of="$DATA/data_batch_1.bin" bs=1 seek=$((3073 * 2)) conv=notrunc 2>/dev/null
run train --model "$TINY" --data "$DATA" --epochs 1 --out "$WORK/r5"
expect_rc 2 "a label of 10"
expect_in "$ERR" "data_batch_1.bin" "names the file"
expect_in "$ERR" "record 2" "names the record"
head -c 5000 /dev/zero >"$DATA/data_batch_1.bin"
run train --model "$TINY" --data "$DATA" --epochs 1 --out "$WORK/r6"
expect_rc 2 "a truncated data file"
expect_in "$ERR" "not a whole number of 3,073-byte records" "says what is wrong"

# no data anywhere: a download from a mirror that fails, or serves a wrong file
mkdir -p "$WORK/empty" && cd "$WORK/empty"
MOECL_DATA_URL="file://$WORK/nothing.tar.gz" run train --model "$TINY" --epochs 1 --out "$WORK/r7"
expect_rc 1 "failed download"
expect_in "$ERR" "--data DIR" "says where to put the files by hand"
tar -czf "$WORK/fake.tar.gz" -C "$WORK" cifar
MOECL_DATA_URL="file://$WORK/fake.tar.gz" run train --model "$TINY" --epochs 1 --out "$WORK/r8"
expect_rc 2 "a download with the wrong md5"
expect_in "$ERR" "c32a1d4ab5d03f1284b67883e8d87530" "names the expected md5"
cd - >/dev/null

# divergence
run train --model "$TINY" --synthetic 300 --lr 1e30 --epochs 1 --out "$WORK/r9"
expect_rc 1 "NaN in training"
expect_in "$ERR" "diverged" "says the training diverged"

# Ctrl-C mid-epoch saves the state; --resume finishes the run. The run is
# one a fast machine cannot finish before the signal (400 epochs, the first
# about 2 s at 9,000 images/s): Ctrl-C comes at its first progress line,
# in epoch 1, and the resumed run stops after epoch 2.
"$MOECL" train --model "$TINY" --synthetic 20000 --epochs 400 --batch 16 --out "$WORK/int" \
    >"$WORK/int.out" 2>"$WORK/int.err" </dev/null &
pid=$!
for _ in $(seq 1 600); do
    grep -q "img/s" "$WORK/int.err" 2>/dev/null && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
RC=$?; OUT=$(cat "$WORK/int.out"); ERR=$(cat "$WORK/int.err")
expect_rc 130 "Ctrl-C"
expect_in "$ERR" "interrupted" "says it was interrupted"
[ -f "$WORK/int/state.safetensors" ] && pass || fail "state saved on Ctrl-C"
[ ! -f "$WORK/int/metrics.jsonl" ] && pass || fail "interrupted in epoch 1: $(cat "$WORK/int/metrics.jsonl")"
run train --resume "$WORK/int" --epochs 2
expect_rc 0 "--resume after Ctrl-C"
expect_in "$ERR" "resuming" "says it resumes"
lines=$(wc -l <"$WORK/int/metrics.jsonl")
[ "$lines" -eq 2 ] && pass || fail "the resumed run has $lines epochs of metrics, expected 2"
# and the training batches' routing (without validation images) of the
# interrupted epoch counts the batches before the Ctrl-C too
"$MOECL" train --model "$TESTS_DIR/data/exchange_switch.json" --synthetic 3000 --val 0 --epochs 400 \
    --batch 16 --out "$WORK/int-routed" >"$WORK/int-routed.out" 2>"$WORK/int-routed.err" </dev/null &
pid=$!
for _ in $(seq 1 600); do # (its own log: the last run's holds a progress line already)
    grep -q "img/s" "$WORK/int-routed.err" 2>/dev/null && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
RC=$?
expect_rc 130 "Ctrl-C in a routed model's epoch"
run train --resume "$WORK/int-routed" --epochs 1
expect_rc 0 "--resume it"
expect_in "$(cat "$WORK/int-routed/metrics.jsonl")" '"train_routed_images": 3000}' \
    "the epoch's routing over all its 3,000 images, before and after the Ctrl-C"

# airbench's pieces in a model file: GELU (a layer and an activation), batch
# norm without a learned scale and with 64x the learning rate, scaled logits
cat >"$WORK/gelu.json" <<'JSON'
{"name": "gelu_net", "input": [3, 32, 32], "classes": 10, "layers": [
  {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same", "activation": "gelu"},
  {"type": "batchnorm", "scale": false, "lr_scale": 64},
  {"type": "maxpool", "pool_size": 4}, {"type": "flatten"},
  {"type": "dense", "units": 12}, {"type": "gelu"}, {"type": "dense", "units": 10},
  {"type": "scale", "factor": 0.111}]}
JSON
run info --model "$WORK/gelu.json"
expect_rc 0 "info of a model with GELU"
[ "$(printf '%s\n' "$OUT" | grep -c " gelu ")" -eq 2 ] && pass || fail "two GELU layers listed: $OUT"
expect_in "$OUT" " scale " "the logit scaling listed"
run train --model "$WORK/gelu.json" --synthetic 256 --epochs 2 --patience 0 --out "$WORK/gelu-run" \
    --optimizer sgd --nesterov --schedule triangle --label-smoothing 0.2 --augment translate,flip --tta
# (2 epochs of 256 synthetic images may stay at chance: exit 3 is a finished run too)
[ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "a model with GELU trains with the recipe's options: exit code $RC"
[ "$(wc -l <"$WORK/gelu-run/metrics.jsonl" 2>/dev/null)" = 2 ] && pass || fail "two epochs in its metrics"
# a whitening first convolution: trains, and is refused anywhere else or
# with a filter count other than 2 x channels x window
white='{"type": "conv2d", "filters": 24, "kernel_size": 2, "use_bias": false, "init": "whiten"}'
rest='{"type": "gelu"}, {"type": "maxpool", "pool_size": 4}, {"type": "flatten"}, {"type": "dense", "units": 10}'
printf '{"name": "w", "layers": [%s, %s]}' "$white" "$rest" >"$WORK/whiten.json"
run train --model "$WORK/whiten.json" --synthetic 128 --epochs 1 --patience 0 --out "$WORK/whiten-run"
[ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "a model with a whitening convolution trains: exit code $RC $ERR"
run eval --checkpoint "$WORK/whiten-run/last.safetensors" --synthetic --test-examples 20 --tta translate
expect_rc 0 "eval with translation TTA"
printf '{"name": "w", "layers": [{"type": "relu"}, %s, %s]}' "$white" "$rest" >"$WORK/whiten-second.json"
run info --model "$WORK/whiten-second.json"
expect_rc 2 "a whitening convolution after another layer"
expect_in "$ERR" "must be its part's first layer" "says where it must be"
printf '{"name": "w", "layers": [%s, %s]}' "${white/24/12}" "$rest" >"$WORK/whiten-12.json"
run info --model "$WORK/whiten-12.json"
expect_rc 2 "a whitening convolution with 12 filters"
expect_in "$ERR" "= 24 filters" "says how many filters"
printf '%s' '{"name": "x", "layers": [{"type": "maxpool", "lr_scale": 2}, {"type": "flatten"}, {"type": "dense", "units": 10}]}' >"$WORK/lr_pool.json"
run info --model "$WORK/lr_pool.json"
expect_rc 2 "lr_scale on a layer without parameters"
expect_in "$ERR" "unknown field 'lr_scale'" "says the field is unknown there"
finish
