#!/usr/bin/env python3
"""Summary of experiments/probes/long_horizon_a.sh: one row per run, one per arm (descriptive only).

Per run, beside two_loss_modes_summary.run_row's columns: the first step at which the 50-step mean of the
training loss falls below 1.80 nats (the run has left the second plateau, ≈ 1.9–2.0 nats at peak LR;
the WSD decay alone lowers a run still on it by ≈ 0.3 nats, so only an exit before the decay starts
at 0.8T counts as one), and whether that step is before 0.8T. Per arm: the prediction the probe's
header declares, read off these columns.
"""
import csv
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from two_loss_modes_summary import run_row  # noqa: E402

SECOND_PLATEAU_EXIT = 1.80


def second_exit_step(directory):
    with open(os.path.join(directory, "log.csv"), newline="") as f:
        losses = [float(r["train_loss"]) for r in csv.DictReader(f)]
    return next((i + 1 for i in range(len(losses)) if statistics.fmean(losses[max(0, i - 49):i + 1]) < SECOND_PLATEAU_EXIT), None)


def main():
    runs_dir, revision, binary, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    rows = []
    for name in sorted(os.listdir(runs_dir)):
        arm, seed = name.rsplit("-", 1)
        row = {"arm": arm, "seed": int(seed), **run_row(os.path.join(runs_dir, name))}
        step = second_exit_step(os.path.join(runs_dir, name))
        row["left_second_plateau_step"] = "" if step is None else step
        row["left_before_decay"] = step is not None and step < 0.8 * row["steps"]
        rows.append(row)
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    lines = [f"# The a axis at four times the steps (probe, revision `{revision}`)", "",
             f"Binary: `{binary}`. Loss floor at seq_len 64: {rows[0]['loss_floor']:.4f} nats. Second plateau left: "
             f"first step whose 50-step mean training loss is below {SECOND_PLATEAU_EXIT} nats.", "",
             "| arm | seeds | final validation loss: mean ± SE | sd | min | max | second plateau left before 0.8T | "
             "left at step (median, min, max) | train loss at 0.7T–0.8T (mean, min, max) | grad norm at 0.7T–0.8T (min, max) |",
             "|---|---:|---|---:|---:|---:|---:|---|---|---|"]
    for arm in arms:
        sub = [r for r in rows if r["arm"] == arm]
        v = [r["final_validation_loss"] for r in sub]
        p = [r["train_loss_before_decay"] for r in sub]
        g = [r["grad_norm_before_decay"] for r in sub]
        left = [r["left_second_plateau_step"] for r in sub if r["left_second_plateau_step"] != ""]
        sd = statistics.stdev(v)
        steps = f"{statistics.median(left):.0f}, {min(left)}, {max(left)}" if left else "never"
        lines.append(f"| {arm} | {len(v)} | {statistics.fmean(v):.4f} ± {sd / math.sqrt(len(v)):.4f} | {sd:.4f} | "
                     f"{min(v):.4f} | {max(v):.4f} | {sum(r['left_before_decay'] for r in sub)} of {len(sub)} | {steps} | "
                     f"{statistics.fmean(p):.3f} ({min(p):.3f}, {max(p):.3f}) | {min(g):.2f}, {max(g):.2f} |")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
