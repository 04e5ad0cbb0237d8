"""Measured sigma0 ratio (± 1.96 SE) vs kappa for batch x kappa at fixed steps and duration x kappa
at fixed batch, with the theory 1/sqrt(kappa); and the SDE objects' relative change (sqrt vs LR-only)."""
import sde_common as c

out = c.out_dir_from_argv()
noise = c.read_csv(out, "sigma0.csv")
objects = c.read_csv(out, "sde_objects.csv")
fig, (ax, bx) = c.plt.subplots(1, 2, figsize=(11, 4.2))
for case, marker in (("batch-fixed-steps", "o"), ("duration-fixed-batch", "s")):
    sel = [r for r in noise if r["case"] == case]
    ax.errorbar([r["kappa"] for r in sel], [r["sigma0_ratio_measured"] for r in sel],
                yerr=[1.96 * r["sigma0_ratio_se"] for r in sel], marker=marker, ls="", capsize=3, label=case)
ks = [2.0, 4.0, 8.0]
ax.plot(ks, [k ** -0.5 for k in ks], "k--", label="theory 1/sqrt(kappa)")
ax.set_xscale("log", base=2)
ax.set_xlabel("kappa")
ax.set_ylabel("sigma0 ratio (target/base)")
ax.legend(fontsize=8)
names = ["horizon", "wd_rate", "c1", "c2", "eps0"]
for case, offset in (("sqrt", -0.2), ("lr-only", 0.2)):
    sel = [r for r in objects if r["case"] == case and r["kappa"] == 8.0 and r["object"] in names]
    bx.bar([i + offset for i in range(len(sel))], [max(r["relative_change"], 1e-17) for r in sel], width=0.4,
           label=case + " rule, kappa = 8")
bx.set_xticks(range(len(names)))
bx.set_xticklabels(names)
bx.set_yscale("log")
bx.set_ylabel("relative change (theory: 0 for sqrt)")
bx.legend(fontsize=8)
c.save(fig, out, "sde_batch_duration")
