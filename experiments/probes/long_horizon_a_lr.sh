#!/usr/bin/env bash
# Probe, second step (docs/claims.md, "The a axis at four times the steps"): long_horizon_a.sh found that
# at T = 6000 a = 1 never leaves the second plateau (its normalized gate is 1, so the router learns only
# through load balancing) while a = 2 and 4 do at the lower LR. This pilot asks whether the a axis
# without a = 1 (a = 2, 4, 8 at N = 8) has LR curves that an argmin can read at T = 6000. Same shape and
# settings as long_horizon_a.sh; proxy LRs 2^-8.14, 2^-7.14, 2^-6.14, 2^-5.14 (one-octave steps); 4 seeds
# per point, trainer seeds 8001..8004 (not the experiments' 7001..: the pilot must not pick the runs a
# later experiment judges).
# Prediction, written before the run: at each a the four-point curve of mean final loss has its minimum
# at an interior LR (2^-7.14 or 2^-6.14), and at that LR the final-loss sd over seeds is at most 0.02
# nats. If both hold at a = 2, 4 and 8, the a-axis LR sweep is rerun at T = 6000 over a = 2, 4, 8 as a
# declared plan; if not, it is not.
# 48 runs of 6000 steps, two at a time (≈ 10 minutes on 2 cores). Outputs: OUT/runs.csv, OUT/summary.md.
# Usage: long_horizon_a_lr.sh [MUELAB] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=probe_common.sh
source "$here/probe_common.sh"
probe_setup long_horizon_a_lr.sh long-horizon-a-lr "$@"

steps=6000
for octave in 8.14 7.14 6.14 5.14; do
  lr=$(/usr/bin/env python3 -c "print(2 ** -$octave)")
  base_toml "$steps" 0.02 "$lr" > "$work/base_$octave.toml"
  for active in 2 4 8; do
    for seed in 8001 8002 8003 8004; do
      target_toml "$(model_moe "$active")" "$steps" 0.02 "$seed" "base_$octave.toml" "$lr" > "$work/a$active-lr-$octave-$seed.toml"
      echo "a$active-lr-$octave-$seed"
    done
  done
done > "$work/jobs"
run_jobs < "$work/jobs"

/usr/bin/env python3 "$here/long_horizon_summary.py" "$work/runs" "$revision" "$muelab" "$work/out"
probe_publish
echo "long_horizon_a_lr: wrote $out/runs.csv and $out/summary.md" >&2
