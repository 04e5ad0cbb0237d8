#!/usr/bin/env bash
# The CUDA recipes of docs/claims.md ("CUDA recipes"): LR transfer on the capacity-bound task at widths
# and depths beyond what the 2-core CPU affords. NOT YET RUN on a GPU: no result of them is committed.
#
#   scripts/cuda-recipe.sh width|depth [OUT]   build with CUDA, run the sweep (resumable: rerun the same
#                                              command after a kill), then `muelab analyze` it
#   scripts/cuda-recipe.sh check width|depth   the same pipeline on the CPU at 3 steps of 2 × 8 tokens,
#                                              1 seed and 2 LRs (tests/experiments: proves the configs
#                                              load and analyze; 16 tokens, not 1024, because at d = 1024
#                                              and L = 64 the full batch took ~2 minutes under ASan)
#
# The sweeps (experiments/configs/capacity-cuda/{width,depth}.toml) train from target.toml, transferred
# from the dense proxy proxy.toml by each rule; `muelab analyze` fits every LR curve's optimum under the
# edge policy, the drift per doubling of d_model or n_layers, and judges it (SP rows are controls). When
# it lists points to add (analysis/points_to_add.csv), add those LRs to the sweep file's grid and rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
configs=experiments/configs/capacity-cuda

if [ "${1:-}" = "check" ]; then
  axis="${2:?usage: scripts/cuda-recipe.sh check width|depth}"
  muelab_bin="${MUELAB_BIN:-build/release/cli/muelab}"
  work="$(mktemp -d)"
  trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
  cp "$configs/target.toml" "$work/"
  # Same B and T as the runs, so that q = 1 (the square-root rule changes nothing).
  sed -e 's|^steps = .*|steps = 3|' -e 's|^batch_size = .*|batch_size = 2|' -e 's|^seq_len = .*|seq_len = 8|' \
      "$configs/proxy.toml" > "$work/proxy.toml"
  # The recipe's sweep with the CPU trainer, 3 steps of 2 × 8 tokens, one seed and two LRs (the rest unchanged).
  sed -e "s|^command = .*|command = [\"$(realpath "$muelab_bin")\", \"train\", \"--device\", \"cpu\"]\nset = [\"train.steps=3\", \"train.batch_size=2\", \"train.seq_len=8\", \"schedule.warmup_steps=1\", \"trainer.eval_interval=3\", \"trainer.eval_batches=1\"]|" \
      -e 's|^seeds = .*|seeds = [1]|' \
      -e 's|^"transfer.lr" = .*|"transfer.lr" = [6.4e-3, 1.28e-2]|' \
      "$configs/$axis.toml" > "$work/$axis.toml"
  "$muelab_bin" sweep --config "$work/$axis.toml" --out "$work/out" --jobs 2
  "$muelab_bin" analyze "$work/out" --control transfer.rule=sp
  test -s "$work/out/analysis/drifts.csv"
  # SP's slices must be read as control rows (their rule is written as TOML text in results.csv).
  python3 -c 'import json, sys; rows = json.load(open(sys.argv[1]))["verdicts"]; sys.exit(0 if any(r["kind"] == "control" for r in rows) else "no control row")' "$work/out/analysis/verdicts.json"
  echo "cuda-recipe check $axis: ok"
  exit 0
fi

axis="${1:?usage: scripts/cuda-recipe.sh width|depth [OUT]}"
case "$axis" in width|depth) ;; *) echo "cuda-recipe: axis must be width or depth (got $axis)" >&2; exit 2 ;; esac
out="${2:-sweeps/capacity-$axis-cuda}"
scripts/install-deps.sh
cmake --preset release -DMUELAB_CUDA=ON >/dev/null
cmake --build --preset release -j "$(nproc)" --target muelab
export PATH="$PWD/build/release/cli:$PATH"   # the sweep's command is `muelab train --device cuda`
muelab sweep --config "$configs/$axis.toml" --out "$out" --jobs 1
muelab analyze "$out" --control transfer.rule=sp
