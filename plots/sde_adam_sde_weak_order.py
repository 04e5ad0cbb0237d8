"""Weak error of the Adam SDE vs discrete Adam (coupled paths, mean ± SE) vs eta. Left: skewed
(centered-exponential) gradient noise, where THEORY.md's slope 1 applies; right: Gaussian noise, where
the first-order term vanishes (E z^3 = 0) and the derived slope is 2. Controls sigma0 = 0.01 and 0.001
(gradient no longer dominated by noise) on both."""
import sde_common as c

out = c.out_dir_from_argv()
rows = c.read_csv(out, "adam_sde_weak_order.csv")
fig, axes = c.plt.subplots(1, 2, figsize=(12, 4.5))
for ax, noise, order in ((axes[0], "centered-exponential", 1.0), (axes[1], "gaussian", 2.0)):
    for sigma0 in sorted({r["sigma0"] for r in rows}, reverse=True):
        for obs, marker in (("E f", "o"), ("E |x|^2", "s")):
            sel = [r for r in rows if r["noise"] == noise and r["sigma0"] == sigma0 and r["observable"] == obs]
            if not sel:
                continue
            xs = [r["lr"] for r in sel]
            ys = [r["weak_error"] for r in sel]
            ax.errorbar(xs, ys, yerr=[r["standard_error"] for r in sel], marker=marker, capsize=2,
                        label="sigma0 = %g, %s" % (sigma0, obs))
            if obs == "E f" and sigma0 == 1.0:
                c.reference_line(ax, xs, ys, order, "slope %g" % order)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("learning rate eta (SDE objects fixed)")
    ax.set_ylabel("|E phi(discrete) - E phi(SDE)|")
    ax.set_title("%s noise" % noise)
    ax.legend(fontsize=7)
c.save(fig, out, "sde_adam_sde_weak_order")
