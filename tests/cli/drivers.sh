# The same model, seed and data give the same losses on every OpenCL driver:
# PoCL's pthread device and its basic device (another compiler path, no
# work-group vectorisation), and a few steps under Oclgrind (a simulator):
# every step's training and validation loss within a relative 1e-4, and
# eval's and predict's outputs likewise. Two models between them hold every
# kind of layer and head: conv, Conv2DMoE, batch norm, dropout, max and
# average pooling, DenseMoE, dense; a noisy top-k (routed) and a soft mixture.
# One batch an epoch, so metrics.jsonl has a line per optimiser step.
. "$(dirname "$0")/lib.sh"
TOL=1e-4
PNG="$TESTS_DIR/../assets/pictures/hier-gates.png"

. "$(dirname "$0")/compare.sh"

train_on() { # train_on DEVICES MODEL STEPS BATCH OUT [wrapper...]
    local devices=$1 model=$2 steps=$3 batch=$4 out=$5
    shift 5
    POCL_DEVICES=$devices run "$@" "$MOECL" train --model "$TESTS_DIR/data/$model.json" \
        --synthetic "$batch" --batch "$batch" --val "$batch" --test-examples 40 --epochs "$steps" \
        --patience 0 --seed 7 --out "$out"
}
run() { "$@" >"$WORK/out" 2>"$WORK/err" </dev/null; RC=$?; OUT=$(cat "$WORK/out"); ERR=$(cat "$WORK/err"); }

# With "oclgrind" after the program: only the Oclgrind comparison (its own
# test, label oclgrind, which the sanitizer pass leaves out).
ONLY_OCLGRIND=${2:-}

if [ -z "$ONLY_OCLGRIND" ] && ! POCL_DEVICES=basic "$MOECL" devices 2>/dev/null | grep -qi "basic"; then
    echo "drivers: PoCL's basic device is not there: nothing to compare the pthread device with"
    exit 77
fi
for model in drivers_routed drivers_soft; do
    [ -n "$ONLY_OCLGRIND" ] && break
    for dev in pthread basic; do
        train_on "$dev" "$model" 20 48 "$WORK/$model-$dev"
        expect_rc 0 "$model: 20 steps on PoCL's $dev device"
    done
    msg=$(compare_metrics "$WORK/$model-pthread/metrics.jsonl" "$WORK/$model-basic/metrics.jsonl") && pass ||
        fail "$model: pthread against basic: $msg"
    echo "$model, pthread against basic: $msg"
    eval_out=()
    predict_out=()
    for dev in pthread basic; do
        POCL_DEVICES=$dev run "$MOECL" eval --checkpoint "$WORK/$model-$dev/last.safetensors" --synthetic \
            --test-examples 40 --json
        expect_rc 0 "$model: eval on $dev"
        eval_out+=("$OUT")
        POCL_DEVICES=$dev run "$MOECL" predict --checkpoint "$WORK/$model-$dev/last.safetensors" --json "$PNG"
        expect_rc 0 "$model: predict on $dev"
        predict_out+=("$OUT")
    done
    msg=$(compare_numbers "${eval_out[0]}" "${eval_out[1]}") && pass || fail "$model: eval --json differs: $msg"
    echo "$model, eval --json: $msg"
    msg=$(compare_numbers "${predict_out[0]}" "${predict_out[1]}") && pass || fail "$model: predict --json differs: $msg"
    echo "$model, predict --json: $msg"
done

# Oclgrind simulates every work-item: a few small steps, and its reports fail the test
if [ -n "$ONLY_OCLGRIND" ]; then
    train_on pthread drivers_routed 3 8 "$WORK/ocl-pthread"
    expect_rc 0 "3 steps of 8 images on PoCL"
    train_on pthread drivers_routed 3 8 "$WORK/ocl" oclgrind --check-api --log "$WORK/oclgrind.log"
    expect_rc 0 "3 steps of 8 images under Oclgrind"
    [ ! -s "$WORK/oclgrind.log" ] && pass || fail "Oclgrind reported: $(head -20 "$WORK/oclgrind.log")"
    msg=$(compare_metrics "$WORK/ocl-pthread/metrics.jsonl" "$WORK/ocl/metrics.jsonl") && pass ||
        fail "Oclgrind against PoCL: $msg"
    echo "drivers_routed, Oclgrind against PoCL: $msg"
fi
finish
