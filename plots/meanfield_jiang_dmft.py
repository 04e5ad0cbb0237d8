"""Figure of the `meanfield-jiang-dmft` experiment (docs/theory.md §6): residual-stream variance at init
vs L, a (fixed kappa), h/d and d (mean ± SE over seeds) with Jiang's alpha*/kappa prediction (slope -1,
flat in d) and the controls (branch 1/sqrt(L), fan-in expert down init); routing-threshold spread vs N
with the order-statistic prediction sqrt(kappa(1-kappa)/N)/density. Usage: meanfield_jiang_dmft.py OUT_DIR"""
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from meanfield_common import read




def mean_se(rows, key, by):
    sizes = sorted({float(r[by]) for r in rows})
    means, ses = [], []
    for s in sizes:
        v = np.array([float(r[key]) for r in rows if float(r[by]) == s])
        means.append(v.mean())
        ses.append(v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0)
    return np.array(sizes), np.array(means), np.array(ses)


def main(out_dir):
    out = Path(out_dir)
    variance = read(out / "jiang_residual_variance.csv")
    threshold = read(out / "jiang_routing_threshold.csv")
    fits = {f["sweep"]: f for f in read(out / "jiang_fits.csv")}
    panels = [("depth L", ["depth L", "depth L, branch 1/sqrt(L)"], "L"),
              ("a at κ = 1/4", ["active a at kappa=1/4"], "a"),
              ("h/d (d = 64)", ["expert width h/d", "expert width h/d, fan-in down"], "h/d"),
              ("d at h/d = 1", ["model width d at h/d=1"], "d")]
    fig, axes = plt.subplots(1, 5, figsize=(24, 4.6))
    for ax, (title, sweeps, label) in zip(axes, panels):
        for index, sweep in enumerate(sweeps):
            rows = [r for r in variance if r["sweep"] == sweep]
            x, m, se = mean_se(rows, "accumulated_variance", "size")
            fit = fits[sweep]
            ax.errorbar(x, m, yerr=se, fmt="os"[index], capsize=3, color=f"C{index * 3}",
                        label=f"{sweep}: slope {float(fit['slope']):.3f} [{float(fit['ci_low']):.3f}, {float(fit['ci_high']):.3f}]")
            if index == 0:
                # theory: Q ∝ α*/κ = d/(a h L), anchored at the first point
                _, ak, _ = mean_se(rows, "alpha_star_over_kappa", "size")
                ax.plot(x, m[0] * ak / ak[0], "k:", lw=1.5, label="theory ∝ α*/κ = d/(a·h·L)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("(1/d)|x_L − x_0|² at init")
        ax.set_title(title)
        ax.legend(fontsize=7)
    ax = axes[4]
    for index, series in enumerate(["kappa = 1/4", "a = 4 fixed (control)"]):
        rows = [r for r in threshold if r["series"] == series]
        key = "sd_gate_threshold" if index == 0 else "sd_logit_threshold"
        x, m, se = mean_se(rows, key, "N")
        fit = fits[("gate threshold sd, " if index == 0 else "logit threshold sd, ") + series]
        ax.errorbar(x, m, yerr=se, fmt="os"[index], capsize=3,
                    label=f"{series} ({'gate' if index == 0 else 'logit'}): slope {float(fit['slope']):.3f}")
        if index == 0:
            _, pred, _ = mean_se(rows, "predicted_gate_sd", "N")
            ax.plot(x, pred, "k:", lw=1.5, label="theory √(κ(1−κ)/N)/density")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("experts N")
    ax.set_ylabel("sd over tokens of the top-a threshold")
    ax.set_title("routing threshold → (1−κ) quantile")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "meanfield_jiang_dmft.png", dpi=110)
    fig.savefig(out / "meanfield_jiang_dmft.pdf")


if __name__ == "__main__":
    main(sys.argv[1])
