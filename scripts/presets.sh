#!/usr/bin/env bash
# Trains presets under one protocol, so that their accuracies and minutes
# compare: the full training set (45,000 images, the last 5,000 of the
# training batches for validation), up to 10 epochs, early stopping with
# patience 2, horizontal flips (`--augment flip`: crops as well held every
# model back in 10 epochs; the large VGG got 77.3% with flips alone, 74.7%
# with both; with both, vgg and switch trained below their validation
# accuracy to the end: they underfit), batch 128, seed 1, Adam at
# 1e-3 annealed to 0 over the 10 epochs (cosine: ten epochs are short, and
# a constant rate leaves every model short of where it would settle); one run
# directory each under $PRESETS_OUT (default runs/presets). Then writes
# $PRESETS_OUT/REPORT.md: `moecl report` of the finished runs against the
# vgg baseline, and REPORT.png, their test accuracy against minutes.
# Resumable: a finished preset is skipped and an interrupted one resumed,
# so the comparison can span several sittings (minutes are summed from each
# run's epochs; on a shared machine they vary).
# Arguments: the presets, default all of them (the cheapest first).
# PRESETS_ARGS: more `moecl train` options, after the protocol's (tests use
# "--synthetic 200 --epochs 1").
set -uo pipefail
cd "$(dirname "$0")/.."
MOECL=${MOECL:-./build/moecl}
OUT=${PRESETS_OUT:-runs/presets}
if [ -z "${MOECL_DATA:-}" ] && [ -f ../shared/cifar10/data_batch_1.bin ]; then
  export MOECL_DATA="$PWD/../shared/cifar10"
fi
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(switch topk flat convmoe vgg hier_small hier)
mkdir -p "$OUT"
for p in "${presets[@]}"; do
  dir="$OUT/$p"
  if [ -f "$dir/result.json" ]; then
    echo "presets: $p finished earlier ($dir/result.json)"
    continue
  fi
  if [ -f "$dir/options.json" ] && [ -f "$dir/state.safetensors" ]; then
    "$MOECL" train --resume "$dir"
  else
    "$MOECL" train --model "$p" --epochs 10 --patience 2 --augment flip --batch 128 --seed 1 \
      --schedule cosine \
      ${PRESETS_ARGS:-} --out "$dir"
  fi
  rc=$?
  case $rc in
    0) ;;
    3) echo "presets: $p did not learn (at chance); reported as such" ;;
    130) echo "presets: interrupted; run this again to resume $p"; exit 130 ;;
    *) echo "presets: $p failed (exit $rc)"; exit "$rc" ;;
  esac
done
finished=()
for p in "${presets[@]}"; do [ -f "$OUT/$p/result.json" ] && finished+=("$OUT/$p"); done
baseline=()
[ -f "$OUT/vgg/result.json" ] && baseline=(--baseline "$OUT/vgg")
"$MOECL" report "${finished[@]}" "${baseline[@]}" --markdown --png "$OUT/REPORT.png" |
  tee "$OUT/REPORT.md"
