# --micro-batch: a batch run in pieces the device holds, their gradients
# summed, trains as the whole batch does (a model without batch norm, with
# dropout: its masks are keyed by each image's place, not the piece's),
# step by step to float tolerance; with batch norm it runs (statistics per
# piece); it refuses --sync-bn; and the device then holds only a piece.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare.sh"
TOL=1e-4
finished() { [ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "$1: exit code $RC $ERR"; } # 3: at chance
cat >"$WORK/nobn.json" <<'JSON'
{"name": "nobn", "input": [3, 32, 32], "classes": 10, "layers": [
  {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same", "activation": "relu"},
  {"type": "maxpool", "pool_size": 4}, {"type": "dropout", "rate": 0.3}, {"type": "flatten"},
  {"type": "dense", "units": 10}]}
JSON
common=(--synthetic 300 --val 60 --epochs 2 --batch 64 --patience 0 --seed 5 --optimizer sgd --lr 0.05 --momentum 0.9)
run train --model "$WORK/nobn.json" "${common[@]}" --out "$WORK/whole"
finished "the whole batch"
run train --model "$WORK/nobn.json" "${common[@]}" --micro-batch 24 --out "$WORK/pieces"
finished "pieces of 24 (24 + 24 + 16)"
report=$(compare_metrics "$WORK/whole/metrics.jsonl" "$WORK/pieces/metrics.jsonl") && pass ||
    fail "the same losses in pieces: $report"
echo "  $report"
grep -qE '"micro_batch":[[:space:]]*24' "$WORK/pieces/options.json" && pass || fail "options.json keeps the micro-batch"
run train --resume "$WORK/pieces" --epochs 3
finished "a resume keeps training in pieces"
run train --model "$TESTS_DIR/data/tiny.json" --synthetic 200 --epochs 1 --batch 50 --micro-batch 20 \
    --patience 0 --out "$WORK/bn"
finished "batch norm in pieces"
run train --model "$TESTS_DIR/data/tiny.json" --synthetic 200 --epochs 1 --batch 50 --micro-batch 20 \
    --sync-bn --out "$WORK/sync"
expect_rc 2 "--micro-batch with --sync-bn"
expect_in "$ERR" "--micro-batch and --sync-bn" "says which options clash"
# the device holds a piece: a batch too large for the device's memory trains in pieces
export MOECL_DEVICE_MEMORY_MB=48
run train --model "$WORK/nobn.json" --synthetic 2000 --val 0 --epochs 1 --batch 2000 --patience 0 --out "$WORK/big"
expect_rc 1 "a batch of 2000 whole, past 48 MiB"
expect_in "$ERR" "out of device memory" "says the device is out of memory"
run train --model "$WORK/nobn.json" --synthetic 2000 --val 0 --epochs 1 --batch 2000 --micro-batch 100 \
    --patience 0 --out "$WORK/big-pieces"
finished "the same batch in pieces of 100"
unset MOECL_DEVICE_MEMORY_MB
finish
