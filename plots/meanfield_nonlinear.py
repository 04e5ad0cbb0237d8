"""Figure of the `meanfield-nonlinear` experiment (docs/theory.md §8 "Nonlinear"): erf dense and
sigmoid-routed MoE layers trained by population gradient flow. Top: finite-width loss trajectories
(seed 0, one colour per width) with the mean-field reference (Gauss-Hermite node ODE, Dormand-Prince
rel tol 1e-9) overlaid; the MoE panel also shows the limit with the route scale dropped (R=1,
control). Bottom left: an order parameter (teacher overlap E f phi(beta_1 x)) for the dense layer,
finite widths vs the reference. Bottom right: convergence rates, mean max_t deviation from the
reference vs width (+-SE over seeds) with fitted slopes [bootstrap 95% CI] and the predicted
width^(-1/2); the control (MoE runs vs the R=1 limit) stays flat. Right column, the expert-count
axis (fixed expert width h and kappa = a/N): top, finite-N loss trajectories (seed 0) with the
N -> infinity reference (mean of two large-N particle systems) and the exact R=1 limit (f = 0);
bottom, mean max_t deviation vs N with fitted slopes [bootstrap 95% CI], predicted N^(-1/2), and
the control against the R=1 limit. Usage: meanfield_nonlinear.py OUT_DIR"""
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from meanfield_common import read




def column(rows, key):
    return np.array([float(r[key]) for r in rows])


def trajectory_panel(ax, trajectories, case, key, ylabel, log=True, extra_limits=()):
    rows = [r for r in trajectories if r["case"] == case]
    widths = sorted({int(r["width"]) for r in rows if r["kind"] == "finite"})
    cmap = plt.get_cmap("viridis")
    for index, width in enumerate(widths):
        pts = [r for r in rows if r["kind"] == "finite" and int(r["width"]) == width and r["seed"] == "0"]
        ax.plot(column(pts, "time"), column(pts, key), color=cmap(index / max(1, len(widths) - 1)), lw=1,
                label=f"width {width} (seed 0)")
    limit = [r for r in rows if r["kind"] == "limit"]
    ax.plot(column(limit, "time"), column(limit, key), "k--", lw=2, label="mean-field reference")
    for name, label in extra_limits:
        pts = [r for r in trajectories if r["case"] == name and r["kind"] == "limit"]
        if pts:
            ax.plot(column(pts, "time"), column(pts, key), "r:", lw=2, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("mean-field time t")
    ax.set_ylabel(ylabel)
    ax.set_title(case, fontsize=9)
    ax.legend(fontsize=6)


def expert_count_panels(top, bottom, out, count_fits):
    """Expert-count axis: loss trajectories vs the N -> infinity reference, and the convergence rate."""
    trajectories = read(out / "nonlinear_expert_count_trajectories.csv")
    summary = read(out / "nonlinear_expert_count_summary.csv")
    reference = read(out / "nonlinear_expert_count_reference.csv")[0]
    case = count_fits[0]["case"]
    counts = sorted({int(r["n_experts"]) for r in trajectories if r["kind"] == "finite"})
    cmap = plt.get_cmap("plasma")
    for index, n in enumerate(counts):
        pts = [r for r in trajectories if r["kind"] == "finite" and int(r["n_experts"]) == n and r["seed"] == "0"]
        top.plot(column(pts, "time"), column(pts, "loss"), color=cmap(0.85 * index / max(1, len(counts) - 1)), lw=1,
                 label=f"N={n} (seed 0)")
    for kind, style, label in (("limit", "k--", f"N$\\to\\infty$ reference (2 draws, N={reference['reference_experts']})"),
                               ("limit with R=1", "r:", "limit with R=1 (control, f = 0)")):
        pts = [r for r in trajectories if r["kind"] == kind]
        top.plot(column(pts, "time"), column(pts, "loss"), style, lw=2, label=label)
    top.set_yscale("log")
    top.set_xlabel("mean-field time t")
    top.set_ylabel("loss on the input design")
    top.set_title(case + " (N axis)", fontsize=9)
    top.legend(fontsize=6)

    n = column(summary, "n_experts")
    for key, quantity, marker, line, color in (("loss_deviation", "loss", "s", "-", "C1"),
                                               ("order_parameter_deviation", "order parameters", "s", "--", "C1"),
                                               ("loss_deviation_vs_r1_limit", "loss", "x", "-", "C3")):
        control = key.endswith("r1_limit")
        fit = next(f for f in count_fits if f["quantity"] == quantity and (f["kind"] == "control") == control)
        mean = column(summary, "mean_" + key)
        se = column(summary, "se_" + key)
        name = "vs R=1 limit (control)" if control else quantity
        bottom.errorbar(n, mean, yerr=se, fmt=marker + line, color=color, capsize=2, lw=1, ms=4,
                        mfc=color if quantity == "loss" else "none",
                        label=f"{name}: {float(fit['slope']):.2f} [{float(fit['ci_low']):.2f}, {float(fit['ci_high']):.2f}]")
        if not control:
            bottom.plot(n, mean[0] * (n / n[0]) ** -0.5, "k:", lw=0.8)
    gap = float(reference["order_parameter_gap_between_draws"]) / 2
    bottom.axhline(gap, color="grey", lw=0.8, ls="-.", label="reference error estimate (order parameters)")
    bottom.plot([], [], "k:", label="theory: N$^{-1/2}$")
    bottom.set_xscale("log", base=2)
    bottom.set_yscale("log")
    bottom.set_xlabel("expert count N (a = N/4, expert width h fixed)")
    bottom.set_ylabel("mean max$_t$ deviation from N$\\to\\infty$ reference")
    bottom.set_title("convergence along N (slope [95% bootstrap CI])", fontsize=9)
    bottom.legend(fontsize=6)


def main(out_dir):
    out = Path(out_dir)
    trajectories = read(out / "nonlinear_trajectories.csv")
    summary = read(out / "nonlinear_summary.csv")
    fits = read(out / "nonlinear_fits.csv")
    width_fits = [f for f in fits if f.get("axis", "width") == "width"]
    count_fits = [f for f in fits if f.get("axis") == "expert count"]
    cases = [c for c in dict.fromkeys(r["case"] for r in width_fits) if "control" not in c]
    dense, moe = cases[0], cases[1]
    fig, axes = plt.subplots(2, 3 if count_fits else 2, figsize=(16.5 if count_fits else 11, 9))
    trajectory_panel(axes[0][0], trajectories, dense, "loss", "population loss")
    trajectory_panel(axes[0][1], trajectories, moe, "loss", "population loss",
                     extra_limits=((moe + ", limit with R=1", "limit with R=1 (control)"),))
    trajectory_panel(axes[1][0], trajectories, dense, "teacher_overlap_1", r"order parameter $E[f\,\varphi(\beta_1 x)]$",
                     log=False)

    ax = axes[1][1]
    styles = {dense: ("C0", "o"), moe: ("C1", "s")}
    for case in dict.fromkeys(r["case"] for r in width_fits):
        pts = [r for r in summary if r["case"] == case]
        w = column(pts, "width")
        control = "control" in case
        quantities = (("loss", "loss_deviation", "-"),) if control else (
            ("loss", "loss_deviation", "-"), ("order parameters", "order_parameter_deviation", "--"))
        color, marker = ("C3", "x") if control else styles[case]
        for quantity, key, line in quantities:
            mean = column(pts, "mean_" + key)
            se = column(pts, "se_" + key)
            fit = next(f for f in width_fits if f["case"] == case and f["quantity"] == quantity)
            short = "MoE vs R=1 limit (control)" if control else ("dense" if case == dense else "MoE N=8 a=2")
            ax.errorbar(w, mean, yerr=se, fmt=marker + line, color=color, capsize=2, lw=1, ms=4,
                        mfc="none" if quantity != "loss" else color,
                        label=f"{short}, {quantity}: {float(fit['slope']):.2f} [{float(fit['ci_low']):.2f}, {float(fit['ci_high']):.2f}]")
            if not control:
                ax.plot(w, mean[0] * (w / w[0]) ** -0.5, "k:", lw=0.8)
    ax.plot([], [], "k:", label="theory: width$^{-1/2}$")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width (dense H, MoE expert width h at N=8, a=2)")
    ax.set_ylabel("mean max$_t$ deviation from reference")
    ax.set_title("convergence rate (slope [95% bootstrap CI])", fontsize=9)
    ax.legend(fontsize=6)
    if count_fits:
        expert_count_panels(axes[0][2], axes[1][2], out, count_fits)
    fig.tight_layout()
    fig.savefig(out / "meanfield_nonlinear.png", dpi=120)
    fig.savefig(out / "meanfield_nonlinear.pdf")


if __name__ == "__main__":
    main(sys.argv[1])
