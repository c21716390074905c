#!/usr/bin/env bash
# The accuracy protocol of the airbench presets: each model trained with
# its own recipe (`moecl train --model M --seed S`, nothing else) for each
# seed, one run directory each under $ACCURACY_OUT (default runs/accuracy),
# then every finished run tested with its recipe's test-time augmentation
# on all 10,000 test images and on the first 1,017 (the test batch's exact
# pixels: ../shared/cifar10/README.md), and $ACCURACY_OUT/ACCURACY.md: per
# model the mean, the sample standard deviation and the range over seeds,
# and the training minutes.
# Resumable: a finished run is skipped and an interrupted one resumed, so
# the protocol can span several sittings.
# Usage: scripts/accuracy.sh [MODEL...] (default: airbench and two MoE twins
# at its FLOPs per image, airbench_experts and airbench_switch);
# ACCURACY_SEEDS (default "1 2 3"); ACCURACY_ARGS: more `moecl train`
# options (tests: "--synthetic 200 --epochs 1 --batch 50").
set -uo pipefail
cd "$(dirname "$0")/.."
MOECL=${MOECL:-./build/moecl}
OUT=${ACCURACY_OUT:-runs/accuracy}
SEEDS=${ACCURACY_SEEDS:-1 2 3}
if [ -z "${MOECL_DATA:-}" ] && [ -f ../shared/cifar10/data_batch_1.bin ]; then
  export MOECL_DATA="$PWD/../shared/cifar10"
fi
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(airbench airbench_experts airbench_switch)
mkdir -p "$OUT"
# seeds outside, models inside: after each seed every model has a run of it,
# so a protocol stopped part way still compares the models seed by seed
for s in $SEEDS; do
  for m in "${models[@]}"; do
    name=$(basename "$m" .json)
    dir="$OUT/$name-s$s"
    if [ -f "$dir/result.json" ]; then
      echo "accuracy: $name seed $s finished earlier ($dir/result.json)"
      continue
    fi
    if [ -f "$dir/options.json" ] && [ -f "$dir/state.safetensors" ]; then
      "$MOECL" train --resume "$dir"
    else
      "$MOECL" train --model "$m" --seed "$s" ${ACCURACY_ARGS:-} --out "$dir"
    fi
    rc=$?
    case $rc in
      0 | 3) ;;
      130) echo "accuracy: interrupted; run this again to resume $dir"; exit 130 ;;
      *) echo "accuracy: $m seed $s failed (exit $rc)"; exit "$rc" ;;
    esac
  done
done

# a number field of a JSON text
field() { grep -oE "\"$1\":[[:space:]]*[-0-9.eE+]+" | head -1 | sed 's/.*:[[:space:]]*//'; }
# mean, sample standard deviation, min and max of the numbers on stdin
stats() { awk '{ x[NR] = $1; s += $1 } END {
  if (NR == 0) { print "- | - | -"; exit }
  m = s / NR; v = 0; lo = x[1]; hi = x[1]
  for (i = 1; i <= NR; i++) { v += (x[i] - m) ^ 2; if (x[i] < lo) lo = x[i]; if (x[i] > hi) hi = x[i] }
  sd = NR > 1 ? sqrt(v / (NR - 1)) : 0
  printf "%.2f | %.2f | %.2f-%.2f\n", 100 * m, 100 * sd, 100 * lo, 100 * hi }'; }

{
  echo "| model | seeds | test accuracy %, all 10,000: mean | sd | range | first 1,017: mean | sd | range | training min (mean) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for m in "${models[@]}"; do
    all=() exact=() minutes=()
    for s in $SEEDS; do
      dir="$OUT/$(basename "$m" .json)-s$s"
      [ -f "$dir/result.json" ] || continue
      tta=$(grep -oE '"tta":[[:space:]]*"[a-z]+"' "$dir/options.json" | sed 's/.*"\([a-z]*\)"$/\1/')
      all+=("$(field test_accuracy <"$dir/result.json")")
      minutes+=("$(field train_minutes <"$dir/result.json")")
      exact+=("$("$MOECL" --quiet eval --checkpoint "$dir/last.safetensors" --test-examples 1017 \
        --tta "${tta:-none}" --json ${ACCURACY_EVAL_ARGS:-} 2>/dev/null | field accuracy)")
    done
    mean_minutes=$(printf '%s\n' "${minutes[@]}" | awk 'NF { s += $1; n++ } END { printf "%.1f", n ? s / n : 0 }')
    echo "| $(basename "$m" .json) | ${#all[@]} | $(printf '%s\n' "${all[@]}" | grep . | stats) | $(printf '%s\n' "${exact[@]}" | grep . | stats) | $mean_minutes |"
  done
} | tee "$OUT/ACCURACY.md"
