#!/usr/bin/env bash
# Sets everything up and runs the main job: installs the packages, builds,
# lists the OpenCL devices and measures GEMM speed on the chosen device.
# Extra arguments go to every moecl call (e.g. --device 1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/moecl devices "$@"
./build/moecl bench gemm "$@"
