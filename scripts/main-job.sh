#!/usr/bin/env bash
# The main job, self-sufficient on a fresh Debian 12 machine (run as root): installs
# dependencies, builds, prints the worked-example transfer table, and regenerates the quick
# profile of every experiment (CSV + verdicts.json + figures) into results/quick/, every figure
# into results/figures/, and the gathered verdicts into results/quick/REPORT.md.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh release
muelab=build/release/cli/muelab
echo
echo "== Worked example of docs/theory.md §5.3: dense proxy (d=128) -> 128e8a1s MoE (d=1024), 4x steps =="
$muelab transfer --base experiments/configs/worked-example/base-lm.toml \
                 --target experiments/configs/worked-example/target-moe.toml --rule complete-mue
echo
echo "== Every rule source side by side on the same transfer =="
$muelab transfer --base experiments/configs/worked-example/base-lm.toml \
                 --target experiments/configs/worked-example/target-moe.toml --compare
echo
echo "== Every experiment, quick profile: verdicts in results/quick/REPORT.md, figures in results/figures/ =="
# A fresh run cache: inside this job a run that several experiments share is trained once, and every
# distinct run is trained (none is read back from an earlier main job; docs/development.md §4).
rm -f results/quick/run-cache.tsv
$muelab figures --profile quick --out results
