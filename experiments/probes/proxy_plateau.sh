#!/usr/bin/env bash
# Probe (docs/claims.md `transfer-everything`, "What the proxy learned"): does transfer-everything's dense
# proxy learn the capacity task at all in its T0 = 375 steps? Its calibration.csv shows a final loss of
# 3.22–3.24 nats at every proxy LR, WD and init std tried, next to the last-token floor H(X_1 | X_0) =
# 3.204 (a model that reads only the last token; docs/claims.md "Two loss modes on the capacity task").
# Not a prediction: a quick uncommitted run had shown the same before this script was written; the
# script makes the check reproducible. It trains the proxy (dense d = 16, L = 1, H = d, d_head = 8;
# markov-k V = 32, k = 2, τ = 0.3; B = 16 × 64; WSD with warm-up T/15 and the decay over the last 20%,
# as transfer-everything's proxy budget) at its tuned point (η = 0.01675, λ = 0.0125, σ = 0.03116:
# results/full/transfer-everything/calibration_optima.csv) for T0 = 375, 750, 1500 and 3000 steps,
# 3 seeds each (trainer seeds 8201..8203), and reports per run the final validation loss and the first
# step whose 50-step mean training loss is below 2.6 nats (the first plateau left). 12 runs, ≈ 2
# minutes on 2 cores. Outputs: OUT/runs.csv, OUT/summary.md. Usage: proxy_plateau.sh [MUELAB] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=probe_common.sh
source "$here/probe_common.sh"
probe_setup proxy_plateau.sh proxy-plateau "$@"

transfer_weight_decay=0.012499999999999997  # the tuned λ (target_toml's default is the task's 0.1)
proxy_model=$'[model]\nd_model = 16\nn_layers = 1\nd_head = 8\nffn = "dense"\nd_ffn = 16'
for steps in 375 750 1500 3000; do
  warmup=$((steps / 15))
  printf '%s\n[train]\nbatch_size = 16\nseq_len = 64\nsteps = %s\n' "$proxy_model" "$steps" > "$work/base_$steps.toml"
  printf '[optim]\nname = "adamw"\nlr = 0.01675054462514777\nweight_decay = 0.012499999999999997\neps = 1e-8\nbeta1 = 0.9\nbeta2 = 0.95\ninit_std = 0.031155605148563862\n' >> "$work/base_$steps.toml"
  schedule_table=$(printf '[schedule]\nkind = "wsd"\nwarmup_steps = %s\ndecay_fraction = 0.2' "$warmup")
  for seed in 8201 8202 8203; do
    # The proxy trained as itself: the identity transfer (base = the same shape and steps).
    target_toml "$proxy_model" "$steps" 0.031155605148563862 "$seed" "base_$steps.toml" 0.01675054462514777 \
      > "$work/proxy-T$steps-$seed.toml"
    echo "proxy-T$steps-$seed"
  done
done > "$work/jobs"
run_jobs < "$work/jobs"

/usr/bin/env python3 "$here/proxy_plateau_summary.py" "$work/runs" "$revision" "$muelab" "$work/out"
probe_publish
echo "proxy_plateau: wrote $out/runs.csv and $out/summary.md" >&2
