#!/usr/bin/env bash
# Benchmark: C++ Euler–Maruyama on the d = 64 Adam SDE (1 and 2 threads) against the vectorized numpy
# implementation of the same system, in the same run. Builds nothing: pass the build directory.
# Usage: bench/sde/run.sh BUILD_DIR [paths] [steps] [repeats]   (best-of-repeats timings)
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 BUILD_DIR [paths] [steps] [repeats]" >&2; exit 2; fi
build="$1"; paths="${2:-512}"; steps="${3:-1000}"; repeats="${4:-3}"
bin="$build/bench/sde/bench_sde_adam"
[ -x "$bin" ] || { echo "error: $bin not found (build target bench_sde_adam first)" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
export OPENBLAS_NUM_THREADS=1
cpp="$("$bin" "$paths" "$steps" "$repeats")"
numpy="$(/usr/bin/python3 "$here/adam_sde_numpy.py" "$paths" "$steps" "$repeats")"
echo "$cpp"; echo "$numpy"
one=$(echo "$cpp" | awk '/threads=1/ {split($3,a,"="); print a[2]}')
two=$(echo "$cpp" | awk '/threads=2/ {split($3,a,"="); print a[2]}')
np=$(echo "$numpy" | awk '{split($2,a,"="); print a[2]}')
/usr/bin/python3 -c "
one, two, np = $one, $two, $np
print('ratio C++ 1 thread / numpy     = %.2f  (target >= 20)' % (one / np))
print('speed-up 1 -> 2 threads        = %.2f  (target >= 1.8)' % (two / one))
print('parallel efficiency (2 threads)= %.0f %%' % (50.0 * two / one))
"
