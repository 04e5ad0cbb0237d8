#!/usr/bin/env bash
# Probe (docs/claims.md, "The a axis under a schedule that decays from the start"): on the capacity task
# at the experiments' horizon (T = 1500), the a axis's η* is unreadable under WSD because near the
# optimum some seeds leave the second loss plateau before the decay and some do not (the final-loss sd
# grows sixfold within half an octave), and at T = 6000 the curves are nearly LR-flat. The plateau's
# training loss falls when the LR falls, so it may be the peak LR's noise floor; a schedule whose LR
# decays from the end of the warm-up on would then leave it gradually in every seed. This pilot asks
# whether a cosine schedule (warm-up 100 steps, then cosine to 0 at T) gives a axis LR curves that an
# argmin can read, with WSD (the experiments' schedule) at the same seeds as the reference.
# Shape and settings of lr-transfer-capacity-controls' a axis (d = 32, L = 2, N = 8, h = d, complete-mue
# from the dense proxy, init std 0.02, λ = 0.1), a = 2, 4, 8 (a = 1 is left out: its normalized gate is
# 1, so its router gets no gradient), proxy LRs 2^-8.14 … 2^-4.14 in one-octave steps, 6 seeds per
# point (trainer seeds 8101..8106, used by no experiment and no other probe), both schedules: 180 runs of
# 1500 steps, two at a time (≈ 8 minutes on 2 cores).
# Prediction, written before the run. A curve is readable when (i) its lowest mean final loss is at an
# interior LR (not 2^-8.14 or 2^-4.14), (ii) the final-loss sd over the 6 seeds there is at most 0.02
# nats, and (iii) both one-octave neighbours are above it by at least 2 standard errors of the
# difference (sqrt(SE_min^2 + SE_neighbour^2)). Predicted: under cosine all three hold at a = 2, 4 and
# 8; under WSD at least one fails at a = 2 or a = 4 (what the 1500-step experiments showed).
# Decision rule: if both predictions hold, the a axis is rerun under cosine as a declared experiment
# (same task, grid, seeds and judging as lr-transfer-capacity-controls' a axis); otherwise it is not,
# and the record says which part failed.
# Outputs: OUT/runs.csv, OUT/summary.md (with the prediction read off). Usage: schedule_a_lr.sh [MUELAB] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=probe_common.sh
source "$here/probe_common.sh"
probe_setup schedule_a_lr.sh schedule-a-lr "$@"

steps=1500
cosine_schedule=$'[schedule]\nkind = "cosine"\nwarmup_steps = 100\nmin_factor = 0.0'
for schedule in cosine wsd; do
  if [[ $schedule == cosine ]]; then schedule_table=$cosine_schedule; else schedule_table=$wsd_schedule; fi
  for octave in 8.14 7.14 6.14 5.14 4.14; do
    lr=$(/usr/bin/env python3 -c "print(2 ** -$octave)")
    base_toml "$steps" 0.02 "$lr" > "$work/base_$octave.toml"
    for active in 2 4 8; do
      for seed in 8101 8102 8103 8104 8105 8106; do
        target_toml "$(model_moe "$active")" "$steps" 0.02 "$seed" "base_$octave.toml" "$lr" > "$work/$schedule-a$active-lr-$octave-$seed.toml"
        echo "$schedule-a$active-lr-$octave-$seed"
      done
    done
  done
done > "$work/jobs"
run_jobs < "$work/jobs"

/usr/bin/env python3 "$here/schedule_a_lr_summary.py" "$work/runs" "$revision" "$muelab" "$work/out"
probe_publish
echo "schedule_a_lr: wrote $out/runs.csv and $out/summary.md" >&2
