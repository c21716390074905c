# NaN and infinity never reach a JSON file or a checkpoint: a validation
# loss that is not finite ends the run as a NaN training loss does (nothing
# of that epoch written, the last finished epoch's weights kept), and the
# JSON moecl prints writes null where a number is not finite.
. "$(dirname "$0")/lib.sh"
TINY="$TESTS_DIR/data/tiny.json"

run train --model "$TINY" --synthetic 300 --epochs 1 --batch 32 --out "$WORK/good"
expect_rc 0 "a good run to start from"

# The batch norm's moving variance set to NaN: training (batch statistics)
# stays finite, evaluation (the moving statistics) gives NaN.
poison() { # poison CHECKPOINT TENSOR: its first float becomes a NaN
    local hlen offset
    hlen=$(head -c 8 "$1" | od -An -tu8 | tr -d ' ')
    offset=$(head -c $((8 + hlen)) "$1" | tail -c "$hlen" |
        sed -n "s/.*\"$2\":{[^}]*\"data_offsets\":\[\([0-9]*\),.*/\1/p")
    printf '\x00\x00\xc0\x7f' | dd of="$1" bs=1 seek=$((8 + hlen + offset)) conv=notrunc status=none
}
cp "$WORK/good/best.safetensors" "$WORK/poisoned.safetensors"
poison "$WORK/poisoned.safetensors" "batchnorm_4.moving_variance"

run train --model "$TINY" --synthetic 300 --epochs 2 --batch 32 --weights "$WORK/poisoned.safetensors" \
    --out "$WORK/poisoned_run"
expect_rc 1 "a NaN validation loss ends the run"
expect_in "$ERR" "training diverged: the validation loss is NaN after epoch 1" "says why and when"
expect_in "$ERR" "no epoch had finished, so no weights were saved" "says what was kept"
[ ! -e "$WORK/poisoned_run/last.safetensors" ] && pass || fail "no checkpoint of the NaN epoch"
[ ! -s "$WORK/poisoned_run/metrics.jsonl" ] && pass || fail "no metrics line of the NaN epoch"

# eval and predict print null, not nan, for what the NaN weights give
run eval --checkpoint "$WORK/poisoned.safetensors" --synthetic --json
expect_rc 0 "eval of a checkpoint that gives NaN"
expect_in "$OUT" '"loss": null' "eval --json: the loss is null"
expect_not_in "$(printf '%s' "$OUT" | tr 'A-Z' 'a-z')" "nan" "eval --json holds no NaN"
run predict --checkpoint "$WORK/poisoned.safetensors" --json "$TESTS_DIR/../assets/pictures/hier-gates.png"
expect_rc 0 "predict with a checkpoint that gives NaN"
expect_in "$OUT" '"airplane": null' "predict --json: the probabilities are null"
expect_not_in "$(printf '%s' "$OUT" | tr 'A-Z' 'a-z')" "nan" "predict --json holds no NaN"
finish
