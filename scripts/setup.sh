#!/usr/bin/env bash
# Installs the Debian packages moecl needs to build, test and run, once:
# packages already present are not touched, and nothing runs apt when all
# are there. Runs apt as root, or through sudo for other users.
set -euo pipefail

PACKAGES=(
  gcc make cmake pkg-config          # build tools
  ocl-icd-opencl-dev opencl-headers  # the OpenCL ICD loader and headers
  pocl-opencl-icd clinfo             # PoCL: OpenCL on the CPU, and a device lister
  libclblast-dev                     # CLBlast: GEMM on any OpenCL device
  clblast-utils                      # CLBlast's tuners, for 'moecl tune'
  libpng-dev                         # pictures
  libcjson-dev                       # JSON: model files, checkpoint headers
  curl                               # downloads CIFAR-10 where it is not found
  oclgrind                           # OpenCL device simulator: checks kernels for bad accesses
  clang libclang-rt-dev              # clang, libFuzzer and its sanitizers (scripts/fuzz.sh)
  libopenmpi-dev openmpi-bin         # Open MPI: data-parallel training, mpirun -np N moecl train
  python3-numpy                      # scripts/jpeg_roundtrip.py (and its test, which skips without it)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
