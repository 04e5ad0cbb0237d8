"""bridge2-transformer figure (docs/theory.md §5.2, §9): LR curves (mean ± SE over seeds, optimum with its
bootstrap CI marked) across activated experts a (N fixed) and capacity N (a fixed), the same for the WD
curves, and the per-expert sigma0 ratio per expert group vs the prediction sqrt(a/a'), sqrt(N'/N)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import colours, num, plt, read_csv, save  # noqa: E402

AXES = (("n_active", "a"), ("n_experts", "N"))


def axis_value(row, axis):
    return int(row["active"] if axis == "n_active" else row["experts"])


def main(out_dir):
    # The power-check curves (power_check = 1) are judged in verdicts.json, not drawn.
    def rule_rows(name):
        return [r for r in read_csv(os.path.join(out_dir, name)) if r.get("power_check", "0") == "0"]
    curves = rule_rows("curves.csv")
    optima = rule_rows("optima.csv")
    drifts = {(r["knob"], r["axis"]): r for r in rule_rows("drifts.csv")}
    sigma = read_csv(os.path.join(out_dir, "sigma0.csv"))
    fig, grid = plt.subplots(1, 5, figsize=(24, 4.6))
    panel = 0
    for knob, xlabel in (("lr", "log2 base LR (proxy, transferred by Complete-muE)"),
                         ("wd", "log2 base weight decay")):
        for axis, symbol in AXES:
            ax = grid[panel]
            panel += 1
            rows = [r for r in curves if r["knob"] == knob and r["axis"] == axis]
            values = sorted({axis_value(r, axis) for r in rows})
            col = colours(values)
            for v in values:
                sel = sorted((r for r in rows if axis_value(r, axis) == v), key=lambda r: num(r["log2_value"]))
                xs = [num(r["log2_value"]) for r in sel]
                ms = [num(r["mean_loss"]) for r in sel]
                se = [num(r["standard_error"]) for r in sel]
                ax.errorbar(xs, ms, yerr=se, color=col[v], marker=".", capsize=2, label=f"{symbol}={v}")
                opt = [r for r in optima if r["knob"] == knob and r["axis"] == axis and axis_value(r, axis) == v]
                if opt:
                    o = opt[0]
                    x, lo, hi = num(o["log2_star"]), num(o["ci_low"]), num(o["ci_high"])
                    y = num(o["loss_star"])
                    ax.errorbar([x], [y], xerr=[[x - lo], [hi - x]], color=col[v], marker="*", ms=12,
                                mec="k", capsize=3, ls="")
            d = drifts.get((knob, axis))
            title = f"{knob.upper()} sweeps across {symbol}"
            if d:
                title += (f"\ndrift {d['direction']} {num(d['drift']):+.2f} "
                          f"[{num(d['ci_low']):+.2f}, {num(d['ci_high']):+.2f}] (theory 0 ± {num(d['bound']):g}: {d['verdict']})")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("final validation loss")
            ax.legend(fontsize=7)
    ax = grid[4]
    markers = {"expert.up": "o", "expert.gate": "^", "expert.down": "s"}
    for (axis, symbol), fill in zip(AXES, ("full", "none")):
        for stage in sorted({int(r["stage_steps"]) for r in sigma}):
            for group, marker in markers.items():
                sel = [r for r in sigma if r["axis"] == axis and int(r["stage_steps"]) == stage and r["group"] == group]
                if not sel:
                    continue
                xs = [num(r["ratio_predicted"]) for r in sel]
                ys = [num(r["sigma0_ratio"]) for r in sel]
                err = [[y - num(r["ratio_ci_low"]) for y, r in zip(ys, sel)],
                       [num(r["ratio_ci_high"]) - y for y, r in zip(ys, sel)]]
                ax.errorbar(xs, ys, yerr=err, marker=marker, ls="", capsize=3, fillstyle=fill,
                            label=f"vary {symbol}, {group}, {'init' if stage == 0 else f'step {stage}'}")
    top = max([num(r["ratio_predicted"]) for r in sigma] + [1.0]) * 1.15
    ax.plot([0.9, top], [0.9, top], "k--", lw=1, label="theory sqrt(a/a'), sqrt(N'/N)")
    ax.fill_between([0.9, top], [0.9 * 0.9, 0.9 * top], [1.1 * 0.9, 1.1 * top], color="grey", alpha=0.15,
                    label="tolerance ±10%")
    ax.set_xlabel("predicted per-expert sigma0 ratio")
    ax.set_ylabel("measured sigma0 ratio (eta_group x noise std)")
    ax.set_title("sigma0-shift per expert group (95% CI over seeds)", fontsize=9)
    ax.legend(fontsize=6)
    save(fig, out_dir, "bridge2_transformer")


if __name__ == "__main__":
    main(sys.argv[1])
