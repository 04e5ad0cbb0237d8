# shellcheck shell=bash
# What the probes of this folder share (sourced by each; `here` is the folder). probe_setup parses the
# arguments and makes the scratch folder; the TOML helpers write the capacity-bound task's runs, the
# same TOML that experiments/transformer/src/common.cpp builds for init-transfer and
# lr-transfer-capacity (dense proxy d = 32, L = 2, H = d; markov-k V = 32, k = 2, τ = 0.3; WSD with
# warm-up 100 and the decay over the last 20%; complete-mue transfer, λ = 0.1); run_jobs trains them.

# probe_setup SCRIPT DEFAULT_OUT [MUELAB] [OUT]: sets muelab, out, revision (the commit the probe starts
# from; -dirty when tracked files other than results/ differ from it) and work (removed on exit).
# shellcheck disable=SC2034  # muelab, out, revision, work are for the sourcing script
probe_setup() {
  local script=$1 default_out=$2
  muelab=${3:-"$here/../../build/release/cli/muelab"}
  out=${4:-"$here/../../results/probes/$default_out"}
  [[ -x "$muelab" ]] || { echo "$script: no muelab binary at $muelab (build it: cmake --preset release && cmake --build --preset release --target muelab)" >&2; exit 2; }
  revision="$(git -C "$here/../.." rev-parse --short HEAD)$(git -C "$here/../.." diff --quiet HEAD -- . ':(exclude)results' || echo -dirty)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
}

# run_jobs: for each NAME on stdin, `muelab train --config $work/NAME.toml --out $work/runs/NAME`, two at a
# time; the first failure prints its log and stops.
run_jobs() {
  export muelab work
  # shellcheck disable=SC2016  # expanded by the inner sh, from the exported variables
  xargs -P 2 -I{} sh -c '"$muelab" train --config "$work/{}.toml" --out "$work/runs/{}" > /dev/null 2> "$work/{}.log" || { cat "$work/{}.log" >&2; exit 255; }'
}

model_moe() {  # n_active
  printf '[model]\nd_model = 32\nn_layers = 2\nd_head = 8\nffn = "moe"\nn_experts = 8\nn_active = %s\nd_expert = 32\nn_groups = 1\nrouter = "sigmoid"\n' "$1"
}
model_dense() {  # d_ffn
  printf '[model]\nd_model = 32\nn_layers = 2\nd_head = 8\nffn = "dense"\nd_ffn = %s\n' "$1"
}
base_toml() {  # steps init lr
  printf '[model]\nd_model = 32\nn_layers = 2\nd_head = 8\nffn = "dense"\nd_ffn = 32\n[train]\nbatch_size = 16\nseq_len = 64\nsteps = %s\n' "$1"
  printf '[optim]\nname = "adamw"\nlr = %s\nweight_decay = 0.1\neps = 1e-8\nbeta1 = 0.9\nbeta2 = 0.95\ninit_std = %s\n' "$3" "$2"
}
# The schedule every target run gets: the experiments' WSD unless the probe sets schedule_table.
wsd_schedule=$'[schedule]\nkind = "wsd"\nwarmup_steps = 100\ndecay_fraction = 0.2'
# target_toml: model-table steps init seed base-file lr. The transferred λ is $transfer_weight_decay (default
# 0.1, the task's) and the schedule $schedule_table (default the experiments' WSD).
target_toml() {
  printf '%s\n[train]\nbatch_size = 16\nseq_len = 64\nsteps = %s\n' "$1" "$2"
  printf '[transfer]\nrule = "complete-mue"\nbase = "%s"\nlr = %s\ninit_std = %s\nweight_decay = %s\n' "$5" "$6" "$3" "${transfer_weight_decay:-0.1}"
  printf '[data]\nsource = "markov-k"\nmarkov_states = 32\nmarkov_order = 2\nmarkov_temperature = 0.3\nmarkov_seed = 7\n'
  printf '%s\n' "${schedule_table:-$wsd_schedule}"
  printf '[trainer]\nseed = %s\nthreads = 1\neval_interval = %s\neval_batches = 16\n' "$4" "$2"
}

# probe_publish: moves the summary files from $work/out to $out, so the outputs appear only once every run
# has finished and been summarized.
probe_publish() {
  mkdir -p "$out"
  mv "$work/out/"* "$out/"
}
