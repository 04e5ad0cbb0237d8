#!/usr/bin/env bash
# Where each microsecond of a training step goes (bench/models/results.md, "Where a step goes"): runs
# bench_models_step under `perf record` for each case, one thread, and sorts the samples into the
# step's components (profile_components.py). Needs perf (Debian linux-perf) and an idle machine: like
# run.sh it refuses above a load of 0.5 per core (MUELAB_BENCH_ALLOW_LOAD=1 overrides).
# Usage: bench/models/profile.sh BUILD_DIR [CASE ...]   (default cases: d32-dense d32-moe d128-dense d128-moe)
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:?usage: bench/models/profile.sh BUILD_DIR [CASE ...]}"
shift
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(d32-dense d32-moe d128-dense d128-moe)
bin="$build/bench/models/bench_models_step"
[ -x "$bin" ] || { echo "profile.sh: $bin not built (cmake --build $build --target bench_models_step)" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 2; }
load=$(cut -d' ' -f1 /proc/loadavg)
if [ -z "${MUELAB_BENCH_ALLOW_LOAD:-}" ] && awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l / n > 0.5) }'; then
  echo "profile.sh: load average $load on $(nproc) cores is above 0.5 per core; wait for an idle machine" >&2
  exit 3
fi
echo "profile.sh: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!results' || echo -dirty), load $load, $(date -u '+%F %T') UTC"
data="$(mktemp)"
trap 'rm -f "$data"' EXIT
for c in "${cases[@]}"; do
  steps=300
  case "$c" in d128*) steps=60 ;; d256* | d512*) steps=15 ;; esac
  line=$(OMP_NUM_THREADS=1 perf record -q -o "$data" "$bin" --only "$c" --steps "$steps" --warmup 10 --threads 1 | grep '^case=')
  perf report -i "$data" --no-children --sort dso,symbol --stdio -q -g none 2>/dev/null |
    /usr/bin/python3 bench/models/profile_components.py "$line"
  echo
done
