#!/usr/bin/env bash
# Data-parallel scaling in one sitting: `moecl bench train` of each preset
# (default vgg switch) on 1 device, on 2 devices of one process
# (--device 0,1, PoCL's "pthread pthread") and on 2 MPI ranks (mpirun -np 2),
# training and inference images per second at the same global batch, and
# the scaling efficiency (images/s on N / (N x images/s on 1)). On a machine
# whose devices share the same cores (PoCL on one CPU) expect no speed-up:
# the figures show the overhead of splitting the batch and exchanging the
# gradients. A routed mixture (switch, top-k) adds two rows with its experts
# spread over the ranks (--expert-parallel: expert k computed by rank k mod 2,
# the routed rows exchanged each step). Usage: bash bench/scaling.sh [PRESET...]  (MOECL, BATCH, STEPS)
set -euo pipefail
cd "$(dirname "$0")/.."
MOECL=${MOECL:-./build/moecl}
BATCH=${BATCH:-128}
STEPS=${STEPS:-5}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(vgg switch)
figure() { sed -n "s/^$1: *\([0-9.]*\) images.*/\1/p"; }
bench() { # bench LAUNCHER... [-- BENCH OPTIONS...]: prints "training inference"
  local out launcher=() extra=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do launcher+=("$1"); shift; done
  [ $# -gt 0 ] && shift && extra=("$@")
  out=$("${launcher[@]}" --quiet bench train --model "$p" --batch "$BATCH" --steps "$STEPS" ${extra[@]+"${extra[@]}"})
  echo "$(figure training <<<"$out") $(figure inference <<<"$out")"
}
printf '%-8s %-30s %10s %10s %12s %12s\n' preset where "train/s" "infer/s" "train eff." "infer eff."
for p in "${presets[@]}"; do
  POCL_DEVICES=pthread "$MOECL" --quiet bench train --model "$p" --batch "$BATCH" --steps 10 >/dev/null # warm
  read -r t1 i1 < <(POCL_DEVICES=pthread bench "$MOECL")
  read -r t2 i2 < <(POCL_DEVICES="pthread pthread" bench "$MOECL" --device 0,1)
  read -r t3 i3 < <(POCL_DEVICES=pthread POCL_MAX_PTHREAD_COUNT=1 bench mpirun -np 2 "$MOECL")
  t4= i4= t5= i5= # expert parallel: a model without routed experts refuses it (no row)
  read -r t4 i4 < <(POCL_DEVICES="pthread pthread" bench "$MOECL" --device 0,1 -- --expert-parallel 2>/dev/null || true)
  read -r t5 i5 < <(POCL_DEVICES=pthread POCL_MAX_PTHREAD_COUNT=1 bench mpirun -np 2 "$MOECL" -- --expert-parallel 2>/dev/null || true)
  for row in "1 device|$t1|$i1|1" "2 devices|$t2|$i2|2" "2 MPI ranks|$t3|$i3|2" \
             "2 devices, expert parallel|$t4|$i4|2" "2 MPI ranks, expert parallel|$t5|$i5|2"; do
    IFS='|' read -r where t i n <<<"$row"
    [ -n "$t" ] || continue
    awk -v p="$p" -v w="$where" -v t="$t" -v i="$i" -v n="$n" -v t1="$t1" -v i1="$i1" \
      'BEGIN { printf "%-8s %-30s %10.1f %10.1f %11.0f%% %11.0f%%\n", p, w, t, i, 100 * t / (n * t1), 100 * i / (n * i1) }'
  done
done
