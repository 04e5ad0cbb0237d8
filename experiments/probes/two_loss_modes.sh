#!/usr/bin/env bash
# Probe of the two loss modes of MoE runs on the capacity-bound task (README "Where the evidence
# stands", docs/claims.md "Two loss modes on the capacity task"). Exploratory: it has no verdict and
# no tolerance; it records, per seed, the training curve's plateaus and the final validation loss of
# the init-transfer shape (d = 32, L = 2, N = 8, h = d, complete-mue from the dense proxy at
# η = 1.28e-2, λ = 0.1 unless an arm says otherwise: the same TOML that
# experiments/transformer/src/common.cpp builds) in these arms:
#   a2-init-4      a = 2, proxy init std 2^-4      1500 steps
#   a2-init-5.5    a = 2, proxy init std 2^-5.5    1500 steps
#   a2-init-5.5-3k a = 2, proxy init std 2^-5.5    3000 steps (WSD decay over the last 20% as well)
#   a8-init-5.5    a = 8, proxy init std 2^-5.5    1500 steps
#   dense-2d-init-5.5  dense H = 2d (a = 2's active width), init 2^-5.5, 1500 steps
#   dense-8d-init-5.5  dense H = 8d (N = 8's total expert width), init 2^-5.5, 1500 steps
#   dense-8d-init-4    dense H = 8d, init 2^-4, 1500 steps
#   a4-lr-6.64 / a4-lr-5.14  a = 4 at the LR experiments' init std 0.02 and the proxy LRs 2^-6.64 and
#                      2^-5.14: the two dips of lr-transfer-capacity-controls' a = 4 curves
# 10 seeds each (trainer seeds 7001..7010, those of init-transfer's seed indices 1..5 and five more),
# 90 runs, ≈ 11 minutes on one core. Outputs (written only when every run finished): OUT/runs.csv
# (one row per run) and OUT/summary.md (per arm). Usage: two_loss_modes.sh [MUELAB] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=probe_common.sh
source "$here/probe_common.sh"
probe_setup two_loss_modes.sh two-loss-modes "$@"

run_arm() {  # name model-table steps init [lr]
  local name=$1 model=$2 steps=$3 init=$4 lr=${5:-0.0128}
  base_toml "$steps" "$init" "$lr" > "$work/base_$name.toml"
  for seed in 7001 7002 7003 7004 7005 7006 7007 7008 7009 7010; do
    target_toml "$model" "$steps" "$init" "$seed" "base_$name.toml" "$lr" > "$work/$name-$seed.toml"
    "$muelab" train --config "$work/$name-$seed.toml" --out "$work/runs/$name-$seed" > /dev/null 2> "$work/train.log" ||
      { cat "$work/train.log" >&2; exit 1; }
  done
  echo "two_loss_modes: arm $name done" >&2
}

# The exact floor of a model that reads only the last token, H(X_1 | X_0): the markov-k loss floor at
# seq_len 1 (docs/theory.md §9), printed by a one-step run (its loss is not used).
target_toml "$(model_moe 2)" 1 0.0625 7001 base_ref.toml 0.0128 |
  sed -e 's/^seq_len = 64/seq_len = 1/' -e 's/^warmup_steps = 100/warmup_steps = 0/' > "$work/ref.toml"
base_toml 1 0.0625 0.0128 | sed 's/^seq_len = 64/seq_len = 1/' > "$work/base_ref.toml"
"$muelab" train --config "$work/ref.toml" --out "$work/ref" 2> "$work/ref.log" > /dev/null || { cat "$work/ref.log" >&2; exit 1; }
last_token_floor=$(sed -n 's/.*exact loss floor at seq_len 1: \([0-9.]*\).*/\1/p' "$work/ref.log")
[[ -n "$last_token_floor" ]] || { echo "two_loss_modes.sh: the seq_len 1 floor was not printed (see $work/ref.log)" >&2; exit 1; }

run_arm a2-init-4 "$(model_moe 2)" 1500 0.0625
run_arm a2-init-5.5 "$(model_moe 2)" 1500 0.02209708691207961
run_arm a2-init-5.5-3k "$(model_moe 2)" 3000 0.02209708691207961
run_arm a8-init-5.5 "$(model_moe 8)" 1500 0.02209708691207961
run_arm dense-2d-init-5.5 "$(model_dense 64)" 1500 0.02209708691207961
run_arm dense-8d-init-5.5 "$(model_dense 256)" 1500 0.02209708691207961
run_arm dense-8d-init-4 "$(model_dense 256)" 1500 0.0625
run_arm a4-lr-6.64 "$(model_moe 4)" 1500 0.02 0.01
run_arm a4-lr-5.14 "$(model_moe 4)" 1500 0.02 0.028284271247461908

/usr/bin/env python3 "$here/two_loss_modes_summary.py" "$work/runs" "$last_token_floor" "$revision" "$muelab" "$work/out"
probe_publish
echo "two_loss_modes: wrote $out/runs.csv and $out/summary.md" >&2
