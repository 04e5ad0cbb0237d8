"""Figure of the `meanfield-bridge1` experiment (docs/theory.md §5.1, §8): the limit loss of a Dense MoE
(a = N, uniform gates, R = N, A = d/H_act) overlaid on the dense layer of width H_act, with the
control R = 1 separating; and the finite-width rate panel: deviation of Dense MoE runs from the
common limit vs H_act (±SE over seeds), R = N converging as H_act^(-1/2), R = 1 not converging.
Usage: meanfield_bridge1.py OUT_DIR"""
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from meanfield_common import read




def main(out_dir):
    out = Path(out_dir)
    limits = read(out / "bridge1_limits.csv")
    finite = read(out / "bridge1_finite_width.csv")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    styles = {"dense H_act": ("k-", 3), "Dense MoE R=N": ("C1--", 2), "Dense MoE R=1 (control)": ("C3-.", 2)}
    for name, (style, width) in styles.items():
        rows = [r for r in limits if r["network"] == name]
        left.plot([float(r["time"]) for r in rows], [float(r["loss"]) for r in rows], style, lw=width, label=name)
    left.set_yscale("log")
    left.set_xlabel("mean-field time t")
    left.set_ylabel("limit population loss")
    left.set_title("h → ∞ limits (Dormand–Prince, rel tol 1e-9)")
    left.legend()
    widths = sorted({int(r["expert_width"]) for r in finite})
    n_experts = 8
    for key, label, marker in (("max_loss_deviation_from_limit", "Dense MoE R=N vs common limit", "o"),
                               ("max_loss_deviation_from_limit_no_route_scale", "control R=1 vs dense limit", "s")):
        means, ses = [], []
        for h in widths:
            values = np.array([float(r[key]) for r in finite if int(r["expert_width"]) == h])
            means.append(values.mean())
            ses.append(values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0)
        h_act = np.array(widths) * n_experts
        right.errorbar(h_act, means, yerr=ses, fmt=marker, capsize=3, label=label)
        if key == "max_loss_deviation_from_limit":
            right.plot(h_act, means[0] * (h_act / h_act[0]) ** -0.5, "k:", label="theory: H_act$^{-1/2}$")
    gap = max(float(r["max_relative_loss_gap_moe_vs_dense"]) for r in finite)
    right.set_title(f"finite width (MoE vs sliced dense: worst gap {gap:.1e})", fontsize=9)
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("active width H_act = N·h")
    right.set_ylabel("mean max$_t$ |L − L$_\\infty$|")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "meanfield_bridge1.png", dpi=120)
    fig.savefig(out / "meanfield_bridge1.pdf")


if __name__ == "__main__":
    main(sys.argv[1])
