#!/usr/bin/env bash
# The main job, self-sufficient on a fresh Debian 12 machine (run as root): installs
# dependencies, builds, and regenerates the default tables, figures and verdicts into results/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh release
muelab=build/release/cli/muelab
echo
echo "== Worked example of THEORY.md §5.3: dense proxy (d=128) -> 128e8a1s MoE (d=1024), 4x steps =="
$muelab transfer --base experiments/configs/worked-example/base-lm.toml \
                 --target experiments/configs/worked-example/target-moe.toml --rule complete-mue
