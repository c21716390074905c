#!/usr/bin/env bash
# Sets everything up and runs the main job: installs the packages, builds,
# lists the OpenCL devices and trains the default MoE (switch) on CIFAR-10
# with the settings the README's figures were measured with (horizontal
# flips, the rate annealed over the epochs: 67.2% test accuracy in 10 epochs
# on the full set). Arguments go to `moecl train` after those and win over
# them (e.g. --device 1 --epochs 5, --augment none). The data is
# taken from $MOECL_DATA, else ../shared/cifar10 where that exists, else
# ./data/cifar-10-batches-bin, else downloaded there (md5-checked).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
if [ -z "${MOECL_DATA:-}" ] && [ -f ../shared/cifar10/data_batch_1.bin ]; then
  export MOECL_DATA="$PWD/../shared/cifar10"
fi
./build/moecl devices
./build/moecl train --augment flip --schedule cosine "$@"
