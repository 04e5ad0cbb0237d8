"""Weak error of the Adam SDE vs discrete Adam (coupled paths, mean ± SE) vs eta, with THEORY.md's
slope 1 (and slope 2 for reference). Left: skewed (centered-exponential) gradient noise, where the
first-order term is large; right: Gaussian noise, where its E z^3 part vanishes and the first-order
coefficient is small (slope between 1 and 2 on these eta). Controls sigma0 = 0.01 and 0.001."""
import sde_common as c

out = c.out_dir_from_argv()
rows = c.read_csv(out, "adam_sde_weak_order.csv")
fig, axes = c.plt.subplots(1, 2, figsize=(12, 4.5))
for ax, noise in ((axes[0], "centered-exponential"), (axes[1], "gaussian")):
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
                c.reference_line(ax, xs, ys, 1.0, "theory slope 1")
                ax.plot(xs, [ys[-1] * (x / xs[-1]) ** 2 for x in xs], "k:", lw=0.8, label="slope 2 (reference)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("learning rate eta (SDE objects fixed)")
    ax.set_ylabel("|E phi(discrete) - E phi(SDE)|")
    ax.set_title("%s noise" % noise)
    ax.legend(fontsize=7)
c.save(fig, out, "sde_adam_sde_weak_order")
