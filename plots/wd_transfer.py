"""wd-transfer figure (docs/claims.md `wd-transfer`): one row per scope (lambda of every group; lambda of
the MoE block alone). Weight-decay curves (mean ± SE over seeds) across the activated experts a (N = 8) and
the capacity N (a = 2) under Complete-muE, with each curve's lambda* (star, bootstrap CI) and upper knee
(dotted: loss = minimum + delta), and the knee and lambda* paths of the rule and of its power check
(MoE-block weight decay x2 per step) against the axis."""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import colours, num, plt, read_csv, save  # noqa: E402

AXES = (("n_active", "a"), ("n_experts", "N"))
SCOPES = (("all", "lambda of every group"), ("block", "lambda of the MoE block only"))


def axis_value(row, axis):
    return int(row["active"] if axis == "n_active" else row["experts"])


def curve_panel(ax, curves, optima, drifts, scope, axis, symbol, scope_label):
    rows = [r for r in curves if r["scope"] == scope and r["axis"] == axis and r["power_check"] == "0"]
    values = sorted({axis_value(r, axis) for r in rows})
    col = colours(values)
    for v in values:
        sel = sorted((r for r in rows if axis_value(r, axis) == v), key=lambda r: num(r["log2_weight_decay"]))
        ax.errorbar([num(r["log2_weight_decay"]) for r in sel], [num(r["mean_loss"]) for r in sel],
                    yerr=[num(r["standard_error"]) for r in sel], color=col[v], marker=".", capsize=2,
                    label=f"{symbol}={v}")
        for o in optima:
            if o["scope"] != scope or o["axis"] != axis or o["power_check"] != "0" or axis_value(o, axis) != v:
                continue
            x, lo, hi = num(o["log2_lambda_star"]), num(o["ci_low"]), num(o["ci_high"])
            ax.errorbar([x], [num(o["loss_star"])], xerr=[[x - lo], [hi - x]], color=col[v], marker="*", ms=12,
                        mec="k", capsize=3, ls="")
            if not math.isnan(num(o["log2_knee"])):
                ax.axvline(num(o["log2_knee"]), color=col[v], ls=":", lw=1)
    title = f"{scope_label}: WD sweeps across {symbol}"
    for statistic in ("knee", "lambda*"):
        d = drifts.get((scope, statistic, axis, "0"))
        if d:
            title += (f"\n{statistic} drift {d['direction']} {num(d['drift']):+.2f} "
                      f"[{num(d['ci_low']):+.2f}, {num(d['ci_high']):+.2f}] (0 ± {num(d['bound']):.3g}: {d['verdict']})")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("log2 base weight decay (grid centre: eta x lambda x T = 1)")
    ax.set_ylabel("final validation loss")
    ax.legend(fontsize=7)


def path_panel(ax, optima, scope, scope_label):
    for (axis, symbol), colour in zip(AXES, ("C0", "C1")):
        for power, style, label in (("0", "-", "Complete-muE"), ("1", "--", "power check")):
            sel = sorted((r for r in optima if r["scope"] == scope and r["axis"] == axis and r["power_check"] == power),
                         key=lambda r: axis_value(r, axis))
            xs = [math.log2(axis_value(r, axis)) for r in sel]
            ax.plot(xs, [num(r["log2_knee"]) for r in sel], "o" + style, color=colour,
                    label=f"knee along {symbol}, {label}")
            ax.plot(xs, [num(r["log2_lambda_star"]) for r in sel], "*" + style, color=colour, alpha=0.5, ms=10,
                    label=f"lambda* along {symbol}, {label}")
    ax.set_xlabel("log2 a (N = 8) or log2 N (a = 2)")
    ax.set_ylabel("log2 base weight decay")
    ax.set_title(f"{scope_label}: knee and lambda* paths", fontsize=9)
    ax.legend(fontsize=6)


def main(out_dir):
    curves = read_csv(os.path.join(out_dir, "curves.csv"))
    optima = read_csv(os.path.join(out_dir, "optima.csv"))
    drifts = {(r["scope"], r["statistic"], r["axis"], r["power_check"]): r
              for r in read_csv(os.path.join(out_dir, "drifts.csv"))}
    fig, grid = plt.subplots(2, 3, figsize=(19, 9.5))
    for row, (scope, scope_label) in enumerate(SCOPES):
        for col, (axis, symbol) in enumerate(AXES):
            curve_panel(grid[row][col], curves, optima, drifts, scope, axis, symbol, scope_label)
        path_panel(grid[row][2], optima, scope, scope_label)
    fig.tight_layout()
    save(fig, out_dir, "wd_transfer")


if __name__ == "__main__":
    main(sys.argv[1])
