"""Figure of the `meanfield-convergence` experiment (docs/theory.md §8): finite-width loss trajectories
overlaid on the exact mean-field limit (Dormand-Prince, and the hand-solved closed form for the
dense flow), and the convergence-rate panels: mean deviation from the limit vs width (±SE over seeds)
with the fitted slope and the predicted width^(-1/2). Usage: meanfield_convergence.py OUT_DIR"""
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from meanfield_common import read




def main(out_dir):
    out = Path(out_dir)
    trajectories = read(out / "convergence_trajectories.csv")
    summary = read(out / "convergence_summary.csv")
    fits = read(out / "convergence_fits.csv")
    cases = list(dict.fromkeys(row["case"] for row in summary))
    fig, axes = plt.subplots(2, len(cases), figsize=(5 * len(cases), 8.5), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for column, case in enumerate(cases):
        ax = axes[0][column]
        rows = [r for r in trajectories if r["case"] == case]
        widths = sorted({int(r["width"]) for r in rows if r["kind"] == "finite"})
        for index, width in enumerate(widths):
            pts = [r for r in rows if r["kind"] == "finite" and int(r["width"]) == width]
            ax.plot([float(r["time"]) for r in pts], [float(r["loss"]) for r in pts], color=cmap(index / max(1, len(widths) - 1)),
                    lw=1, label=f"width {width} (seed 0)")
        limit = [r for r in rows if r["kind"] == "limit"]
        ax.plot([float(r["time"]) for r in limit], [float(r["loss"]) for r in limit], "k--", lw=2, label="limit ODE (rel tol 1e-9)")
        closed = [r for r in rows if r["kind"] == "closed form"]
        if closed:
            ax.plot([float(r["time"]) for r in closed], [float(r["loss"]) for r in closed], "r:", lw=2, label="closed form")
        ax.set_yscale("log")
        ax.set_xlabel("mean-field time t")
        ax.set_ylabel("population loss")
        ax.set_title(case)
        ax.legend(fontsize=7)

        ax = axes[1][column]
        pts = [r for r in summary if r["case"] == case]
        w = np.array([float(r["width"]) for r in pts])
        for quantity, key, marker in (("loss", "loss_deviation", "o"), ("order parameters", "order_parameter_deviation", "s")):
            mean = np.array([float(r["mean_" + key]) for r in pts])
            se = np.array([float(r["se_" + key]) for r in pts])
            fit = next(f for f in fits if f["case"] == case and f["quantity"] == quantity)
            slope = float(fit["slope"])
            ax.errorbar(w, mean, yerr=se, fmt=marker, capsize=3,
                        label=f"{quantity}: slope {slope:.3f} [{float(fit['ci_low']):.3f}, {float(fit['ci_high']):.3f}]")
            ax.plot(w, mean[0] * (w / w[0]) ** -0.5, "k:", lw=1)
        ax.plot([], [], "k:", label="theory: width$^{-1/2}$")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width (dense H, or expert width h)")
        ax.set_ylabel("mean max$_t$ deviation from limit")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "meanfield_convergence.png", dpi=120)
    fig.savefig(out / "meanfield_convergence.pdf")


if __name__ == "__main__":
    main(sys.argv[1])
