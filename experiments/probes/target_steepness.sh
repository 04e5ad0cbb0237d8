#!/usr/bin/env bash
# Probe (docs/claims.md `transfer-everything`, "A third design, checked and not run"): is a width-×2 target
# steep enough in the LR for transfer-everything's μP-only control to fail? The second design's d = 128
# target was flat (seed-mean loss within 0.004 nats over 1.5 octaves), so μP alone, one octave above
# Complete-muE's hidden LR, regretted nothing. Candidate third design: the same proxy (dense d = 32, L = 1,
# H = d, T0 = 750) at its tuned point (η = 0.016623, λ = 0.048362, σ = 0.055112:
# results/full/transfer-everything/calibration_optima.csv) transferred by complete-mue to an MoE at width
# ×2 (d = 64, L = 2, N = 8, a = 2, h = 32, one shared expert of 32; T = 3000, warm-up 200, WSD decay over
# the last 20%; B = 16 × 64; markov-k V = 32, k = 2, τ = 0.3), i.e. transfer-everything's target with
# d = 64. Trains it at the transferred base LR × ½, × 1 and × 2 (× 2 is where μP alone's hidden LR lands),
# 3 seeds each (trainer seeds 9001..9003, used by nothing else). Decision rule, fixed before this script
# ran from a clean commit: declare and run the third design only if, paired per seed, × 2 costs at least
# 0.02 nats (twice the claim bound) against × 1 in the mean and in every seed. Not a prediction: an
# uncommitted check with seeds 9001 and 9002 came first (× ½, × 1, × 2: 1.489 / 1.470 / 1.454 and
# 1.445 / 1.435 / 1.436 nats), and this script makes it reproducible with one seed more. 9 runs, ≈ 2
# minutes on 2 cores. Outputs: OUT/runs.csv, OUT/summary.md. Usage: target_steepness.sh [MUELAB] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=probe_common.sh
source "$here/probe_common.sh"
probe_setup target_steepness.sh target-steepness "$@"

proxy_lr=0.016622692185990499 transfer_weight_decay=0.04836204720059508 proxy_init=0.055112249225876805
proxy_model=$'[model]\nd_model = 32\nn_layers = 1\nd_head = 8\nffn = "dense"\nd_ffn = 32'
printf '%s\n[train]\nbatch_size = 16\nseq_len = 64\nsteps = 750\n' "$proxy_model" > "$work/base.toml"
printf '[optim]\nname = "adamw"\nlr = %s\nweight_decay = %s\neps = 1e-8\nbeta1 = 0.9\nbeta2 = 0.95\ninit_std = %s\n' \
  "$proxy_lr" "$transfer_weight_decay" "$proxy_init" >> "$work/base.toml"
target_model=$'[model]\nd_model = 64\nn_layers = 2\nd_head = 8\nffn = "moe"\nn_experts = 8\nn_active = 2\nd_expert = 32\nn_shared = 1\nd_shared = 32\nn_groups = 1\nrouter = "sigmoid"'
schedule_table=$'[schedule]\nkind = "wsd"\nwarmup_steps = 200\ndecay_fraction = 0.2'
for factor in 0.5 1 2; do
  lr=$(awk -v a="$proxy_lr" -v f="$factor" 'BEGIN { printf "%.17g", a * f }')
  for seed in 9001 9002 9003; do
    target_toml "$target_model" 3000 "$proxy_init" "$seed" "base.toml" "$lr" > "$work/lrx$factor-$seed.toml"
    echo "lrx$factor-$seed"
  done
done > "$work/jobs"
run_jobs < "$work/jobs"

/usr/bin/env python3 "$here/target_steepness_summary.py" "$work/runs" "$revision" "$muelab" "$work/out"
probe_publish
echo "target_steepness: wrote $out/runs.csv and $out/summary.md" >&2
