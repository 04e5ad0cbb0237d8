"""lr-transfer figure: loss vs log2 base LR per axis (rows) and rule source (columns), mean ± SE over
seeds, every curve's optimum marked (star, bootstrap CI bar); the theory (no drift: the optimum of the
smallest axis value carried to all values) as a dotted line. Second figure: log2 lr* vs the axis."""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import colours, num, plt, read_csv, save  # noqa: E402


def swept_knob(out_dir):
    """The proxy hyperparameter the sweeps vary ("lr", or "init_std" for init-transfer), from plan.json."""
    try:
        with open(os.path.join(out_dir, "plan.json")) as f:
            return json.load(f)["settings"].get("knob", "lr")
    except (OSError, ValueError, KeyError):
        return "lr"


def main(out_dir):
    knob = swept_knob(out_dir)
    label = "base LR" if knob == "lr" else "base init std"
    curves = read_csv(os.path.join(out_dir, "curves.csv"))
    optima = read_csv(os.path.join(out_dir, "optima.csv"))
    axes = list(dict.fromkeys(r["axis"] for r in curves))
    rules = list(dict.fromkeys(r["rule"] for r in curves))
    fig, grid = plt.subplots(len(axes), len(rules), figsize=(3.6 * len(rules), 2.8 * len(axes)), squeeze=False)
    for i, axis in enumerate(axes):
        for j, rule in enumerate(rules):
            ax = grid[i][j]
            rows = [r for r in curves if r["axis"] == axis and r["rule"] == rule]
            if not rows:
                ax.axis("off")
                continue
            values = sorted({num(r["axis_value"]) for r in rows})
            col = colours(values)
            finite = [num(r["mean_loss"]) for r in rows if math.isfinite(num(r["mean_loss"]))]
            for v in values:
                pts = sorted((num(r["log2_lr"]), num(r["mean_loss"]), num(r["standard_error"]))
                             for r in rows if num(r["axis_value"]) == v)
                xs = [p[0] for p in pts if math.isfinite(p[1])]
                ys = [p[1] for p in pts if math.isfinite(p[1])]
                es = [p[2] if math.isfinite(p[2]) else 0.0 for p in pts if math.isfinite(p[1])]
                ax.errorbar(xs, ys, yerr=es, color=col[v], marker="o", ms=3, lw=1.2, capsize=2, label=f"{axis}={v:g}")
                for o in optima:
                    if o["axis"] == axis and o["rule"] == rule and num(o["axis_value"]) == v:
                        x, lo, hi = num(o["log2_lr_star"]), num(o["ci_low"]), num(o["ci_high"])
                        y = num(o["loss_star"])
                        ax.errorbar([x], [y], xerr=[[x - lo], [hi - x]], color=col[v], marker="*", ms=11,
                                    mec="k", capsize=3, lw=1.0)
            first = [o for o in optima if o["axis"] == axis and o["rule"] == rule]
            if first:
                ref = min(first, key=lambda o: num(o["axis_value"]))
                ax.axvline(num(ref["log2_lr_star"]), color="grey", ls=":", lw=1.2, label="theory: no drift")
            if finite:
                lo, hi = min(finite), max(finite)
                top = min(hi, lo + 2.5 * (sorted(finite)[len(finite) // 2] - lo) + 0.1)
                # Never cut a curve off above its own minimum (a narrower model sits higher).
                for v in values:
                    own = [num(r["mean_loss"]) for r in rows if num(r["axis_value"]) == v and math.isfinite(num(r["mean_loss"]))]
                    if own:
                        top = max(top, min(own) + 0.1 * (max(own) - min(own) + 0.1))
                ax.set_ylim(lo - 0.05 * (hi - lo + 1e-9), min(hi + 0.01, top))
            ax.set_title(f"{rule}: {axis}", fontsize=9)
            ax.set_xlabel(f"log2 {label}")
            ax.set_ylabel("final val loss")
            ax.legend(fontsize=6)
    save(fig, out_dir, "lr_transfer_curves")

    fig, grid = plt.subplots(1, len(axes), figsize=(3.6 * len(axes), 3.0), squeeze=False)
    for i, axis in enumerate(axes):
        ax = grid[0][i]
        for k, rule in enumerate(rules):
            pts = sorted((num(o["axis_value"]), num(o["log2_lr_star"]), num(o["ci_low"]), num(o["ci_high"]))
                         for o in optima if o["axis"] == axis and o["rule"] == rule)
            if not pts:
                continue
            xs = [math.log2(p[0]) for p in pts]
            ys = [p[1] for p in pts]
            ax.errorbar(xs, ys, yerr=[[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]], marker="o",
                        capsize=3, label=rule, color=plt.get_cmap("tab10")(k))
            ax.plot(xs, [ys[0]] * len(xs), ls=":", color=plt.get_cmap("tab10")(k), lw=1)
        ax.set_xlabel(f"log2 {axis}")
        ax.set_ylabel(f"log2 {knob}* (dotted: theory, no drift)")
        ax.legend(fontsize=7)
    save(fig, out_dir, "lr_transfer_optima")


if __name__ == "__main__":
    main(sys.argv[1])
