"""Exact distance |E L_l - E L_32| of SVAG-SGD vs l on linear regression, with the theory
C (1/l - 1/32) (rate 1/l) on the same axes."""
import sde_common as c

out = c.out_dir_from_argv()
rows = [r for r in c.read_csv(out, "svag_rate.csv") if r["kind"] == "exact" and r["ell"] < 32]
xs = [r["ell"] for r in rows]
ys = [r["distance_to_reference"] for r in rows]
fig, ax = c.plt.subplots(figsize=(6, 4.5))
ax.plot(xs, ys, "o-", label="measured (exact moments)")
scale = ys[0] / (1.0 - 1.0 / 32)
ax.plot(xs, [scale * (1.0 / x - 1.0 / 32) for x in xs], "k--", label="theory C (1/l - 1/32)")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("SVAG l")
ax.set_ylabel("|E L_l(T) - E L_32(T)|")
ax.legend()
c.save(fig, out, "sde_svag_rate")
