"""Figure of the `meanfield-feature-learning` experiment (docs/theory.md §8): relative feature movement vs
width (mean ± SE over seeds) for erf dense and sigmoid-routed MoE layers under muP/Complete-muE
(theory: flat, Theta(1)) and SP/NTK (theory: width^-1/2, lazy), and the seed-mean training loss
curves per width. Usage: meanfield_feature_learning.py OUT_DIR"""
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from meanfield_common import read




def main(out_dir):
    out = Path(out_dir)
    movement = read(out / "feature_movement.csv")
    curves = read(out / "feature_learning_loss.csv")
    fits = {f["case"]: f for f in read(out / "feature_learning_fits.csv")}
    cases = list(fits)
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    ax = axes[0]
    for index, case in enumerate(cases):
        rows = [r for r in movement if r["case"] == case]
        widths = sorted({int(r["expert_width"]) for r in rows})
        means = np.array([np.mean([float(r["relative_feature_movement"]) for r in rows if int(r["expert_width"]) == w]) for w in widths])
        ses = np.array([np.std([float(r["relative_feature_movement"]) for r in rows if int(r["expert_width"]) == w], ddof=1)
                        / np.sqrt(sum(1 for r in rows if int(r["expert_width"]) == w)) for w in widths])
        fit = fits[case]
        w = np.array(widths, dtype=float)
        ax.errorbar(w, means, yerr=ses, fmt="o" if "NTK" not in case else "s", capsize=3, color=f"C{index}",
                    label=f"{case}: slope {float(fit['slope']):.3f} [{float(fit['ci_low']):.3f}, {float(fit['ci_high']):.3f}]")
        theory = means[0] * (w / w[0]) ** float(fit["predicted"])
        ax.plot(w, theory, ":", color=f"C{index}")
    ax.plot([], [], "k:", label="theory: flat (muP) / width$^{-1/2}$ (NTK)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("expert width h (dense: H)")
    ax.set_ylabel("‖Φ(T) − Φ(0)‖ / ‖Φ(0)‖")
    ax.set_title("relative feature movement")
    ax.legend(fontsize=6)
    for ax, family in zip(axes[1:], ("dense", "MoE")):
        for index, case in enumerate(cases):
            if not case.startswith(family):
                continue
            rows = [r for r in curves if r["case"] == case]
            widths = sorted({int(r["expert_width"]) for r in rows})
            for k, w in enumerate(widths):
                pts = [r for r in rows if int(r["expert_width"]) == w]
                ax.plot([int(r["step"]) for r in pts], [float(r["mean_loss"]) for r in pts], color=f"C{index}",
                        alpha=0.3 + 0.7 * k / max(1, len(widths) - 1), lw=1,
                        label=f"{case.split(',')[-1].strip()} h={w}" if k in (0, len(widths) - 1) else None)
        ax.set_yscale("log")
        ax.set_xlabel("GD step")
        ax.set_ylabel("training loss (mean over seeds)")
        ax.set_title(f"{family}: loss curves across widths")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "meanfield_feature_learning.png", dpi=110)
    fig.savefig(out / "meanfield_feature_learning.pdf")


if __name__ == "__main__":
    main(sys.argv[1])
