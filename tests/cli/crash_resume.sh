# kill -9 at each moment of an epoch's end (while metrics.jsonl, the state or
# a checkpoint is being written), then --resume: the run goes on from its
# last whole epoch, reads nothing half-written, counts no epoch twice, and
# ends with the same losses as a run never killed. The kills are made
# deterministic with MOECL_TEST_KILL (engine/moecl.h).
. "$(dirname "$0")/lib.sh"
TINY="$TESTS_DIR/data/tiny.json"
ARGS=(--model "$TINY" --synthetic 300 --epochs 3 --batch 32 --patience 0)

run train "${ARGS[@]}" --out "$WORK/straight"
expect_rc 0 "the run never killed"
losses() { sed 's/"seconds.*//' "$1/metrics.jsonl"; } # the lines less their timings
STRAIGHT=$(losses "$WORK/straight")

for point in "epoch-end:metrics@2" "write:state.safetensors@2" "epoch-end:state@2" \
    "write:best.safetensors@2" "write:last.safetensors@2" "write:state.safetensors@3"; do
    dir="$WORK/killed-${point//[:@]/-}"
    MOECL_TEST_KILL="$point" run train "${ARGS[@]}" --out "$dir"
    expect_rc 137 "killed at $point"
    run train --resume "$dir"
    expect_rc 0 "--resume after a kill at $point"
    [ "$(losses "$dir")" = "$STRAIGHT" ] && pass ||
        fail "killed at $point: metrics.jsonl differs from the run never killed:
$(losses "$dir")
---
$STRAIGHT"
    for f in last best; do
        cmp -s "$dir/$f.safetensors" "$WORK/straight/$f.safetensors" && pass ||
            fail "killed at $point: $f.safetensors differs from the run never killed"
    done
done

# a kill in the first epoch's commit leaves nothing to resume, and says so
MOECL_TEST_KILL="write:state.safetensors@1" run train "${ARGS[@]}" --out "$WORK/first"
expect_rc 137 "killed in the first epoch's state"
run train --resume "$WORK/first"
expect_rc 2 "nothing to resume"
expect_in "$ERR" "state.safetensors" "names the missing state"
finish
