#!/usr/bin/env python3
"""Summary of experiments/probes/target_steepness.sh: one row per run and the paired cost of each LR
factor against the transferred LR (× 1), with the script's decision rule (descriptive; not a verdict).
"""
import csv
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from two_loss_modes_summary import run_row  # noqa: E402

REQUIRED_COST = 0.02  # nats: twice transfer-everything's regret bound (the script's decision rule)


def main():
    runs_dir, revision, binary, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    rows = []
    for name in sorted(os.listdir(runs_dir)):
        factor, seed = name[len("lrx"):].split("-")
        row = run_row(os.path.join(runs_dir, name))
        rows.append({"lr_factor": float(factor), "seed": int(seed), "final_validation_loss": row["final_validation_loss"],
                     "loss_floor": row["loss_floor"], "left_first_plateau_step": row["left_first_plateau_step"]})
    rows.sort(key=lambda r: (r["lr_factor"], r["seed"]))
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    loss = {(r["lr_factor"], r["seed"]): r["final_validation_loss"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"# Is a width-x2 transfer-everything target steep in the LR? (probe, revision `{revision}`)", "",
             f"Binary: `{binary}`. Target MoE d = 64, L = 2, N = 8, a = 2, h = 32, one shared expert of 32, T = 3000, "
             f"complete-mue transfer of the proxy's tuned point; base LR × factor. Entropy-rate floor "
             f"{rows[0]['loss_floor']:.4f} nats.", "",
             "| LR factor | final validation loss: mean ± SE (per seed " + ", ".join(map(str, seeds)) +
             ") | paired cost against × 1: mean (per seed) |", "|---:|---|---|"]
    for factor in sorted({r["lr_factor"] for r in rows}):
        v = [loss[(factor, s)] for s in seeds]
        d = [loss[(factor, s)] - loss[(1.0, s)] for s in seeds]
        lines.append(f"| × {factor:g} | {statistics.fmean(v):.4f} ± {statistics.stdev(v) / math.sqrt(len(v)):.4f} "
                     f"({', '.join(f'{x:.3f}' for x in v)}) | {statistics.fmean(d):+.4f} ({', '.join(f'{x:+.3f}' for x in d)}) |")
    cost = [loss[(2.0, s)] - loss[(1.0, s)] for s in seeds]
    steep = statistics.fmean(cost) >= REQUIRED_COST and min(cost) >= REQUIRED_COST
    lines += ["", f"Decision rule (× 2 costs ≥ {REQUIRED_COST} nats against × 1, in the mean and in every seed): "
              f"{'met: declare and run the third design' if steep else 'not met: the third design is not run'}."]
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
