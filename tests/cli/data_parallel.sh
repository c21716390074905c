# Data-parallel training gives the run one device would: the same model,
# seed and global batch trained for 20 steps on one device, on two devices
# of one process (--device 0,1 with PoCL's "pthread pthread"), and by
# `mpirun -np 2` (and 3, whose shares of a 47-image batch are unequal) give
# every step's training and validation loss within a relative 1e-4, and
# their checkpoints the same eval outputs; a run resumed with another
# number of ranks ends where the uninterrupted run ends; rank 0 alone
# writes the run directory. One PoCL thread a device. The model has dropout
# (masks drawn by each image's place in the global batch) and no batch norm
# (its statistics are per rank).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/compare.sh"
TOL=1e-4
export POCL_DEVICES=pthread POCL_MAX_PTHREAD_COUNT=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MODEL="$TESTS_DIR/data/dist_soft.json"

train() { # train RANKS IMAGES EPOCHS OUT [more options]
    local ranks=$1 images=$2 epochs=$3 out=$4
    shift 4
    local launcher=()
    [ "$ranks" -gt 1 ] && launcher=(mpirun -np "$ranks")
    "${launcher[@]}" "$MOECL" train --model "$MODEL" --synthetic "$images" --batch "$images" \
        --val "$images" --test-examples 40 --epochs "$epochs" --patience 0 --seed 7 --out "$out" \
        "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
    RC=$?
    OUT=$(cat "$WORK/out")
    ERR=$(cat "$WORK/err")
}

train 1 48 20 "$WORK/one"
expect_rc 0 "20 steps in one process"

# two devices in one process: a thread each
POCL_DEVICES="pthread pthread" train 1 48 20 "$WORK/devices" --device 0,1
expect_rc 0 "20 steps on 2 devices"
expect_in "$ERR" "data parallel over 2 devices" "says how it trains"
expect_in "$ERR" "a batch of 48 split 24 + 24 between 2 ranks" "equal shares by default"
[ "$(printf '%s\n' "$ERR" | grep -c "moecl: device")" -eq 2 ] && pass || fail "each device named once: $ERR"
msg=$(compare_metrics "$WORK/one/metrics.jsonl" "$WORK/devices/metrics.jsonl") && pass ||
    fail "2 devices against one: $msg"
echo "2 devices in one process against one device: $msg"
# unequal devices: --split 1,3 gives device 1 three quarters of every batch
POCL_DEVICES="pthread pthread" train 1 48 20 "$WORK/split" --device 0,1 --split 1,3
expect_rc 0 "20 steps on 2 devices split 1:3"
msg=$(compare_metrics "$WORK/one/metrics.jsonl" "$WORK/split/metrics.jsonl") && pass ||
    fail "2 devices split 1:3 against one: $msg"
echo "2 devices split 1:3 against one device: $msg"
expect_in "$ERR" "a batch of 48 split 12 + 36 between 2 ranks" "the shares follow the weights"
grep -qE '"split":[[:space:]]*"1,3"' "$WORK/split/options.json" && pass || fail "options.json keeps --split"
POCL_DEVICES="pthread pthread" train 1 48 1 "$WORK/badsplit" --device 0,1 --split 1,2,3
expect_rc 2 "--split with 3 weights for 2 devices"
expect_in "$ERR" "gives 3 weights for 2 devices" "says why"

# batch norm: synchronised statistics give one device's losses; per-device ones do not
MODEL="$TESTS_DIR/data/drivers_soft.json"
train 1 48 20 "$WORK/bn-one"
expect_rc 0 "batch norm: 20 steps on one device"
POCL_DEVICES="pthread pthread" train 1 48 20 "$WORK/bn-sync" --device 0,1 --sync-bn
expect_rc 0 "batch norm: 20 steps on 2 devices with --sync-bn"
msg=$(compare_metrics "$WORK/bn-one/metrics.jsonl" "$WORK/bn-sync/metrics.jsonl") && pass ||
    fail "--sync-bn on 2 devices against one: $msg"
echo "batch norm, --sync-bn on 2 devices against one device: $msg"
POCL_DEVICES="pthread pthread" train 1 48 20 "$WORK/bn-local" --device 0,1
expect_rc 0 "batch norm: 20 steps on 2 devices, statistics per device"
msg=$(compare_metrics "$WORK/bn-one/metrics.jsonl" "$WORK/bn-local/metrics.jsonl") &&
    fail "per-device statistics should give other losses than one device's: $msg" || pass
echo "batch norm, per-device statistics against one device: $msg"
POCL_DEVICES="pthread pthread" train 1 47 1 "$WORK/bn-short" --device 0,1 --sync-bn --batch 23
expect_rc 2 "--sync-bn with a last batch of one image on 2 devices"
expect_in "$ERR" "fewer than the 2 ranks" "says why"
MODEL="$TESTS_DIR/data/dist_soft.json"

# Ctrl-C: every rank stops at the same step, the state is saved once, exit 130
interrupt_run() { # interrupt_run OUT launcher... : a long run, SIGINT once 2 epochs are done (to
    # the launcher, or with STOP_RANK=1 to the launcher's first child, a rank)
    local out=$1
    shift
    "$@" train --model "$MODEL" --synthetic 480 --batch 16 --val 48 --test-examples 40 \
        --epochs 400 --patience 0 --seed 7 --out "$out" >"$WORK/out" 2>"$WORK/err" </dev/null &
    local pid=$! waited=0
    while [ "$(cat "$out/metrics.jsonl" 2>/dev/null | wc -l)" -lt 2 ] && [ $waited -lt 600 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if [ -n "${STOP_RANK:-}" ]; then
        kill -"${STOP_SIGNAL:-INT}" "$(pgrep -P "$pid" | head -1)"
    else
        kill -INT "$pid"
    fi
    wait "$pid"
    RC=$?
    ERR=$(cat "$WORK/err")
}
POCL_DEVICES="pthread pthread" interrupt_run "$WORK/ctrlc" "$MOECL" --device 0,1
expect_rc 130 "Ctrl-C on 2 devices"
[ "$(printf '%s\n' "$ERR" | grep -c "state saved")" -eq 1 ] && pass || fail "the state saved once: $ERR"
POCL_DEVICES="pthread pthread" run --device 0,1 train --resume "$WORK/ctrlc" --epochs 3
expect_rc 0 "the interrupted run resumed on 2 devices"

POCL_DEVICES="pthread pthread" train 1 48 2 "$WORK/nodevice" --device 0,7
expect_rc 2 "a list naming a device that is not there"
expect_in "$ERR" "7" "the error names it"

if ! command -v mpirun >/dev/null; then
    echo "data_parallel: no mpirun (scripts/setup.sh installs Open MPI): the MPI part is not run"
    finish
    exit
fi
train 2 48 20 "$WORK/two"
if [ "$RC" -ne 0 ] && printf '%s' "$ERR" | grep -q "built without MPI"; then
    echo "data_parallel: this moecl was built without MPI: the MPI part is not run"
    finish
    exit
fi
expect_rc 0 "20 steps on 2 ranks"
expect_in "$ERR" "data parallel over 2 ranks" "rank 0 says how it trains"
[ "$(printf '%s\n' "$OUT" | grep -c "test acc")" -eq 1 ] && pass || fail "rank 0 alone reports: $OUT"
msg=$(compare_metrics "$WORK/one/metrics.jsonl" "$WORK/two/metrics.jsonl") && pass ||
    fail "2 ranks against one process: $msg"
echo "2 ranks against one process: $msg"

train 1 47 20 "$WORK/one47"
expect_rc 0 "47 images a batch in one process"
train 3 47 20 "$WORK/three47"
expect_rc 0 "47 images a batch on 3 ranks (16, 16 and 15 each)"
msg=$(compare_metrics "$WORK/one47/metrics.jsonl" "$WORK/three47/metrics.jsonl") && pass ||
    fail "3 ranks against one process: $msg"
echo "3 ranks, unequal shares, against one process: $msg"

# the checkpoints: eval of each on the same images
compare_checkpoints "1 process against 2 ranks" "$WORK/one" "$WORK/two"

# batch norm over 2 ranks with --sync-bn
MODEL="$TESTS_DIR/data/drivers_soft.json"
train 2 48 20 "$WORK/bn-mpi" --sync-bn
expect_rc 0 "batch norm: 20 steps on 2 ranks with --sync-bn"
msg=$(compare_metrics "$WORK/bn-one/metrics.jsonl" "$WORK/bn-mpi/metrics.jsonl") && pass ||
    fail "--sync-bn on 2 ranks against one process: $msg"
echo "batch norm, --sync-bn on 2 ranks against one process: $msg"
MODEL="$TESTS_DIR/data/dist_soft.json"

# 10 epochs on 2 ranks, resumed to 20 on one process: the 20-step run's end
train 2 48 10 "$WORK/resumed"
expect_rc 0 "10 steps on 2 ranks"
"$MOECL" train --resume "$WORK/resumed" --epochs 20 >"$WORK/out" 2>"$WORK/err" </dev/null
RC=$?
ERR=$(cat "$WORK/err")
expect_rc 0 "resumed to 20 steps in one process"
msg=$(compare_metrics "$WORK/one/metrics.jsonl" "$WORK/resumed/metrics.jsonl") && pass ||
    fail "2 ranks then one process against one process throughout: $msg"
echo "2 ranks resumed on one process: $msg"

# Ctrl-C under mpirun: it sends every rank SIGCONT, SIGTERM a second later,
# SIGKILL a second after; the ranks take the SIGCONT as the request, stop at
# the same step and rank 0 saves the state once (each rank exits with 130;
# mpirun reports its own code)
interrupt_run "$WORK/ctrlc-mpi" mpirun -np 2 "$MOECL"
[ "$RC" -ne 0 ] && pass || fail "Ctrl-C under mpirun: exit code 0"
[ "$(printf '%s\n' "$ERR" | grep -c "state saved")" -eq 1 ] && pass || fail "the state saved once: $ERR"
timeout 300 mpirun -np 2 "$MOECL" train --resume "$WORK/ctrlc-mpi" --epochs 3 >"$WORK/out" 2>"$WORK/err" </dev/null
RC=$?
ERR=$(cat "$WORK/err")
expect_rc 0 "the interrupted run resumed on 2 ranks"

# SIGINT to one rank (Ctrl-C on mpirun gives the ranks a second before it
# kills them): the stop travels with the step's gradient exchange, so every
# rank stops at the same step, rank 0 saves once and mpirun exits with 130
STOP_RANK=1 interrupt_run "$WORK/rank-int" mpirun -np 2 "$MOECL"
expect_rc 130 "SIGINT to one rank under mpirun"
[ "$(printf '%s\n' "$ERR" | grep -c "state saved")" -eq 1 ] && pass || fail "the state saved once (SIGINT to a rank): $ERR"
timeout 300 mpirun -np 2 "$MOECL" train --resume "$WORK/rank-int" --epochs 3 >"$WORK/out" 2>"$WORK/err" </dev/null
RC=$?
ERR=$(cat "$WORK/err")
expect_rc 0 "the run stopped at one rank resumed on 2 ranks"

# the SIGCONT alone, to one rank: the run stops after a step with its state saved
STOP_RANK=1 STOP_SIGNAL=CONT interrupt_run "$WORK/rank-cont" mpirun -np 2 "$MOECL"
expect_rc 130 "SIGCONT to one rank under mpirun"
[ "$(printf '%s\n' "$ERR" | grep -c "state saved")" -eq 1 ] && pass || fail "the state saved once (SIGCONT to a rank): $ERR"

# rank 0 killed (as kill -9) at the third epoch's end, between its metrics line
# and its state: mpirun stops the other rank; a resume on 2 ranks goes on
# from the second epoch and ends where the uninterrupted run ends
MOECL_TEST_KILL=epoch-end:metrics@3 timeout 300 mpirun -np 2 "$MOECL" train --model "$MODEL" \
    --synthetic 48 --batch 48 --val 48 --test-examples 40 --epochs 20 --patience 0 --seed 7 \
    --out "$WORK/killed" >"$WORK/out" 2>"$WORK/err" </dev/null
RC=$?
ERR=$(cat "$WORK/err")
[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && pass || fail "a killed rank stops the run (exit code $RC; 124: the other rank hung)"
timeout 300 mpirun -np 2 "$MOECL" train --resume "$WORK/killed" >"$WORK/out" 2>"$WORK/err" </dev/null
RC=$?
ERR=$(cat "$WORK/err")
expect_rc 0 "the killed run resumed on 2 ranks"
expect_in "$ERR" "after epoch 2" "from the last whole epoch"
msg=$(compare_metrics "$WORK/one/metrics.jsonl" "$WORK/killed/metrics.jsonl") && pass ||
    fail "killed and resumed on 2 ranks against one process throughout: $msg"
echo "rank 0 killed at an epoch's end, resumed on 2 ranks: $msg"

# rank 0 alone writes: the run directory holds one run's files, nothing per rank
[ "$(wc -l <"$WORK/two/metrics.jsonl")" -eq 20 ] && pass || fail "metrics.jsonl has $(wc -l <"$WORK/two/metrics.jsonl") lines, not 20"
finish
