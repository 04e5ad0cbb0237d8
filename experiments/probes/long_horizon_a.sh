#!/usr/bin/env bash
# Probe: does a longer horizon make the a axis of the capacity-bound task readable? (docs/claims.md,
# "Two loss modes on the capacity task" and "The a axis at four times the steps"). Exploratory: no
# verdict; it decides whether a plan change that trains the a-axis LR sweeps at T = 6000 is worth its
# compute. Shape and settings are lr-transfer-capacity-controls' along a (d = 32, L = 2, N = 8, h = d,
# complete-mue from the dense proxy, init std 0.02, λ = 0.1, WSD with the decay over the last 20%),
# at T = 6000 steps (4 × 1500) instead of 1500, 6 seeds (trainer seeds 7001..7006) per arm:
#   a1-lr-6.64  a4-lr-6.64  a2-lr-6.64   proxy LR 2^-6.64 (the lower dip of the 1500-step a = 4 curve)
#   a2-lr-5.14  a4-lr-5.14               proxy LR 2^-5.14 (the upper dip, where the 1500-step seeds
#                                        spread six times wider: sd 0.052 against 0.008)
# Prediction, written before the run: at T = 6000 every seed of every MoE arm leaves the second plateau
# (50-step mean training loss below 1.80 nats) before the decay starts at 0.8T, and the final-loss sd at
# a = 4, 2^-5.14 is at most twice that at 2^-6.64. If both hold, η* along a is an argmin over LRs whose
# seeds agree, and the a-axis sweeps can be rerun at T = 6000; if not, the longer horizon does not help.
# 30 runs of 6000 steps, two at a time (≈ 5 minutes on 2 cores). Outputs (written only when every run
# finished): OUT/runs.csv, OUT/summary.md. Usage: long_horizon_a.sh [MUELAB] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=probe_common.sh
source "$here/probe_common.sh"
probe_setup long_horizon_a.sh long-horizon-a "$@"

steps=6000
lr_low=0.01                   # proxy LR 2^-6.64
lr_high=0.028284271247461908  # proxy LR 2^-5.14
base_toml "$steps" 0.02 "$lr_low" > "$work/base_low.toml"
base_toml "$steps" 0.02 "$lr_high" > "$work/base_high.toml"
for arm in "a1 1 low" "a2 2 low" "a4 4 low" "a2 2 high" "a4 4 high"; do
  read -r name active level <<< "$arm"
  lr=$lr_low; [[ $level == high ]] && lr=$lr_high
  tag="$name-lr-$([[ $level == high ]] && echo 5.14 || echo 6.64)"
  for seed in 7001 7002 7003 7004 7005 7006; do
    target_toml "$(model_moe "$active")" "$steps" 0.02 "$seed" "base_$level.toml" "$lr" > "$work/$tag-$seed.toml"
    echo "$tag-$seed"
  done
done > "$work/jobs"
run_jobs < "$work/jobs"

/usr/bin/env python3 "$here/long_horizon_summary.py" "$work/runs" "$revision" "$muelab" "$work/out"
probe_publish
echo "long_horizon_a: wrote $out/runs.csv and $out/summary.md" >&2
