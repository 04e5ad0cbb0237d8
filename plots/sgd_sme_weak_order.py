"""Exact weak error |E phi(x_K) - E phi(X_T)| of the first/second-order SGD SMEs vs eta (no Monte
Carlo, so no error bars), with theory slopes 1 and 2."""
import sde_common as c

out = c.out_dir_from_argv()
rows = c.read_csv(out, "sgd_sme_weak_order.csv")
fig, ax = c.plt.subplots(figsize=(6, 4.5))
for order in (1.0, 2.0):
    for obs, marker in (("E f", "o"), ("E |x|^2", "s")):
        sel = [r for r in rows if r["order"] == order and r["observable"] == obs]
        xs = [r["lr"] for r in sel]
        ys = [r["weak_error"] for r in sel]
        ax.plot(xs, ys, marker=marker, label="order-%d SME, %s" % (order, obs))
        if obs == "E f":
            c.reference_line(ax, xs, ys, order, "theory slope %d" % order)
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("learning rate eta")
ax.set_ylabel("weak error at T = 2")
ax.legend(fontsize=7)
c.save(fig, out, "sde_sgd_sme_weak_order")
