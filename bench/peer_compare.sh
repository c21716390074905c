#!/usr/bin/env bash
# moecl against PyTorch on the same cores, in one sitting: for each preset
# (default vgg flat switch) moecl's `bench train` then bench/pytorch_peer.py
# at the same batch, training and inference images per second, and the
# ratios. Warm moecl's caches first (a first run measures its choices).
# Needs Debian's python3-torch (run by /usr/bin/python3).
# Usage: bash bench/peer_compare.sh [PRESET...]   (MOECL, BATCH, STEPS override)
set -euo pipefail
cd "$(dirname "$0")/.."
MOECL=${MOECL:-./build/moecl}
BATCH=${BATCH:-128}
STEPS=${STEPS:-5}
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(vgg flat switch)
figure() { sed -n "s/^$1: *\([0-9.]*\) images.*/\1/p"; }
printf '%-8s %10s %10s %7s %10s %10s %7s\n' preset "moecl trn" "torch trn" ratio "moecl inf" "torch inf" ratio
for p in "${presets[@]}"; do
  # warm: choices measured (routed experts see a new batch size now and then: 10 steps)
  "$MOECL" --quiet bench train --model "$p" --batch "$BATCH" --steps 10 >/dev/null
  m=$("$MOECL" --quiet bench train --model "$p" --batch "$BATCH" --steps "$STEPS")
  t=$(/usr/bin/python3 bench/pytorch_peer.py --model "$p" --batch "$BATCH" --steps "$STEPS")
  mt=$(figure training <<<"$m"); mi=$(figure inference <<<"$m")
  tt=$(figure training <<<"$t"); ti=$(figure inference <<<"$t")
  awk -v p="$p" -v mt="$mt" -v tt="$tt" -v mi="$mi" -v ti="$ti" \
    'BEGIN { printf "%-8s %10.1f %10.1f %6.2fx %10.1f %10.1f %6.2fx\n", p, mt, tt, mt / tt, mi, ti, mi / ti }'
done
