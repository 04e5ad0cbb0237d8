#!/usr/bin/env bash
# Fuzz every input parser (tests/fuzz, docs/development.md "Fuzzing"): builds the `fuzz` preset (Clang,
# libFuzzer, ASan + UBSan), seeds each harness from tests/fixtures/ and runs it for at most SECONDS
# seconds or RUNS executions, whichever comes first. A finding stops with a non-zero status and leaves
# the crashing input in build/fuzz/findings/<harness>/ (turn it into a fixture with its one-line error).
# Usage: scripts/fuzz.sh [SECONDS=60] [RUNS=0 (no limit)]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
runs="${2:-0}"
./scripts/install-deps.sh fuzz >/dev/null
cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j "$(nproc)" --target fuzzers >/dev/null
declare -A seeds=(
  [fuzz_csv]="tests/fixtures/csv"
  [fuzz_set_override]="tests/fixtures/set-overrides"
  [fuzz_transfer_config]="tests/fixtures/good-configs tests/fixtures/bad-configs"
  [fuzz_train_config]="tests/fixtures/good-configs tests/fixtures/bad-configs experiments/configs/capacity-cuda"
  [fuzz_sweep_spec]="tests/fixtures/sweeps tests/fixtures/bad-sweeps"
  [fuzz_population_file]="tests/fixtures/population"
)
status=0
for harness in fuzz_csv fuzz_set_override fuzz_transfer_config fuzz_train_config fuzz_sweep_spec fuzz_population_file; do
  corpus="build/fuzz/corpus/$harness"
  findings="build/fuzz/findings/$harness"
  mkdir -p "$corpus" "$findings"
  for dir in ${seeds[$harness]}; do
    [ -d "$dir" ] && find "$dir" -maxdepth 1 -type f ! -name '*.sh' -exec cp -n {} "$corpus/" \;
  done
  log="build/fuzz/$harness.log"
  if build/fuzz/tests/fuzz/"$harness" "$corpus" -max_total_time="$seconds" -runs="${runs/#0/-1}" \
      -artifact_prefix="$findings/" -print_final_stats=1 -max_len=4096 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1; then
    echo "$harness: $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" || grep -m1 'stat::number_of_executed_units' "$log"), no finding"
  else
    echo "$harness: FINDING (log: $log, input in $findings/)"
    grep -m3 -E 'fuzz finding|ERROR: AddressSanitizer|runtime error|deadly signal|timeout' "$log" || true
    status=1
  fi
done
exit $status
