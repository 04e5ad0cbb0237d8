"""fixed-hp-scaling figure: final validation loss against each model axis (activated experts a,
capacity N, granularity m, depth L; log2 x axis) at the dense proxy's tuned HPs transferred by
complete-mue (solid), and with the route scale removed (R = 1, dashed control) on the axes where a grows.
Mean ± SE over seeds; each curve's lowest point starred; the fitted slope (nats per doubling, 95% CI)
in the legend. Theory: non-increasing (slope ≤ 0) under complete-mue. A last panel shows the shared-expert
observation: N = 16, a = 4 against N = 14, a = 2 with one shared expert of width d (experts of width d/2;
same total and active expert parameters)."""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import num, plt, read_csv, save  # noqa: E402

AXIS_LABELS = {"n_active": "activated experts a (N fixed)", "n_experts": "capacity N (a = 1)",
               "granularity": "granularity m: (4m, m, d/m)", "n_layers": "depth L"}


def main(out_dir):
    points = read_csv(os.path.join(out_dir, "points.csv"))
    slopes = read_csv(os.path.join(out_dir, "slopes.csv"))
    axes = [a for a in dict.fromkeys(r["axis"] for r in points) if a != "shared"]
    shared = [r for r in points if r["axis"] == "shared"]
    settings = list(dict.fromkeys(r["setting"] for r in points))
    styles = {s: ("-", "tab:blue") if i == 0 else ("--", "tab:red") for i, s in enumerate(settings)}
    panels = len(axes) + (1 if shared else 0)
    fig, grid = plt.subplots(1, panels, figsize=(3.9 * panels, 3.5), squeeze=False)
    for j, axis in enumerate(axes):
        ax = grid[0][j]
        for setting in settings:
            pts = sorted((num(r["axis_value"]), num(r["mean_loss"]), num(r["standard_error"]))
                         for r in points if r["axis"] == axis and r["setting"] == setting)
            pts = [p for p in pts if math.isfinite(p[1])]
            if not pts:
                continue
            ls, colour = styles[setting]
            slope = [s for s in slopes if s["axis"] == axis and s["setting"] == setting]
            label = setting
            if slope:
                s = slope[0]
                label += f"\nslope {num(s['slope']):+.3f} [{num(s['ci_low']):+.3f}, {num(s['ci_high']):+.3f}]"
            xs = [math.log2(p[0]) for p in pts]
            ax.errorbar(xs, [p[1] for p in pts], yerr=[p[2] for p in pts], ls=ls, color=colour, marker="o", ms=4, capsize=2,
                        label=label)
            i = min(range(len(pts)), key=lambda q: pts[q][1])
            ax.plot([xs[i]], [pts[i][1]], marker="*", ms=12, color=colour, mec="k", ls="")
        ax.set_xticks([math.log2(v) for v in sorted({num(r["axis_value"]) for r in points if r["axis"] == axis})])
        ax.set_xticklabels([f"{v:g}" for v in sorted({num(r["axis_value"]) for r in points if r["axis"] == axis})])
        ax.set_xlabel(AXIS_LABELS.get(axis, axis))
        ax.set_ylabel("final val loss")
        ax.set_title(f"{axis} (theory: non-increasing)", fontsize=9)
        ax.legend(fontsize=6)
    if shared:
        ax = grid[0][len(axes)]
        rows = sorted(shared, key=lambda r: num(r["axis_value"]))
        labels = ["N=16, a=4, h=d/2" if num(r["axis_value"]) == 0 else "N=14, a=2, h=d/2\n+1 shared (d)" for r in rows]
        ax.bar(range(len(rows)), [num(r["mean_loss"]) for r in rows], yerr=[num(r["standard_error"]) for r in rows],
               color=["tab:blue", "tab:orange"][:len(rows)], capsize=3)
        lows = [num(r["mean_loss"]) - 3 * num(r["standard_error"]) for r in rows]
        highs = [num(r["mean_loss"]) + 3 * num(r["standard_error"]) for r in rows]
        ax.set_ylim(min(lows) - 0.01, max(highs) + 0.01)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("final val loss")
        ax.set_title("shared expert (same total, active params)", fontsize=9)
    save(fig, out_dir, "fixed_hp_scaling")


if __name__ == "__main__":
    main(sys.argv[1])
