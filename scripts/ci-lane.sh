#!/usr/bin/env bash
# One CI lane besides the README's test command (docs/development.md §3, "CI lanes"):
#   asan   ASan + UBSan build (preset asan), the whole suite
#   clang  Clang 14 build with warnings as errors (preset clang), every test but the smoke profiles
#          (the same experiment code already runs under GCC and under ASan) and the PyTorch example
#          (label example: two minutes of PyTorch around one binding call that other tests cover)
# Each lane configures, builds and tests its own build/<preset> tree and prints its wall time.
# Usage: scripts/ci-lane.sh asan|clang
set -euo pipefail
cd "$(dirname "$0")/.."
lane="${1:-}"
start=$(date +%s)
case "$lane" in
  asan)
    ./scripts/install-deps.sh >/dev/null
    ./scripts/build.sh asan
    # Leaks are not findings here: OpenBLAS and the OpenMP runtime keep thread pools alive at exit.
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1" \
      ctest --preset asan -j "$(nproc)"
    ;;
  clang)
    ./scripts/install-deps.sh clang >/dev/null
    ./scripts/build.sh clang
    ctest --preset clang -j "$(nproc)" -LE "smoke|example"
    ;;
  *)
    echo "ci-lane: unknown lane '$lane' (accepted: asan, clang)" >&2
    exit 2
    ;;
esac
echo "ci-lane $lane: passed in $(( $(date +%s) - start )) s"
