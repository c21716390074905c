# Expert parallelism gives the run one device would: the same model and
# seed trained for 20 steps with its experts on one device, and with them
# placed round robin on two devices (--experts-on 0,1, PoCL's "pthread
# pthread"; the gate, a trunk and the combination stay on the first), give
# every step's training and validation loss within a relative 1e-4 and
# checkpoints with the same eval outputs: a switch with a trunk (routed
# rows cross both ways, the trunk's gradient comes back), noisy top-2 over
# experts with batch norm and dropout, a soft mixture and the staged
# hierarchical mixture; the devices in one shared OpenCL context, and the
# switch also in contexts of their own. One PoCL thread a device.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare.sh"
TOL=1e-4
export POCL_DEVICES="pthread pthread" POCL_MAX_PTHREAD_COUNT=1

train() { # train MODEL SEED OUT [more options]
    local model=$1 seed=$2 out=$3
    shift 3
    "$MOECL" train --model "$TESTS_DIR/data/$model.json" --synthetic 48 --batch 48 --val 48 \
        --test-examples 40 --epochs 20 --patience 0 --seed "$seed" --out "$out" "$@" \
        >"$WORK/out" 2>"$WORK/err" </dev/null
    RC=$?
    OUT=$(cat "$WORK/out")
    ERR=$(cat "$WORK/err")
}

# (the switch's seed and rate: every expert gets images in some of the steps)
for case in placed_switch:4:0.003 drivers_routed:7:0.001 dist_soft:7:0.001; do
    IFS=: read -r model seed lr <<<"$case"
    train "$model" "$seed" "$WORK/$model-one" --lr "$lr"
    expect_rc 0 "$model: 20 steps on one device"
    train "$model" "$seed" "$WORK/$model-placed" --lr "$lr" --experts-on 0,1
    expect_rc 0 "$model: 20 steps with the experts on 2 devices"
    expect_in "$ERR" "experts on device 1" "$model: the second device is named"
    expect_in "$ERR" "rows copied by the driver" "$model: one platform, one shared OpenCL context"
    msg=$(compare_metrics "$WORK/$model-one/metrics.jsonl" "$WORK/$model-placed/metrics.jsonl") &&
        pass || fail "$model: experts on 2 devices against one: $msg"
    echo "$model, experts on 2 devices against one device: $msg"
    compare_checkpoints "$model" "$WORK/$model-one" "$WORK/$model-placed"
done

# both devices are PoCL's, one platform: they share one OpenCL context and
# rows are copied by the driver (above); in contexts of their own the rows
# cross through host memory, with the same result
MOECL_SHARED_CONTEXT=0 train placed_switch 4 "$WORK/placed_switch-host" --lr 0.003 --experts-on 0,1
expect_rc 0 "placed_switch: 20 steps, each device in a context of its own"
expect_in "$ERR" "through host memory" "says the rows go through host memory"
msg=$(compare_metrics "$WORK/placed_switch-one/metrics.jsonl" "$WORK/placed_switch-host/metrics.jsonl") &&
    pass || fail "placed_switch: experts on 2 devices (host transfers) against one: $msg"
echo "placed_switch, experts on 2 devices through host memory against one device: $msg"

# every expert away from the gate (device 1 only); a resume moves them back
train placed_switch 4 "$WORK/away" --lr 0.003 --experts-on 1 --epochs 10
# (10 steps may end near chance, which exit code 3 reports)
[ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "the experts all on the second device: exit code $RC"
grep -qE '"experts_on":[[:space:]]*"1"' "$WORK/away/options.json" && pass || fail "options.json keeps --experts-on"
run train --resume "$WORK/away" --epochs 20 --experts-on 0
expect_rc 0 "resumed with the experts on the first device"
msg=$(compare_metrics "$WORK/placed_switch-one/metrics.jsonl" "$WORK/away/metrics.jsonl") && pass ||
    fail "placed away, then resumed at home, against one device: $msg"
echo "experts on device 1 for 10 steps, then on device 0 for 10, against one device: $msg"

# bench train places them the same way
run bench train --model "$TESTS_DIR/data/placed_switch.json" --batch 16 --steps 2 --experts-on 0,1
expect_rc 0 "bench train with the experts on 2 devices"
expect_in "$OUT" "training:" "bench train reports"
expect_in "$ERR" "experts on device 1" "bench train names the second device"

# the hierarchical mixture, staged: each expert with its sub-gate on its
# device; the stages that train an expert alone score it there, the
# sub-gate stage reads the frozen parts' table and its rows cross both ways
# (4 epochs a stage; tiny parts may end at chance, exit code 3)
for placement in "" "--experts-on 0,1"; do
    train hier_tiny 1 "$WORK/hier${placement:+-placed}" --epochs 4 $placement
    [ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "hier_tiny ${placement:-on one device}: exit code $RC: $ERR"
done
expect_in "$ERR" "experts on device 1" "hier_tiny: the second device is named"
[ "$(grep -c '"stage": "subgates"' "$WORK/hier-placed/metrics.jsonl")" -eq 4 ] && pass ||
    fail "hier_tiny placed: the sub-gate stage ran"
msg=$(compare_metrics "$WORK/hier/metrics.jsonl" "$WORK/hier-placed/metrics.jsonl") && pass ||
    fail "hier_tiny: experts on 2 devices against one: $msg"
echo "hier_tiny (5 stages), experts on 2 devices against one device: $msg"
compare_checkpoints hier_tiny "$WORK/hier" "$WORK/hier-placed"

# refused with why
train tiny 1 "$WORK/single" --experts-on 0,1 --epochs 1
expect_rc 2 "a model without experts"
expect_in "$ERR" "no experts" "says why"
train dist_soft 1 "$WORK/both" --experts-on 0,1 --device 0,1 --epochs 1
expect_rc 2 "--experts-on with data-parallel devices"
expect_in "$ERR" "one or the other" "says why"
train dist_soft 1 "$WORK/nodev" --experts-on 0,7 --epochs 1
expect_rc 2 "a device that is not there"
expect_in "$ERR" "7" "the error names it"
[ ! -e "$WORK/nodev/metrics.jsonl" ] && pass || fail "no run written for a refused placement"
finish
