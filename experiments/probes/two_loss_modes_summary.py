#!/usr/bin/env python3
"""Summary of experiments/probes/two_loss_modes.sh: one row per run, one per arm (descriptive only).

Per run: the final validation loss (16 fixed batches), the mean training loss over steps 150..300
(the first plateau, after the warm-up), the first step at which the 50-step mean of
the training loss falls below 2.6 nats (the run has left the first plateau, which sits at the
last-token-only floor H(X_1 | X_0)), and the mean training loss over steps 0.7T..0.8T (at peak LR,
just before the WSD decay starts: where the second plateau is seen). Per arm: the count of seeds whose
final validation loss is below 1.56 nats, a threshold chosen after seeing init-transfer's runs (it
lies between the modes ≈ 1.51–1.54 and ≈ 1.58–1.62), so a description, not a test.
"""
import csv
import json
import math
import os
import statistics
import sys


def run_row(directory):
    with open(os.path.join(directory, "log.csv"), newline="") as f:
        losses = [float(r["train_loss"]) for r in csv.DictReader(f)]
    with open(os.path.join(directory, "summary.json")) as f:
        summary = json.load(f)
    steps = len(losses)
    left_first = next((i + 1 for i in range(steps) if statistics.fmean(losses[max(0, i - 49):i + 1]) < 2.6), "")
    start = int(round(0.7 * steps))
    pre_decay = statistics.fmean(losses[start:int(round(0.8 * steps))])
    first_plateau = statistics.fmean(losses[150:300])
    return {"steps": steps, "final_validation_loss": summary["final_validation_loss"],
            "loss_floor": summary["loss_floor"], "train_loss_steps_150_300": first_plateau,
            "left_first_plateau_step": left_first,
            "train_loss_before_decay": pre_decay}


def main():
    runs_dir, last_token_floor, revision, binary, out = sys.argv[1:6]
    os.makedirs(out, exist_ok=True)
    rows = []
    for name in sorted(os.listdir(runs_dir)):
        arm, seed = name.rsplit("-", 1)
        rows.append({"arm": arm, "seed": int(seed), **run_row(os.path.join(runs_dir, name))})
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    arms = []
    for r in rows:
        if r["arm"] not in arms:
            arms.append(r["arm"])
    lines = [f"# Two loss modes on the capacity task (probe, revision `{revision}`)", "",
             f"Binary: `{binary}`. Exact floors: entropy-rate loss floor at seq_len 64 {rows[0]['loss_floor']:.4f} nats; "
             f"a model that reads only the last token cannot go below H(X_1 | X_0) = {float(last_token_floor):.4f}.", "",
             "| arm | seeds | final validation loss: mean ± SE | sd | min | max | seeds below 1.56 | "
             "train loss at steps 150–300 (mean) | first plateau left at step (median) | "
             "train loss at 0.7T–0.8T (mean, min, max) |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for arm in arms:
        sub = [r for r in rows if r["arm"] == arm]
        v = [r["final_validation_loss"] for r in sub]
        p = [r["train_loss_before_decay"] for r in sub]
        first = statistics.fmean(r["train_loss_steps_150_300"] for r in sub)
        left = [r["left_first_plateau_step"] for r in sub if r["left_first_plateau_step"] != ""]
        sd = statistics.stdev(v)
        lines.append(f"| {arm} | {len(v)} | {statistics.fmean(v):.4f} ± {sd / math.sqrt(len(v)):.4f} | {sd:.4f} | "
                     f"{min(v):.4f} | {max(v):.4f} | {sum(x < 1.56 for x in v)} | "
                     f"{first:.3f} | {statistics.median(left) if left else 'never'} | "
                     f"{statistics.fmean(p):.3f} ({min(p):.3f}, {max(p):.3f}) |")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
