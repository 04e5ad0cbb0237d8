#!/usr/bin/env python3
"""Summary of experiments/probes/proxy_plateau.sh: one row per run and one per T0 (descriptive only).

Per run (two_loss_modes_summary.run_row): the final validation loss (16 fixed batches), the mean
training loss over steps 150..300 and the first step whose 50-step mean training loss is below 2.6 nats
(the first plateau, at the last-token floor H(X_1 | X_0) = 3.204 nats, left).
"""
import csv
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from two_loss_modes_summary import run_row  # noqa: E402

LAST_TOKEN_FLOOR = 3.204  # docs/claims.md, "Two loss modes on the capacity task" (exact, printed by muelab train)


def main():
    runs_dir, revision, binary, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    rows = []
    for name in sorted(os.listdir(runs_dir), key=lambda n: (int(n.split("-")[1][1:]), n)):
        _, steps, seed = name.split("-")
        row = run_row(os.path.join(runs_dir, name))
        rows.append({"proxy_steps": int(steps[1:]), "seed": int(seed), "final_validation_loss": row["final_validation_loss"],
                     "loss_floor": row["loss_floor"], "left_first_plateau_step": row["left_first_plateau_step"]})
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"# What transfer-everything's proxy learns in T0 steps (probe, revision `{revision}`)", "",
             f"Binary: `{binary}`. Dense d = 16, L = 1, H = d at its tuned point (η = 0.01675, λ = 0.0125, "
             f"σ = 0.03116). Last-token floor H(X_1 | X_0) = {LAST_TOKEN_FLOOR} nats; entropy-rate floor "
             f"{rows[0]['loss_floor']:.4f} nats.", "",
             "| T0 | seeds | final validation loss: mean ± SE (per seed) | above the last-token floor | first plateau left (50-step mean < 2.6) at step |",
             "|---:|---:|---|---:|---|"]
    for steps in sorted({r["proxy_steps"] for r in rows}):
        sub = [r for r in rows if r["proxy_steps"] == steps]
        v = [r["final_validation_loss"] for r in sub]
        left = [str(r["left_first_plateau_step"]) if r["left_first_plateau_step"] != "" else "never" for r in sub]
        lines.append(f"| {steps} | {len(v)} | {statistics.fmean(v):.4f} ± {statistics.stdev(v) / math.sqrt(len(v)):.4f} "
                     f"({', '.join(f'{x:.3f}' for x in v)}) | {statistics.fmean(v) - LAST_TOKEN_FLOOR:+.3f} | {', '.join(left)} |")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
