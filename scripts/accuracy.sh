#!/usr/bin/env bash
# The accuracy protocol of the airbench presets: each model trained with
# its own recipe (`moecl train --model M --seed S`, nothing else) for each
# seed, one run directory each under $ACCURACY_OUT (default runs/accuracy),
# then every finished run tested with its recipe's test-time augmentation
# on all 10,000 test images and on the first 1,017 (the test batch's exact
# pixels: ../shared/cifar10/README.md) and recorded as a line of
# $ACCURACY_RECORD (default docs/accuracy-runs.tsv, kept in git: run
# directories do not outlive a machine, the record does), and
# $ACCURACY_OUT/ACCURACY.md made from the record: per model the mean, the
# sample standard deviation and the range over its recorded seeds, and the
# training minutes.
# Resumable: a recorded or finished run is skipped and an interrupted one
# resumed, so the protocol can span several sittings and machines.
# Usage: scripts/accuracy.sh [MODEL...] (default: airbench and its MoE twins
# at its FLOPs per image: airbench_experts, airbench_switch, airbench_moe and
# airbench_moe_balanced; a model file's name is its file name);
# ACCURACY_SEEDS (default "1 2 3"); ACCURACY_ARGS: more `moecl train`
# options (tests: "--synthetic 200 --epochs 1 --batch 50"); ACCURACY_NOTE:
# a word for the record's note column (say "shared" when other work shared
# the cores: the minutes are then not the model's own).
set -uo pipefail
cd "$(dirname "$0")/.."
MOECL=${MOECL:-./build/moecl}
OUT=${ACCURACY_OUT:-runs/accuracy}
RECORD=${ACCURACY_RECORD:-docs/accuracy-runs.tsv}
SEEDS=${ACCURACY_SEEDS:-1 2 3}
if [ -z "${MOECL_DATA:-}" ] && [ -f ../shared/cifar10/data_batch_1.bin ]; then
  export MOECL_DATA="$PWD/../shared/cifar10"
fi
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(airbench airbench_experts airbench_switch airbench_moe airbench_moe_balanced)
mkdir -p "$OUT"
[ -f "$RECORD" ] || printf '# model\tseed\ttest_all\ttest_exact_1017\ttrain_minutes\tdevice\tcommit\tdate\tnote\n' >"$RECORD"

# a number field of a JSON text
field() { grep -oE "\"$1\":[[:space:]]*[-0-9.eE+]+" | head -1 | sed 's/.*:[[:space:]]*//'; }
# whether the record has a line for model $1, seed $2
recorded() { awk -F'\t' -v m="$1" -v s="$2" '!/^#/ && $1 == m && $2 == s { f = 1 } END { exit !f }' "$RECORD"; }
# a finished run's line in the record: its test accuracy on all test images
# (with the recipe's TTA, from result.json) and on the exact first 1,017
record() { # record NAME SEED DIR
  local tta all exact minutes device
  tta=$(grep -oE '"tta":[[:space:]]*"[a-z]+"' "$3/options.json" | sed 's/.*"\([a-z]*\)"$/\1/')
  all=$(field test_accuracy <"$3/result.json")
  minutes=$(field train_minutes <"$3/result.json")
  exact=$("$MOECL" --quiet eval --checkpoint "$3/last.safetensors" --test-examples 1017 \
    --tta "${tta:-none}" --json ${ACCURACY_EVAL_ARGS:-} 2>/dev/null | field accuracy)
  if [ -z "$all" ] || [ -z "$exact" ]; then
    echo "accuracy: cannot read the test accuracy of $3" >&2
    return 1
  fi
  device=$("$MOECL" --quiet devices 2>/dev/null | sed -n 's/^\* [0-9]*: //p' | head -1)
  printf '%s\t%s\t%.4f\t%.4f\t%.1f\t%s\t%s\t%s\t%s\n' "$1" "$2" "$all" "$exact" "$minutes" \
    "${device:-?}" "$(git rev-parse --short HEAD 2>/dev/null || echo ?)" "$(date +%F)" \
    "${ACCURACY_NOTE:--}" >>"$RECORD"
  echo "accuracy: $1 seed $2: $all on all test images, $exact on the first 1,017 (recorded in $RECORD)"
}

# seeds outside, models inside: after each seed every model has a run of it,
# so a protocol stopped part way still compares the models seed by seed
for s in $SEEDS; do
  for m in "${models[@]}"; do
    name=$(basename "$m" .json)
    dir="$OUT/$name-s$s"
    if recorded "$name" "$s"; then
      echo "accuracy: $name seed $s finished earlier (in $RECORD)"
      continue
    fi
    if [ ! -f "$dir/result.json" ]; then
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
    fi
    record "$name" "$s" "$dir" || exit 1
  done
done

# mean, sample standard deviation, min and max of the numbers on stdin
stats() { awk '{ x[NR] = $1; s += $1 } END {
  if (NR == 0) { print "- | - | -"; exit }
  m = s / NR; v = 0; lo = x[1]; hi = x[1]
  for (i = 1; i <= NR; i++) { v += (x[i] - m) ^ 2; if (x[i] < lo) lo = x[i]; if (x[i] > hi) hi = x[i] }
  sd = NR > 1 ? sqrt(v / (NR - 1)) : 0
  printf "%.2f | %.2f | %.2f-%.2f\n", 100 * m, 100 * sd, 100 * lo, 100 * hi }'; }
# column $2 of the record's lines of model $1 (its first line per seed)
column() { awk -F'\t' -v m="$1" -v c="$2" '!/^#/ && $1 == m && !seen[$2]++ { print $c }' "$RECORD"; }

{
  echo "| model | seeds | test accuracy %, all 10,000: mean | sd | range | first 1,017: mean | sd | range | training min (mean) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for m in "${models[@]}"; do
    name=$(basename "$m" .json)
    n=$(column "$name" 2 | grep -c .)
    mean_minutes=$(column "$name" 5 | awk 'NF { s += $1; n++ } END { printf "%.1f", n ? s / n : 0 }')
    echo "| $name | $n | $(column "$name" 3 | stats) | $(column "$name" 4 | stats) | $mean_minutes |"
  done
} | tee "$OUT/ACCURACY.md"
