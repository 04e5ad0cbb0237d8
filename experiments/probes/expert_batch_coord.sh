#!/usr/bin/env bash
# Probe (docs/claims.md `coord-check`, "MoE axes"): why does Complete-muE's MoE block output move more in
# its first ten AdamW steps the more experts share the tokens? coord-check's full run (clean 87b4251) found
# the change of the last block's MoE output growing as N^0.19 at a = 2 (N = 4 … 32; the claim row fails),
# although at init it is flat. Hypothesis offered there (not derived): each routed expert sees B·a/N tokens
# per step, so its Adam update averages fewer tokens. Test: coord-check's shape and budget (d = 32, L = 2,
# a = 2, h = d; first-order Markov chain, 8 × 32 tokens per step, 10 steps at the proxy LR 0.01, constant,
# no warm-up, no WD; complete-mue transfer from the dense proxy at the same batch, so q = 1 and every run
# has the same hyperparameters) at N = 4 and 32, each with B = 8 and B = 64 sequences (per-expert tokens
# per step: 128 and 1024 at N = 4, 16 and 128 at N = 32), trainer seeds 7001..7005 (coord-check's: the
# B = 8 runs must reproduce its numbers). Prediction under the hypothesis, fixed before this script ran:
# N = 32 at B = 64, whose experts see as many tokens per step as N = 4's at B = 8, moves its output by
# the same amount, |log2 ratio| ≤ 0.1 (against 0.56 between N = 32 and N = 4 at B = 8); the hypothesis is
# refuted if that ratio stays ≥ 0.4. N = 4 at B = 64 shows the batch effect alone. 20 runs, seconds.
# Outputs: OUT/runs.csv, OUT/summary.md. Usage: expert_batch_coord.sh [MUELAB] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=probe_common.sh
source "$here/probe_common.sh"
probe_setup expert_batch_coord.sh expert-batch-coord "$@"

for batch in 8 64; do
  printf '[model]\nd_model = 32\nn_layers = 2\nd_head = 8\nffn = "dense"\nd_ffn = 32\n[train]\nbatch_size = %s\nseq_len = 32\nsteps = 10\n' "$batch" > "$work/base_$batch.toml"
  printf '[optim]\nname = "adamw"\nlr = 0.01\nweight_decay = 0\neps = 1e-8\nbeta1 = 0.9\nbeta2 = 0.95\ninit_std = 0.02\n' >> "$work/base_$batch.toml"
  for experts in 4 32; do
    for seed in 7001 7002 7003 7004 7005; do
      {
        printf '[model]\nd_model = 32\nn_layers = 2\nd_head = 8\nffn = "moe"\nn_experts = %s\nn_active = 2\nd_expert = 32\nn_groups = 1\nrouter = "sigmoid"\n' "$experts"
        printf '[train]\nbatch_size = %s\nseq_len = 32\nsteps = 10\n' "$batch"
        printf '[transfer]\nrule = "complete-mue"\nbase = "base_%s.toml"\nlr = 0.01\ninit_std = 0.02\nweight_decay = 0\n' "$batch"
        printf '[data]\nsource = "markov"\nmarkov_states = 32\nmarkov_temperature = 0.5\n'
        printf '[schedule]\nkind = "constant"\nwarmup_steps = 0\n'
        printf '[trainer]\nseed = %s\nthreads = 1\neval_interval = 10\neval_batches = 1\n' "$seed"
      } > "$work/N$experts-B$batch-$seed.toml"
      echo "N$experts-B$batch-$seed"
    done
  done
done > "$work/jobs"
run_jobs < "$work/jobs"

/usr/bin/env python3 "$here/expert_batch_coord_summary.py" "$work/runs" "$revision" "$muelab" "$work/out"
probe_publish
echo "expert_batch_coord: wrote $out/runs.csv and $out/summary.md" >&2
