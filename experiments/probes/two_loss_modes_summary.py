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


def load_entropy(row):
    """Entropy (nats) of the expert loads of one step, averaged over the MoE blocks; each block's loads
    (tokens choosing an expert / tokens, summing to a) are normalized to a distribution. ln N when
    uniform. None for a dense model."""
    blocks = {}
    for key, value in row.items():
        if key.startswith("load_l") and value != "":
            blocks.setdefault(key.split("_")[1], []).append(float(value))
    if not blocks:
        return None
    total = 0.0
    for loads in blocks.values():
        mass = sum(loads)
        total -= sum(x / mass * math.log(x / mass) for x in loads if x > 0)
    return total / len(blocks)


def pearson(xs, ys):
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def run_row(directory):
    with open(os.path.join(directory, "log.csv"), newline="") as f:
        log = list(csv.DictReader(f))
    losses = [float(r["train_loss"]) for r in log]
    with open(os.path.join(directory, "summary.json")) as f:
        summary = json.load(f)
    steps = len(losses)
    left_first = next((i + 1 for i in range(steps) if statistics.fmean(losses[max(0, i - 49):i + 1]) < 2.6), "")
    start = int(round(0.7 * steps))
    pre_decay = statistics.fmean(losses[start:int(round(0.8 * steps))])
    first_plateau = statistics.fmean(losses[150:300])
    window = log[start:int(round(0.8 * steps))]
    grad_norm = statistics.fmean(float(r["grad_norm"]) for r in window)
    entropies = [load_entropy(r) for r in window]
    entropy = statistics.fmean(entropies) if entropies[0] is not None else ""
    return {"steps": steps, "final_validation_loss": summary["final_validation_loss"],
            "loss_floor": summary["loss_floor"], "train_loss_steps_150_300": first_plateau,
            "left_first_plateau_step": left_first,
            "train_loss_before_decay": pre_decay, "grad_norm_before_decay": grad_norm,
            "load_entropy_before_decay": entropy}


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
             "train loss at 0.7T–0.8T (mean, min, max) | grad norm at 0.7T–0.8T (min, max) | "
             "corr(train loss, grad norm) over seeds at 0.7T–0.8T | expert-load entropy at 0.7T–0.8T (min, max; ln 8 = 2.079) |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|"]
    for arm in arms:
        sub = [r for r in rows if r["arm"] == arm]
        v = [r["final_validation_loss"] for r in sub]
        p = [r["train_loss_before_decay"] for r in sub]
        first = statistics.fmean(r["train_loss_steps_150_300"] for r in sub)
        g = [r["grad_norm_before_decay"] for r in sub]
        e = [r["load_entropy_before_decay"] for r in sub if r["load_entropy_before_decay"] != ""]
        left = [r["left_first_plateau_step"] for r in sub if r["left_first_plateau_step"] != ""]
        sd = statistics.stdev(v)
        lines.append(f"| {arm} | {len(v)} | {statistics.fmean(v):.4f} ± {sd / math.sqrt(len(v)):.4f} | {sd:.4f} | "
                     f"{min(v):.4f} | {max(v):.4f} | {sum(x < 1.56 for x in v)} | "
                     f"{first:.3f} | {statistics.median(left) if left else 'never'} | "
                     f"{statistics.fmean(p):.3f} ({min(p):.3f}, {max(p):.3f}) | "
                     f"{min(g):.2f}, {max(g):.2f} | {pearson(p, g):+.2f} | "
                     f"{f'{min(e):.3f}, {max(e):.3f}' if e else 'dense'} |")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
