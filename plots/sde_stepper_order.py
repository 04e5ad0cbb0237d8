"""Strong/weak error of Euler-Maruyama and Platen weak-2 vs dt on OU processes, with theory slopes
0.5 / 1 / 2 on the same axes. Weak errors are exact (moments of the probed one-step maps, no error
bars); the strong error is Monte Carlo (mean +- SE)."""
import sde_common as c

out = c.out_dir_from_argv()
rows = c.read_csv(out, "stepper_order.csv")
cases = []
for r in rows:
    key = (r["process"], r["scheme"], r["measure"])
    if key not in cases:
        cases.append(key)
fig, axes = c.plt.subplots(1, 3, figsize=(14, 4.2))
order = {"strong": 0.5, "euler-maruyama": 1.0, "platen": 2.0}
for process, ax in zip(["additive-ou", "multiplicative-ou", "general-noise-ou-2d"], axes):
    for key in [k for k in cases if k[0] == process]:
        sel = [r for r in rows if (r["process"], r["scheme"], r["measure"]) == key]
        xs = [r["dt"] for r in sel]
        ys = [r["error"] for r in sel]
        se = [r["standard_error"] for r in sel]
        ax.errorbar(xs, ys, yerr=se, marker="o", capsize=2, label="%s, %s" % (key[1], key[2]))
        p = 0.5 if key[2].startswith("strong") else order[key[1]]
        c.reference_line(ax, xs, ys, p, "theory slope %g" % p)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("dt")
    ax.set_ylabel("error")
    ax.set_title(process)
    ax.legend(fontsize=7)
c.save(fig, out, "sde_stepper_order")
