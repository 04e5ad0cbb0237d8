#!/usr/bin/env bash
# Benchmark: C++ Euler–Maruyama on the d = 64 Adam SDE (1 and 2 threads) against the vectorized numpy
# implementation of the same system, in the same run. Builds nothing: pass the build directory
# (configure it with -DCMAKE_BUILD_TYPE=Release and build the target bench_sde_adam).
# Usage: bench/sde/run.sh BUILD_DIR [paths] [steps] [repeats]   (best-of-repeats timings)
# Refuses to measure when the 1-minute load average exceeds 0.5 per core (an idle machine is needed
# for the ratios to mean anything); MUELAB_BENCH_ALLOW_LOAD=1 measures anyway and says so.
# Prints both wall-clock ratios and CPU-time ratios: on a shared machine the wall clock also counts
# time the scheduler gave to other processes; CPU time (all threads of the process) does not.
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 BUILD_DIR [paths] [steps] [repeats]" >&2; exit 2; fi
build="$1"; paths="${2:-512}"; steps="${3:-1000}"; repeats="${4:-3}"
bin="$build/bench/sde/bench_sde_adam"
[ -x "$bin" ] || { echo "error: $bin not found (build target bench_sde_adam first)" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
export OPENBLAS_NUM_THREADS=1 OMP_PROC_BIND=false
load_per_core=$(awk -v cpus="$(nproc)" '{ printf "%.2f", $1 / cpus }' /proc/loadavg)
if awk -v l="$load_per_core" 'BEGIN { exit !(l > 0.5) }'; then
  if [ "${MUELAB_BENCH_ALLOW_LOAD:-0}" != 1 ]; then
    echo "refusing to measure: load average $load_per_core per core > 0.5 (wait for an idle machine, or set MUELAB_BENCH_ALLOW_LOAD=1)" >&2
    exit 3
  fi
  echo "warning: load average $load_per_core per core > 0.5: these numbers are NOT from an idle machine"
fi
echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ) host=$(uname -n) cpus=$(nproc) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
cpp="$("$bin" "$paths" "$steps" "$repeats")"
numpy="$(/usr/bin/python3 "$here/adam_sde_numpy.py" "$paths" "$steps" "$repeats")"
echo "$cpp"; echo "$numpy"
echo "load_after=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
field() {  # field LINE_PATTERN KEY: the value of KEY= on the first line matching the pattern
  printf '%s\n%s\n' "$cpp" "$numpy" | awk -v pat="$1" -v key="$2" '$0 ~ pat {
    for (i = 1; i <= NF; ++i) { split($i, kv, "="); if (kv[1] == key) { print kv[2]; exit } } }'
}
one=$(field '^cpp threads=1' path_steps_per_s); two=$(field '^cpp threads=2' path_steps_per_s)
one_cpu=$(field '^cpp threads=1' path_steps_per_cpu_s); two_cpu=$(field '^cpp threads=2' path_steps_per_cpu_s)
np=$(field '^numpy' path_steps_per_s); np_cpu=$(field '^numpy' path_steps_per_cpu_s)
identical=$(field '^cpp threads=2' identical)
/usr/bin/python3 -c "
one, two, np, one_cpu, two_cpu, np_cpu = $one, $two, $np, $one_cpu, $two_cpu, $np_cpu
print('ratio C++ 1 thread / numpy, wall clock = %.2f  (target >= 8)' % (one / np))
print('ratio C++ 1 thread / numpy, CPU time   = %.2f  (target >= 8)' % (one_cpu / np_cpu))
print('speed-up 1 -> 2 threads, wall clock    = %.2f  (target >= 1.9)' % (two / one))
print('parallel efficiency (2 threads, wall)  = %.0f %%' % (50.0 * two / one))
print('CPU time per path-step, 2 threads / 1  = %.3f  (1.000 = no parallel overhead; the wall-clock speed-up'
      ' can reach 2 / this only when both cores are free)' % (one_cpu / two_cpu))
print('1 and 2 threads bit-identical          = $identical')
"
