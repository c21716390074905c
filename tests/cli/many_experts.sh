# Mixtures of many experts: 64 (the routing kernels' limit) train, with
# switch and noisy top-k routing and a soft gate; 65 are refused, saying why.
. "$(dirname "$0")/lib.sh"

many() { # many TYPE COUNT > file: COUNT small experts and a gate
    local type=$1 count=$2 k parts=""
    for k in $(seq 1 "$count"); do
        parts="$parts{\"name\": \"e$k\", \"layers\": [{\"type\": \"maxpool\", \"pool_size\": 4},
          {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"
    done
    local names
    names=$(seq 1 "$count" | sed 's/^/"e/; s/$/"/' | paste -sd,)
    local extra=""
    [ "$type" = topk ] && extra=', "k": 2'
    printf '{"name": "%s%d", "parts": [%s {"name": "gate", "layers": [{"type": "global_avgpool"},
      {"type": "dense", "units": %d}]}], "mixture": {"type": "%s", "gate": "gate", "experts": [%s]%s}}' \
        "$type" "$count" "$parts" "$([ "$type" = topk ] && echo $((2 * count)) || echo "$count")" \
        "$type" "$names" "$extra"
}

for type in switch topk soft; do
    many "$type" 64 >"$WORK/$type-64.json"
    run info --model "$WORK/$type-64.json"
    expect_rc 0 "$type of 64 experts: info"
    expect_in "$OUT" "64 experts" "$type: the head has 64 experts"
    run train --model "$WORK/$type-64.json" --synthetic 256 --batch 64 --epochs 2 --out "$WORK/$type-run"
    [ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "$type of 64 experts trains: exit code $RC"
    expect_in "$(cat "$WORK/$type-run/metrics.jsonl" 2>/dev/null)" '"expert_share": [' "$type: the routing is in the metrics"
done
# --lazy-experts: the same run, recorded in options.json and kept by a resume
run train --model "$WORK/switch-64.json" --synthetic 256 --batch 64 --epochs 1 --patience 0 \
    --lazy-experts --out "$WORK/lazy-run"
[ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "switch of 64 experts with --lazy-experts: exit code $RC"
grep -qE '"lazy_experts":[[:space:]]*true' "$WORK/lazy-run/options.json" && pass || fail "options.json records it"
run train --resume "$WORK/lazy-run" --epochs 2
[ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "the lazy run resumed: exit code $RC"
grep -qE '"lazy_experts":[[:space:]]*true' "$WORK/lazy-run/options.json" && pass || fail "still lazy after the resume"
[ "$(wc -l <"$WORK/lazy-run/metrics.jsonl")" -eq 2 ] && pass || fail "two epochs in metrics.jsonl"

many switch 65 >"$WORK/switch-65.json"
run info --model "$WORK/switch-65.json"
expect_rc 2 "65 experts"
expect_in "$ERR" "too many 'experts' (65 here; the routing kernels hold at most 64)" "says the limit"
finish
