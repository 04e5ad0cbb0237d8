"""Bridge II figures (docs/theory.md §5.2, §9): (1) per-expert sigma0 ratio measured vs predicted sqrt(a/a')
and sqrt(N'/N); (2)-(4) shift of the LR and WD optimum (bootstrap 95% CI over seeds, relative to the
base shape) vs a and N for AdamW (balanced and learned router), the sigma0-only families (dense
routing at the same per-expert tokens: the drift the SDE predicts from sigma0 alone), the
per-expert-batch rule and plain SGD controls; (5) the loss curves of the LR and WD sweeps."""
import math

import sde_common as c

out = c.out_dir_from_argv()
sigma = c.read_csv(out, "bridge2_sigma0.csv")
optima = c.read_csv(out, "bridge2_optima.csv")
sweeps = c.read_csv(out, "bridge2_sweeps.csv")
BATCH, EXPERTS = 32.0, 8.0

fig, axes = c.plt.subplots(1, 4, figsize=(20, 4.5))
ax = axes[0]
for varied, marker in (("active experts a", "o"), ("capacity N", "s")):
    sel = [r for r in sigma if r["varied"] == varied]
    ax.errorbar([r["sigma0_ratio_predicted"] for r in sel], [r["sigma0_ratio"] for r in sel],
                yerr=[1.96 * r["sigma0_ratio_se"] for r in sel], marker=marker, ls="", capsize=3,
                label="vary " + varied)
ax.plot([0.9, 3.0], [0.9, 3.0], "k--", label="theory: sqrt(a/a'), sqrt(N'/N)")
ax.set_xlabel("predicted sigma0 ratio")
ax.set_ylabel("measured sigma0 ratio (fixed eta)")
ax.legend(fontsize=8)
ax.set_title("sigma0-shift")


def family_points(family, knob, keep, x_of):
    sel = sorted((r for r in optima if r["family"] == family and r["knob"] == knob and keep(r)), key=x_of)
    return [(x_of(r), r["log2_optimum"], r["ci_low"], r["ci_high"]) for r in sel]


def plot_relative(ax, points, reference, label, style):
    """Optimum minus the reference optimum (the base shape of the same sweep kind)."""
    if not points:
        return
    xs = [p[0] for p in points]
    ys = [p[1] - reference for p in points]
    lo = [max(p[1] - p[2], 0.0) for p in points]
    hi = [max(p[3] - p[1], 0.0) for p in points]
    ax.errorbar(xs, ys, yerr=[lo, hi], capsize=3, label=label, **style)


def base_optimum(family, knob, experts, active, batch=BATCH):
    sel = [r for r in optima if r["family"] == family and r["knob"] == knob and r["experts"] == experts
           and r["active"] == active and r["batch"] == batch]
    return sel[0]["log2_optimum"] if sel else float("nan")


def a_of_tokens(r):  # dense sigma0-only run at batch b has the per-expert tokens of a = b N / B
    return r["tokens_per_expert"] * EXPERTS / BATCH


for ax, knob, title in ((axes[1], "lr", "LR optimum vs a (N = 8)"), (axes[3], "wd", "WD optimum vs a and N")):
    n8 = lambda r: r["experts"] == EXPERTS and r["batch"] == BATCH  # noqa: E731
    base = base_optimum("adamw", knob, EXPERTS, EXPERTS)
    plot_relative(ax, family_points("adamw", knob, n8, lambda r: r["active"]), base,
                  "AdamW, balanced: vs a", dict(marker="o", color="C0"))
    so = family_points("sigma0-only", knob, lambda r: True, a_of_tokens)
    plot_relative(ax, [p for p in so if p[0] >= 1] + [(EXPERTS, base, base, base)], base,
                  "sigma0-only (dense, batch B a/N)", dict(marker="^", ls=":", color="C2"))
    if knob == "lr":
        lb = base_optimum("adamw-learned-router", knob, EXPERTS, EXPERTS)
        plot_relative(ax, family_points("adamw-learned-router", knob, n8, lambda r: r["active"]), lb,
                      "AdamW, learned sigmoid router", dict(marker="D", color="C1"))
        slb = family_points("sigma0-only-learned-router", knob, lambda r: True, a_of_tokens)
        plot_relative(ax, slb + [(EXPERTS, lb, lb, lb)], lb, "sigma0-only, learned router",
                      dict(marker="v", ls=":", color="C1", alpha=0.6))
        sp = base_optimum("sgd-plain", knob, EXPERTS, EXPERTS)
        plot_relative(ax, family_points("sgd-plain", knob, n8, lambda r: r["active"]), sp,
                      "control: plain SGD, plain MoE", dict(marker="x", color="C3"))
        sc = base_optimum("sgd-complete-mue", knob, EXPERTS, EXPERTS)
        plot_relative(ax, family_points("sgd-complete-mue", knob, n8, lambda r: r["active"]), sc,
                      "SGD, Complete-muE model", dict(marker="+", color="C4"))
        xs = [8.0, 4.0, 2.0, 1.0]
        ax.plot(xs, [0.5 * math.log2(x / EXPERTS) for x in xs], "k:", label="control: per-expert-batch rule")
    else:
        plot_relative(ax, family_points("adamw", knob, lambda r: r["active"] == 2.0,
                                        lambda r: 2.0 * EXPERTS / r["experts"]), base,
                      "AdamW: vs N at a = 2 (plotted at a_eff = 2N0/N)", dict(marker="s", color="C5"))
    ax.axhline(0.0, color="gray", lw=0.8, ls="--", label="first order: unchanged")
    ax.set_xscale("log", base=2)
    ax.invert_xaxis()
    ax.set_xlabel("active experts a (per-expert tokens B a/N)")
    ax.set_ylabel("shift of log2 %s* from the base shape" % ("eta" if knob == "lr" else "lambda"))
    ax.set_title(title)
    ax.legend(fontsize=7)

ax = axes[2]
a2 = lambda r: r["active"] == 2.0 and r["batch"] == BATCH  # noqa: E731
for family, style, label in (("adamw", dict(marker="o", color="C0"), "AdamW, balanced"),
                             ("sgd-plain", dict(marker="x", color="C3"), "control: plain SGD, plain MoE"),
                             ("sgd-complete-mue", dict(marker="+", color="C4"), "SGD, Complete-muE model")):
    ref = base_optimum(family, "lr", EXPERTS, 2.0)
    plot_relative(ax, family_points(family, "lr", a2, lambda r: r["experts"]), ref, label, style)
so = [r for r in optima if r["family"] == "sigma0-only" and r["knob"] == "lr" and r["tokens_per_expert"] <= 8]
so_ref = [r for r in so if r["tokens_per_expert"] == 8]
if so_ref:
    plot_relative(ax, sorted((2.0 * BATCH / r["tokens_per_expert"], r["log2_optimum"], r["ci_low"], r["ci_high"])
                             for r in so), so_ref[0]["log2_optimum"], "sigma0-only (dense, batch B a/N)",
                  dict(marker="^", ls=":", color="C2"))
ax.axhline(0.0, color="gray", lw=0.8, ls="--", label="first order: unchanged")
ax.set_xscale("log", base=2)
ax.set_xlabel("experts N (a = 2)")
ax.set_ylabel("shift of log2 eta* from N = 8")
ax.set_title("LR optimum vs N (a = 2)")
ax.legend(fontsize=7)
c.save(fig, out, "sde_bridge2")

fig, axes = c.plt.subplots(1, 2, figsize=(13, 4.5))
for ax, knob, xlabel in ((axes[0], "lr", "log2 eta"), (axes[1], "wd", "log2 lambda (eta fixed)")):
    for a in (8.0, 4.0, 2.0, 1.0):
        sel = [r for r in sweeps if r["family"] == "adamw" and r["knob"] == knob and r["experts"] == EXPERTS
               and r["active"] == a]
        grid = sorted({r["log2_value"] for r in sel})
        mean, se = [], []
        for g in grid:
            v = [r["loss"] for r in sel if r["log2_value"] == g]
            m = sum(v) / len(v)
            mean.append(m)
            se.append((sum((x - m) ** 2 for x in v) / max(len(v) - 1, 1) / len(v)) ** 0.5)
        line = ax.errorbar(grid, mean, yerr=se, capsize=1, label="a = %d" % a)
        best = min(range(len(mean)), key=lambda i: mean[i])
        ax.plot(grid[best], mean[best], "*", ms=12, color=line[0].get_color())
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("population loss (mean ± SE over seeds)")
    ax.set_title("AdamW %s sweeps, N = 8" % knob.upper())
    ax.legend()
c.save(fig, out, "sde_bridge2_sweeps")
