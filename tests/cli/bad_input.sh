# Bad input as a new user makes it: every error names the file, the place
# and what is wrong, exits with code 2 and writes nothing.
. "$(dirname "$0")/lib.sh"
TINY="$TESTS_DIR/data/tiny.json"

# a pooling window larger than what reaches it: named with its part and layer
cat >"$WORK/bigpool.json" <<'JSON'
{"parts": [
  {"name": "e0", "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
                            {"type": "maxpool", "pool_size": 64}, {"type": "flatten"},
                            {"type": "dense", "units": 10}]},
  {"name": "e1", "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]},
  {"name": "g", "layers": [{"type": "flatten"}, {"type": "dense", "units": 2}]}],
 "mixture": {"gate": "g", "experts": ["e0", "e1"]}}
JSON
run info --model "$WORK/bigpool.json"
expect_rc 2 "a pooling window larger than its input"
expect_in "$ERR" "bigpool.json': part e0, layer 1 (maxpool): its 64x64 window is larger than its 4x32x32 input" \
    "names the file, the part, the layer and why"
run train --model "$WORK/bigpool.json" --synthetic 100 --out "$WORK/never"
expect_rc 2 "train refuses it too"
[ ! -e "$WORK/never" ] && pass || fail "no run directory for a bad model"
# a 'valid' convolution that shrinks the image away a few layers later
printf '{"layers": [{"type": "conv2d", "filters": 4, "kernel_size": 9, "strides": 4},
  {"type": "conv2d", "filters": 4, "kernel_size": 9}, {"type": "flatten"},
  {"type": "dense", "units": 10}]}' >"$WORK/shrink.json"
run info --model "$WORK/shrink.json"
expect_rc 2 "a convolution whose window no longer fits"
expect_in "$ERR" "layer 1 (conv2d): its 9x9 window is larger than its 4x6x6 input" "says where the image ran out"

# sizes too large: the limit, not "must be a whole number"
for field in '"filters": 2000000000' '"filters": 70000'; do
    printf '{"layers": [{"type": "conv2d", %s, "kernel_size": 3}, {"type": "flatten"},
      {"type": "dense", "units": 10}]}' "$field" >"$WORK/big.json"
    run info --model "$WORK/big.json"
    expect_rc 2 "$field"
    expect_in "$ERR" "layer 0 (conv2d): 'filters' is ${field#*: }: too large, the limit is 65536" "says the limit"
done
printf '{"layers": [{"type": "dense", "units": 1e12}]}' >"$WORK/units.json"
run info --model "$WORK/units.json"
expect_rc 2 "units 1e12"
expect_in "$ERR" "'units' is 1000000000000: too large, the limit is 65536" "says the limit"
printf '{"layers": [{"type": "dense", "units": 2.5}]}' >"$WORK/half.json"
run info --model "$WORK/half.json"
expect_rc 2 "units 2.5"
expect_in "$ERR" "'units' must be a whole number (a whole number from 1 to 65536)" "a fraction"
printf '{"layers": [{"type": "flatten"}, {"type": "dense_moe", "units": 10, "n_experts": 3,
  "gating_activation": "relu", "importance_loss": 0.1}]}' >"$WORK/imp.json"
run info --model "$WORK/imp.json"
expect_rc 2 "an importance loss without a softmax gate"
expect_in "$ERR" "'importance_loss' needs a softmax gate (gating_activation)" "says why"
printf '{"layers": [{"type": "flatten"}, {"type": "dense_moe", "units": 10, "n_experts": 2, "importance_loss": -1}]}' \
    >"$WORK/imp_neg.json"
run info --model "$WORK/imp_neg.json"
expect_rc 2 "a negative importance loss"
expect_in "$ERR" "importance_loss" "names the field"
printf '{"layers": [{"type": "dense", "units": 0}]}' >"$WORK/zero.json"
run info --model "$WORK/zero.json"
expect_rc 2 "units 0"
expect_in "$ERR" "'units' is 0: it must be at least 1" "too small"
printf '{"layers": [{"type": "maxpool", "pool_size": [2, 100000]}, {"type": "flatten"},
  {"type": "dense", "units": 10}]}' >"$WORK/pair.json"
run info --model "$WORK/pair.json"
expect_rc 2 "a window pair too large"
expect_in "$ERR" "'pool_size' must be a whole number or a pair [h, w] (each from 1 to 65536)" "says the range"
printf '{"input": [3, 32, 1e10], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}' \
    >"$WORK/input.json"
run info --model "$WORK/input.json"
expect_rc 2 "an input too large"
expect_in "$ERR" "'input' must be [channels, height, width] (whole numbers from 1 to 65536)" "says the range"

# a directory where a file is expected, for every option that reads or writes one
run train --model "$TINY" --synthetic 300 --epochs 1 --batch 32 --out "$WORK/run"
expect_rc 0 "a run to read from"
CK="$WORK/run/best.safetensors"
mkdir -p "$WORK/dir"
check_dir() { # check_dir WHAT ARGS...: exit code 2, the directory named
    local what=$1
    shift
    run "$@"
    expect_rc 2 "$what: a directory"
    expect_in "$ERR" "'$WORK/dir' is a directory" "$what: says it is a directory"
}
check_dir "info --model" info --model "$WORK/dir"
check_dir "train --model" train --model "$WORK/dir" --synthetic 100 --out "$WORK/r1"
check_dir "train --weights" train --model "$TINY" --weights "$WORK/dir" --synthetic 100 --out "$WORK/r2"
check_dir "eval --checkpoint" eval --checkpoint "$WORK/dir" --synthetic
check_dir "gates --checkpoint" gates --checkpoint "$WORK/dir" --synthetic
check_dir "predict --checkpoint" predict --checkpoint "$WORK/dir" "$TESTS_DIR/../assets/pictures/hier-gates.png"
check_dir "predict IMAGE" predict --checkpoint "$CK" "$WORK/dir"
check_dir "kernels --source" kernels --source "$WORK/dir"
check_dir "eval --png" eval --checkpoint "$CK" --synthetic --png "$WORK/dir"
check_dir "curves --out" curves "$WORK/run" --out "$WORK/dir"
check_dir "report --png" report "$WORK/run" --png "$WORK/dir"
[ -z "$(ls -A "$WORK/dir")" ] && pass || fail "nothing was written into the directory"
# a file where a run directory is expected
run train --model "$TINY" --synthetic 100 --out "$CK"
expect_rc 2 "--out names a file"
expect_in "$ERR" "the run directory '$CK' is a file, not a directory" "says so"
run curves "$CK"
expect_rc 2 "curves of a file"
# a new run never writes over another one
before=$(cat "$WORK/run/metrics.jsonl")
run train --model "$TINY" --synthetic 300 --epochs 1 --batch 32 --out "$WORK/run"
expect_rc 2 "a new run into a run directory"
expect_in "$ERR" "already holds a training run (state.safetensors): continue it with 'moecl train --resume $WORK/run'" \
    "says how to continue it"
[ "$(cat "$WORK/run/metrics.jsonl")" = "$before" ] && pass || fail "the earlier run's metrics are intact"
# a resume whose options.json holds a seed no 64-bit whole number is (the
# fuzzer's find: a negative one converted to an undefined value)
cp -r "$WORK/run" "$WORK/badseed"
sed -i 's/"seed":[^,]*/"seed":\t-1/' "$WORK/badseed/options.json"
run train --resume "$WORK/badseed"
expect_rc 2 "a negative seed in options.json"
expect_in "$ERR" "'$WORK/badseed/options.json': \"seed\" must be a whole number from 0 to 2^64 - 1, not -1" \
    "names the file, the field and the value"

# more than the device has: what was needed and what the device has, exit
# code 1, no run directory (PoCL's pthread device with a 1 GiB limit)
cat >"$WORK/wide.json" <<'JSON'
{"name": "wide", "layers": [{"type": "flatten"},
 {"type": "dense", "units": 2048, "activation": "relu"}, {"type": "dense", "units": 2048, "activation": "relu"},
 {"type": "dense", "units": 2048, "activation": "relu"}, {"type": "dense", "units": 2048, "activation": "relu"},
 {"type": "dense", "units": 2048, "activation": "relu"}, {"type": "dense", "units": 2048, "activation": "relu"},
 {"type": "dense", "units": 10, "activation": "softmax"}]}
JSON
if POCL_MEMORY_LIMIT=1 "$MOECL" devices 2>/dev/null | grep -q "global 1.0 GiB"; then
    POCL_MEMORY_LIMIT=1 run train --model "$WORK/wide.json" --batch 8192 --synthetic 300 --out "$WORK/oom"
    expect_rc 1 "a batch too large for the device"
    expect_in "$ERR" "out of device memory: a tensor of 64.0 MiB would bring moecl's buffers to" "what was needed"
    expect_in "$ERR" "more than the 1024.0 MiB of device 0" "what the device has"
    expect_in "$ERR" "MOECL_DEVICE_MEMORY_MB sets the limit" "names the way to raise the limit"
    [ ! -e "$WORK/oom" ] && pass || fail "no run directory for a run that cannot start"
    MOECL_DEVICE_MEMORY_MB=4096 POCL_MEMORY_LIMIT=1 run train --model "$WORK/wide.json" --batch 8192 \
        --synthetic 300 --epochs 1 --out "$WORK/oom_allowed"
    [ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "MOECL_DEVICE_MEMORY_MB=4096 lets it start: exit code $RC"
    POCL_MEMORY_LIMIT=1 run train --model "$WORK/wide.json" --batch 8192 --synthetic 300 --out "$WORK/run"
    expect_rc 1 "the same into an existing run's directory"
    [ "$(cat "$WORK/run/metrics.jsonl")" = "$before" ] && pass || fail "the existing run is intact"
else
    echo "note: the device is not PoCL's with POCL_MEMORY_LIMIT (checked only there)"
fi
finish
