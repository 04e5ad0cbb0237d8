"""Weak error of the Adam SDE vs discrete Adam (coupled paths, mean ± SE) vs eta, for sigma0 = 1
(noise dominates) and the control sigma0 = 0.01, with the theory slope 1."""
import sde_common as c

out = c.out_dir_from_argv()
rows = c.read_csv(out, "adam_sde_weak_order.csv")
fig, ax = c.plt.subplots(figsize=(6, 4.5))
for sigma0 in sorted({r["sigma0"] for r in rows}, reverse=True):
    for obs, marker in (("E f", "o"), ("E |x|^2", "s")):
        sel = [r for r in rows if r["sigma0"] == sigma0 and r["observable"] == obs]
        xs = [r["lr"] for r in sel]
        ys = [r["weak_error"] for r in sel]
        ax.errorbar(xs, ys, yerr=[r["standard_error"] for r in sel], marker=marker, capsize=2,
                    label="sigma0 = %g, %s" % (sigma0, obs))
        if obs == "E f" and sigma0 == 1.0:
            c.reference_line(ax, xs, ys, 1.0, "theory slope 1")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("learning rate eta (SDE objects fixed)")
ax.set_ylabel("|E phi(discrete) - E phi(SDE)|")
ax.legend(fontsize=7)
c.save(fig, out, "sde_adam_sde_weak_order")
