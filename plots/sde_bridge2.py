"""Bridge II figures: (1) per-expert sigma0 ratio measured vs predicted sqrt(a/a') and sqrt(N'/N);
(2) AdamW LR and WD optimum (bootstrap 95% CI over seeds) vs a and N with the cancellation
prediction (flat), the per-expert-batch rule control and the sigma0-only drift; (3) the LR curves."""
import sde_common as c

out = c.out_dir_from_argv()
sigma = c.read_csv(out, "bridge2_sigma0.csv")
optima = c.read_csv(out, "bridge2_optima.csv")
sweeps = c.read_csv(out, "bridge2_sweeps.csv")

fig, axes = c.plt.subplots(1, 4, figsize=(19, 4.3))
ax = axes[0]
for varied, marker in (("active experts a", "o"), ("capacity N", "s")):
    sel = [r for r in sigma if r["varied"] == varied]
    pred = [r["sigma0_ratio_predicted"] for r in sel]
    ax.errorbar(pred, [r["sigma0_ratio"] for r in sel], yerr=[1.96 * r["sigma0_ratio_se"] for r in sel],
                marker=marker, ls="", capsize=3, label="vary " + varied)
lim = [0.9, 3.0]
ax.plot(lim, lim, "k--", label="theory: measured = predicted")
ax.set_xlabel("predicted sigma0 ratio")
ax.set_ylabel("measured sigma0 ratio")
ax.legend(fontsize=8)
ax.set_title("sigma0-shift")


def plot_optima(ax, knob, x_key, families, title):
    for family, color in families:
        sel = [r for r in optima if r["family"] == family and r["knob"] == knob and x_key(r) is not None]
        if not sel:
            continue
        xs = [x_key(r) for r in sel]
        ys = [r["log2_optimum"] for r in sel]
        lo = [y - r["ci_low"] for y, r in zip(ys, sel)]
        hi = [r["ci_high"] - y for y, r in zip(ys, sel)]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, color=color, label=family)
    ax.set_xscale("log", base=2)
    ax.set_title(title)


ax = axes[1]
plot_optima(ax, "lr", lambda r: r["active"] if r["experts"] == 8 and r["family"] != "sigma0-only" else None,
            [("adamw", "C0"), ("sgd", "C3")], "LR optimum vs a (N = 8)")
so = [r for r in optima if r["family"] == "sigma0-only"]
ax.errorbar([r["batch"] * 8 / 32 for r in so], [r["log2_optimum"] for r in so],
            yerr=[[r["log2_optimum"] - r["ci_low"] for r in so], [r["ci_high"] - r["log2_optimum"] for r in so]],
            marker="^", ls=":", color="C2", capsize=3, label="sigma0-only (dense, batch B a/N)")
base = [r for r in optima if r["family"] == "adamw" and r["knob"] == "lr" and r["experts"] == 8]
ax.plot([r["active"] for r in base], [r["per_expert_batch_rule_log2"] for r in base], "k:",
        label="control: per-expert-batch rule")
if base:
    b0 = [r for r in base if r["active"] == 8][0]["log2_optimum"]
    ax.axhline(b0, color="gray", lw=0.8, ls="--", label="theory: unchanged")
ax.set_xlabel("active experts a")
ax.set_ylabel("log2 eta*")
ax.legend(fontsize=7)

ax = axes[2]
plot_optima(ax, "lr", lambda r: r["experts"] if r["active"] == 2 else None, [("adamw", "C0"), ("sgd", "C3")],
            "LR optimum vs N (a = 2)")
ax.set_xlabel("experts N")
ax.set_ylabel("log2 eta*")
ax.legend(fontsize=7)

ax = axes[3]
plot_optima(ax, "wd", lambda r: r["active"] if r["experts"] == 8 else None, [("adamw", "C0")], "WD optimum vs a")
ax.set_xlabel("active experts a")
ax.set_ylabel("log2 lambda*")
c.save(fig, out, "sde_bridge2")

fig, ax = c.plt.subplots(figsize=(6.5, 4.5))
for a in (8.0, 4.0, 2.0, 1.0):
    sel = [r for r in sweeps if r["family"] == "adamw" and r["knob"] == "lr" and r["experts"] == 8 and r["active"] == a]
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
ax.set_xlabel("log2 eta")
ax.set_ylabel("population loss (mean ± SE over seeds)")
ax.legend()
c.save(fig, out, "sde_bridge2_lr_curves")
