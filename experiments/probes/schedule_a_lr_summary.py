#!/usr/bin/env python3
"""Summary of experiments/probes/schedule_a_lr.sh: one row per run, the LR curves per schedule and a, and
the prediction of the script's header read off them (descriptive: a probe has no verdict rows).

Per run: the final validation loss (16 fixed batches) and the first step whose 50-step mean training loss
is below 1.80 nats (the second plateau left; long_horizon_summary.second_exit_step). Per (schedule, a):
mean ± SE and sd of the final loss at each LR, and whether the curve is readable: (i) lowest mean at an
interior LR, (ii) sd there ≤ 0.02 nats, (iii) both one-octave neighbours above it by ≥ 2 standard errors
of the difference.
"""
import csv
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from long_horizon_summary import second_exit_step  # noqa: E402

MAX_SD = 0.02
MIN_RISE_SE = 2.0


def read_runs(runs_dir):
    rows = []
    for name in sorted(os.listdir(runs_dir)):
        schedule, active, _, octave, seed = name.split("-")
        with open(os.path.join(runs_dir, name, "summary.json")) as f:
            final = json.load(f)["final_validation_loss"]
        step = second_exit_step(os.path.join(runs_dir, name))
        rows.append({"schedule": schedule, "n_active": int(active[1:]), "log2_proxy_lr": -float(octave),
                     "seed": int(seed), "final_validation_loss": final,
                     "left_second_plateau_step": "" if step is None else step})
    return rows


def point(values):
    sd = statistics.stdev(values)
    return statistics.fmean(values), sd / math.sqrt(len(values)), sd


def judge_curve(points):
    """points: [(log2 lr, mean, se, sd)] sorted by LR. Returns (argmin index, [(condition, met, text)])."""
    best = min(range(len(points)), key=lambda i: points[i][1])
    interior = 0 < best < len(points) - 1
    conditions = [("interior", interior, f"lowest mean at 2^{points[best][0]:.2f}")]
    conditions.append(("sd", points[best][3] <= MAX_SD, f"sd {points[best][3]:.4f} (≤ {MAX_SD})"))
    if interior:
        rises = []
        for j in (best - 1, best + 1):
            rise = (points[j][1] - points[best][1]) / math.hypot(points[j][2], points[best][2])
            rises.append(rise)
        conditions.append(("rise", min(rises) >= MIN_RISE_SE,
                           "neighbours " + ", ".join(f"{r:+.1f}" for r in rises) + f" SE (≥ {MIN_RISE_SE:g})"))
    else:
        conditions.append(("rise", False, "not judged: the lowest point is at an edge"))
    return best, conditions


def main():
    runs_dir, revision, binary, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    rows = read_runs(runs_dir)
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    lrs = sorted({r["log2_proxy_lr"] for r in rows})
    lines = [f"# The a axis under a schedule that decays from the start (probe, revision `{revision}`)", "",
             f"Binary: `{binary}`. Final validation loss, mean ± SE (sd) over seeds; **bold**: the lowest mean "
             "of a curve. \"left\": seeds whose 50-step mean training loss went below 1.80 nats (at any step).", ""]
    readable = {}
    for schedule in ("cosine", "wsd"):
        actives = sorted({r["n_active"] for r in rows if r["schedule"] == schedule})
        curves = {}
        for a in actives:
            curve = []
            for lr in lrs:
                sub = [r for r in rows if r["schedule"] == schedule and r["n_active"] == a and r["log2_proxy_lr"] == lr]
                mean, se, sd = point([r["final_validation_loss"] for r in sub])
                left = sum(r["left_second_plateau_step"] != "" for r in sub)
                curve.append((lr, mean, se, sd, left, len(sub)))
            curves[a] = curve
        lines += [f"## {schedule}", "", "| proxy LR | " + " | ".join(f"a = {a}" for a in actives) + " |",
                  "|---|" + "---|" * len(actives)]
        best = {a: judge_curve([c[:4] for c in curves[a]]) for a in actives}
        for i, lr in enumerate(lrs):
            cells = []
            for a in actives:
                _, mean, se, sd, left, n = curves[a][i]
                text = f"{mean:.4f} ± {se:.4f} ({sd:.3f}; left {left}/{n})"
                cells.append(f"**{text}**" if best[a][0] == i else text)
            lines.append(f"| 2^{lr:.2f} | " + " | ".join(cells) + " |")
        lines.append("")
        for a in actives:
            conditions = best[a][1]
            readable[(schedule, a)] = all(met for _, met, _ in conditions)
            lines.append(f"- {schedule}, a = {a}: " + "; ".join(f"{name} {'met' if met else 'NOT met'} ({text})"
                                                              for name, met, text in conditions)
                         + f" → {'readable' if readable[(schedule, a)] else 'not readable'}")
        lines.append("")
    cosine_all = all(v for (s, _), v in readable.items() if s == "cosine")
    wsd_fails = any(not readable[("wsd", a)] for a in (2, 4) if ("wsd", a) in readable)
    lines += ["## The prediction", "",
              f"- Under cosine every a's curve is readable: **{'holds' if cosine_all else 'fails'}**.",
              f"- Under WSD the a = 2 or a = 4 curve is not readable: **{'holds' if wsd_fails else 'fails'}**.",
              f"- Decision (declared in the script): the a axis is {'rerun under cosine' if cosine_all and wsd_fails else 'not rerun'}."]
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
