"""E loss (mean ± SE over paths) vs fraction of the run (= SDE time / horizon) for batch x kappa;
the theory predicts one curve per panel for Adam-sqrt and SGD-linear (collapse). The kappa range is
the one where the SDE's own diagnostic |E g|^2 / tr Cov g at the start stays <= 0.1 (in the titles)."""
import sde_common as c

out = c.out_dir_from_argv()
rows = c.read_csv(out, "sqrt_rule_collapse.csv")
panels = [("adam", "sqrt"), ("sgd", "linear"), ("adam", "linear"), ("sgd", "sqrt")]
fig, axes = c.plt.subplots(1, 4, figsize=(16, 4), sharey=True)
for (opt, rule), ax in zip(panels, axes):
    sel = [r for r in rows if r["optimizer"] == opt and r["rule"] == rule]
    for kappa in sorted({r["kappa"] for r in sel}):
        k = [r for r in sel if r["kappa"] == kappa]
        xs = [r["fraction"] for r in k]
        ys = [r["loss_mean"] for r in k]
        se = [r["loss_se"] for r in k]
        ax.plot(xs, ys, label="kappa = %d" % kappa)
        ax.fill_between(xs, [y - s for y, s in zip(ys, se)], [y + s for y, s in zip(ys, se)], alpha=0.3)
    claim = (opt, rule) in (("adam", "sqrt"), ("sgd", "linear"))
    dominance = max(r["noise_dominance"] for r in sel)
    ax.set_title("%s, %s rule (%s)\nnoise dominance at start <= %.3f" %
                 (opt, rule, "claim: collapse" if claim else "control: no collapse", dominance), fontsize=9)
    ax.set_xlabel("SDE time / horizon")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
axes[0].set_ylabel("E loss")
c.save(fig, out, "sde_sqrt_rule_collapse")
