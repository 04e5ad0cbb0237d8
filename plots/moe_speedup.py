"""moe-speedup figure. Left: validation loss against step for the dense proxy (black) and each MoE at
the dense-tuned HPs (mean ± SE over seeds), the dense proxy's final loss as the dashed target line, and
each curve's crossing of it marked (×). Right: speed-up = dense steps / MoE steps with its 95%
bootstrap CI; theory: ≥ 1 (dotted line) for MoEs with more total parameters at equal active compute;
the control (a quarter of the active compute) below 1."""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import num, plt, read_csv, save  # noqa: E402


def main(out_dir):
    curves = read_csv(os.path.join(out_dir, "curves.csv"))
    speed = read_csv(os.path.join(out_dir, "speedup.csv"))
    variants = list(dict.fromkeys(r["variant"] for r in curves))
    cmap = plt.get_cmap("viridis")
    colour = {}
    moe = [v for v in variants if not v.startswith("dense")]
    for k, v in enumerate(moe):
        colour[v] = "tab:red" if v.startswith("control") else cmap(0.85 * k / max(1, len(moe) - 1))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.4, 1]})
    target = num(speed[0]["target_loss"]) if speed else math.nan
    all_y = []
    for v in variants:
        pts = sorted((num(r["step"]), num(r["mean_loss"]), num(r["standard_error"])) for r in curves if r["variant"] == v)
        pts = [p for p in pts if math.isfinite(p[1])]
        c = "k" if v.startswith("dense") else colour[v]
        xs, ys, es = [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]
        all_y += ys
        ax.plot(xs, ys, color=c, lw=2.0 if v.startswith("dense") else 1.2, label=v)
        ax.fill_between(xs, [y - e for y, e in zip(ys, es)], [y + e for y, e in zip(ys, es)], color=c, alpha=0.2)
        for s in speed:
            if s["variant"] == v and math.isfinite(num(s["moe_steps"])):
                ax.plot([num(s["moe_steps"])], [target], marker="x", ms=10, mew=2, color=c, ls="")
    if math.isfinite(target):
        ax.axhline(target, color="k", ls="--", lw=1, label=f"dense final val loss {target:.3f}")
    if all_y:
        lo = min(all_y)
        ax.set_ylim(lo - 0.05, min(max(all_y), target + 4 * (target - lo) + 0.3))
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss")
    ax.set_title("equal (dense-tuned) HPs; × = crossing of the dense target", fontsize=9)
    ax.legend(fontsize=6)

    names = [s["variant"] for s in speed]
    ys = [num(s["speedup"]) for s in speed]
    lo = [max(0.0, y - num(s["ci_low"])) if math.isfinite(num(s["ci_low"])) else 0.0 for s, y in zip(speed, ys)]
    hi = [max(0.0, num(s["ci_high"]) - y) if math.isfinite(num(s["ci_high"])) else 0.0 for s, y in zip(speed, ys)]
    bx.barh(range(len(names)), ys, xerr=[lo, hi], color=[colour.get(n, "grey") for n in names], capsize=3)
    bx.axvline(1.0, color="k", ls=":", label="theory: ≥ 1 at equal active compute")
    bx.set_yticks(range(len(names)))
    bx.set_yticklabels([n.replace("control: ", "control:\n") for n in names], fontsize=7)
    bx.set_xlabel("speed-up = dense steps / MoE steps (95% CI)")
    bx.legend(fontsize=7)
    save(fig, out_dir, "moe_speedup")


if __name__ == "__main__":
    main(sys.argv[1])
