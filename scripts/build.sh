#!/usr/bin/env bash
# Configures and builds moecl into build/ (Release, warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMOECL_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
