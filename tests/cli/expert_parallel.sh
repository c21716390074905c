# Expert parallelism across ranks (--expert-parallel): each routed expert is
# computed by one rank on the rows every rank routed to it. Trained for 12
# steps on 2 devices of one process and on 2 and 3 MPI ranks (unequal
# shares), a switch and a noisy top-2 mixture with a trunk (its gradient
# comes back from the experts' ranks) and an expert with batch norm and
# dropout (its statistics over the rows of every rank, its masks by the row's
# place in its whole batch: one device's, which plain data parallelism does
# not give) give one device's training and validation loss
# step by step within a relative 1e-4, and their checkpoints the same eval
# outputs (the expert's running statistics come from the rank that computed
# it, rank 1 of 2: rank 0 evaluates and saves).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare.sh"
TOL=1e-4
export POCL_DEVICES=pthread POCL_MAX_PTHREAD_COUNT=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

train() { # train MODEL RANKS IMAGES OUT [more options]
    local model=$1 ranks=$2 images=$3 out=$4
    shift 4
    local launcher=()
    [ "$ranks" -gt 1 ] && launcher=(timeout 300 mpirun -np "$ranks")
    "${launcher[@]}" "$MOECL" train --model "$TESTS_DIR/data/exchange_$model.json" \
        --synthetic "$images" --batch "$images" --val 48 --test-examples 40 --epochs 12 \
        --patience 0 --seed 4 --out "$out" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
    RC=$?
    OUT=$(cat "$WORK/out")
    ERR=$(cat "$WORK/err")
}
# a run that trains is exit 0, or 3 when 12 steps on random images stay at chance
trained() { [ "$RC" -eq 0 ] || [ "$RC" -eq 3 ] && pass || fail "$1: exit code $RC"; }
against_one() { # against_one WHAT ONE OTHER
    local msg
    msg=$(compare_metrics "$2/metrics.jsonl" "$3/metrics.jsonl") && pass || fail "$1: $msg"
    echo "$1: $msg"
}

for model in switch topk; do
    train $model 1 48 "$WORK/one-$model"
    trained "$model: one device"
    POCL_DEVICES="pthread pthread" train $model 1 48 "$WORK/xp-$model" --device 0,1 --expert-parallel
    trained "$model: 2 devices, expert parallel"
    expect_in "$ERR" "expert k computed by rank k mod 2" "says how the experts are spread"
    against_one "$model, expert parallel on 2 devices against one device" "$WORK/one-$model" "$WORK/xp-$model"
    compare_checkpoints "$model: one device against 2 devices expert parallel" "$WORK/one-$model" "$WORK/xp-$model"
    grep -qE '"expert_parallel":[[:space:]]*true' "$WORK/xp-$model/options.json" && pass ||
        fail "options.json keeps --expert-parallel"
done

# plain data parallelism keeps batch norm per rank: not one device's losses
POCL_DEVICES="pthread pthread" train switch 1 48 "$WORK/dp-switch" --device 0,1
trained "switch: 2 devices, data parallel"
msg=$(compare_metrics "$WORK/one-switch/metrics.jsonl" "$WORK/dp-switch/metrics.jsonl") &&
    fail "per-rank batch norm in an expert should give other losses than one device's: $msg" || pass

# unequal shares: each rank's rows weighed by its share
train switch 1 47 "$WORK/one47"
trained "switch: 47 images on one device"
POCL_DEVICES="pthread pthread" train switch 1 47 "$WORK/split" --device 0,1 --split 1,3 --expert-parallel
trained "switch: 2 devices split 1:3, expert parallel"
against_one "switch, expert parallel on 2 devices split 1:3 against one device" "$WORK/one47" "$WORK/split"

# refused: a soft mixture (every image to every expert), with --micro-batch, and a last batch too small
POCL_DEVICES="pthread pthread" run --device 0,1 train --model "$TESTS_DIR/data/dist_soft.json" --synthetic 48 --epochs 1 \
    --expert-parallel --out "$WORK/soft"
expect_rc 2 "--expert-parallel with a soft mixture"
expect_in "$ERR" "no routed experts" "says why"
POCL_DEVICES="pthread pthread" train switch 1 48 "$WORK/micro" --device 0,1 --expert-parallel --micro-batch 8
expect_rc 2 "--expert-parallel with --micro-batch"
POCL_DEVICES="pthread pthread" train switch 1 47 "$WORK/short" --device 0,1 --expert-parallel --batch 23
expect_rc 2 "--expert-parallel with a last batch of one image on 2 devices"
expect_in "$ERR" "fewer than the 2 ranks" "says why"
# a resume may turn it on (where the experts are computed, not what)
POCL_DEVICES="pthread pthread" train switch 1 48 "$WORK/resumed" --device 0,1 --epochs 6
trained "switch: 6 steps data parallel"
POCL_DEVICES="pthread pthread" run --device 0,1 train --resume "$WORK/resumed" --epochs 12 --expert-parallel
trained "switch: resumed to 12 steps expert parallel"

if ! command -v mpirun >/dev/null; then
    echo "expert_parallel: no mpirun (scripts/setup.sh installs Open MPI): the MPI part is not run"
    finish
    exit
fi
train switch 2 48 "$WORK/mpi2"
if [ "$RC" -ne 0 ] && printf '%s' "$ERR" | grep -q "built without MPI"; then
    echo "expert_parallel: this moecl was built without MPI: the MPI part is not run"
    finish
    exit
fi
for model in switch topk; do
    train $model 2 48 "$WORK/mpi2-$model" --expert-parallel
    trained "$model: 2 ranks, expert parallel"
    against_one "$model, expert parallel on 2 MPI ranks against one device" "$WORK/one-$model" "$WORK/mpi2-$model"
done
train switch 3 47 "$WORK/mpi3" --expert-parallel
trained "switch: 3 ranks (16, 16 and 15 images), expert parallel"
against_one "switch, expert parallel on 3 MPI ranks against one device" "$WORK/one47" "$WORK/mpi3"
compare_checkpoints "switch: one device against 3 ranks expert parallel" "$WORK/one47" "$WORK/mpi3"
finish
