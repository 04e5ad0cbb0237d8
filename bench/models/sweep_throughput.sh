#!/usr/bin/env bash
# Sweep throughput of several `muelab` binaries, interleaved in one run (bench/models/results.md,
# "Sweep throughput"). Two mixes, each four runs by `muelab sweep --jobs 2` (one `muelab train` process
# per run, two at a time, one thread each), as a user's sweep runs:
#   quick     experiments/configs/train/quick.toml (300 steps, 16 × 64 tokens of fortunes, MoE N = 8,
#             a = 2, d_head 16) at d_model = 32 and 64, seeds 1 and 2 (the default);
#   capacity  the capacity-bound task's LR sweep shape (experiments/configs/capacity-cuda/target.toml:
#             markov-k data, d = 32, d_head = 8, L = 2, 1500 steps, WSD) at N = 8, a = 2, expert width
#             16, at the proxy's LR, seeds 1 to 4 (needs a muelab that has the markov-k task; older ones
#             cannot override transfer.lr beside a base file, so the four runs differ by seed only).
#
#   bench/models/sweep_throughput.sh [--repeats R] [--mix quick|capacity] LABEL=MUELAB_BIN ...
#
# Every binary runs the same sweep file once per repeat, in turn (A B C A B C ...), each into a fresh
# folder; prints seconds per sweep, runs per hour (median over repeats) and each binary's ratio to the
# first. The per-run final losses of each binary are compared with those of the binary before it in the
# list (binaries on one GEMM engine give identical bits; across engines they differ, and the line says
# so). Refuses to measure above 0.5 load per core, like run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=3
mix=quick
while [ "$#" -gt 0 ]; do
  case "$1" in
    --repeats) repeats="$2"; shift 2 ;;
    --mix) mix="$2"; shift 2 ;;
    *) break ;;
  esac
done
case "$mix" in quick|capacity) ;; *) echo "sweep_throughput: --mix must be quick or capacity (got $mix)" >&2; exit 2 ;; esac
[ "$#" -ge 1 ] || { echo "usage: $0 [--repeats R] LABEL=MUELAB_BIN ..." >&2; exit 2; }
labels=(); bins=()
for pair in "$@"; do
  labels+=("${pair%%=*}"); bins+=("$(realpath "${pair#*=}")")
  [ -x "${bins[-1]}" ] || { echo "sweep_throughput: ${pair#*=} is not an executable" >&2; exit 2; }
done
cores="$(nproc)"
load="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l / c > 0.5) }'; then
  echo "sweep_throughput: load average $load on $cores cores (> 0.5 per core): not measuring" >&2
  exit 3
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ "$mix" = quick ]; then
  cat > "$work/mix.toml" <<EOF
[sweep]
config = "$PWD/experiments/configs/train/quick.toml"
name = "quick-mix"
seeds = [1, 2]
set = ["trainer.threads=1"]
[grid]
"model.d_model" = [32, 64]
EOF
else
  cat > "$work/mix.toml" <<EOF
[sweep]
config = "$PWD/experiments/configs/capacity-cuda/target.toml"
name = "capacity-mix"
seeds = [1, 2, 3, 4]
set = ["trainer.threads=1", "model.n_experts=8", "model.n_active=2", "model.d_expert=16"]
EOF
fi
echo "sweep_throughput: $(date -u '+%F %H:%M UTC'), load $load on $cores cores, mix $mix, $repeats repeats, 4 runs per sweep"
declare -A seconds
for ((r = 1; r <= repeats; r++)); do
  for i in "${!bins[@]}"; do
    out="$work/${labels[$i]}-$r"
    start="$(date +%s.%N)"
    "${bins[$i]}" sweep --config "$work/mix.toml" --out "$out" --jobs 2 > /dev/null 2>&1
    end="$(date +%s.%N)"
    seconds["$i,$r"]="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')"
    echo "  repeat $r ${labels[$i]}: ${seconds[$i,$r]} s"
  done
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
losses() {  # run id and final validation loss of every run of a sweep folder, sorted
  for s in "$1"/runs/*/summary.json; do
    printf '%s %s\n' "$(basename "$(dirname "$s")")" "$(grep -o '"final_validation_loss": [^,]*' "$s")"
  done | sort
}
first=""
for i in "${!bins[@]}"; do
  m="$(for ((r = 1; r <= repeats; r++)); do echo "${seconds[$i,$r]}"; done | median)"
  [ -n "$first" ] || first="$m"
  # Against the binary before it in the list: equal bits, or another GEMM engine (it rounds differently).
  previous=$((i > 0 ? i - 1 : 0))
  same="same final losses as ${labels[$previous]}"
  if ! diff <(losses "$work/${labels[$previous]}-1") <(losses "$work/${labels[$i]}-1") > /dev/null; then
    same="final losses differ from ${labels[$previous]}"
  fi
  awk -v l="${labels[$i]}" -v m="$m" -v f="$first" -v s="$same" \
    'BEGIN { printf "%-12s median %.2f s per sweep, %.0f runs per hour, %.2fx %s\n", l, m, 4 * 3600 / m, f / m, s }'
done
echo "sweep_throughput: load $(cut -d' ' -f1 /proc/loadavg) at the end"
