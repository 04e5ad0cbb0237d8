"""sigma0-specialize: scale-free per-expert sigma0 ratio (eta x noise std / |E g|, pooled over each
expert group) against the axis' reference shape on the specializing testbed, mean over paired seeds
with 95% Student-t intervals, beside the prediction sqrt(N/a) (dashed) and the dense-routing
calibration at the per-expert batch (docs/claims.md `sigma0-shift`)."""
import sde_common as c

out = c.out_dir_from_argv()
rows = c.read_csv(out, "sigma0_ratios.csv")
fig, axes = c.plt.subplots(1, 2, figsize=(12, 4.5))
panels = ((axes[0], ("a", "calibration"), "along a (N = 8, reference a = 8)", lambda r: 8.0 / r["active"] if r["axis"] == "a" else 64.0 / r["batch"]),
          (axes[1], ("N",), "along N (a = 2, reference N = 8)", lambda r: r["experts"] / 8.0))
for ax, axes_names, title, x_of in panels:
    xs_all = []
    for axis in axes_names:
        for stage, marker in (("at init", "o"), ("after the AdamW warm-up", "s")):
            for group, colour in (("expert.in", "C0"), ("expert.out", "C1")):
                sel = [r for r in rows if r["axis"] == axis and r["stage"] == stage and r["group"] == group]
                if not sel:
                    continue
                xs = [x_of(r) for r in sel]
                xs_all += xs
                ys = [r["ratio"] for r in sel]
                err = [[r["ratio"] - r["ci_low"] for r in sel], [r["ci_high"] - r["ratio"] for r in sel]]
                style = "--" if axis == "calibration" else "-"
                ax.errorbar(xs, ys, yerr=err, marker=marker, ls=style, color=colour if axis != "calibration" else "C2",
                            capsize=2, label="%s, %s, %s" % ("dense calibration" if axis == "calibration" else axis, group, stage))
    if xs_all:
        grid = sorted(set(xs_all))
        ax.plot(grid, [x ** 0.5 for x in grid], "k:", lw=1, label="prediction sqrt(N/a)")
        ax.plot(grid, [x ** 0.25 for x in grid], color="grey", ls="-.", lw=0.8, label="(N/a)^0.25 (transformer, at init)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("N/a relative to the reference (calibration: tokens ratio)")
    ax.set_ylabel("scale-free sigma0 ratio")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6)
c.save(fig, out, "sigma0_specialize")
