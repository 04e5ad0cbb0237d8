#!/usr/bin/env bash
# Installs every Debian 12 package muelab needs to build, test and draw its figures.
# With the argument `fuzz`, also the fuzzing toolchain; `clang`, the second compiler of the CI lane;
# `lint`, clang-format and clang-tidy (scripts/lint.sh). Idempotent: packages already present are not touched, and apt-get update runs only when
# something is missing. Run as root (or with sudo available).
set -euo pipefail

packages=(
  # toolchain (preinstalled on developer machines, absent on a bare Debian 12)
  build-essential cmake git pkg-config ca-certificates
  # numerics
  libeigen3-dev libboost-dev librandom123-dev libopenblas-dev libopenblas0-pthread
  # the trainer's float GEMM engine (oneDNN sgemm; docs/development.md §1)
  libdnnl-dev
  # configs, command line, JSON, formatting, tests
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libfmt-dev catch2
  # distributed sweeps (mpirun on loopback in the tests)
  libopenmpi-dev openmpi-bin
  # figures and the numpy baseline (always run with /usr/bin/python3)
  python3 python3-numpy python3-matplotlib
  # the Python package (pybind11 module)
  python3-dev pybind11-dev
  # the PyTorch oracle and baseline of the trainer, and real English text for its language model
  python3-torch fortunes
)
# `install-deps.sh fuzz`: also Clang with libFuzzer and its OpenMP runtime (scripts/fuzz.sh).
case "${1:-}" in
  fuzz) packages+=(clang libclang-rt-14-dev libomp-14-dev) ;;
  clang) packages+=(clang libomp-14-dev) ;;
  lint) packages+=(clang-format clang-tidy) ;;
  "") ;;
  *) echo "install-deps: unknown argument '$1' (accepted: fuzz, clang, lint, or none)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
