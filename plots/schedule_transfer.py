"""duration-transfer and batch-transfer figures (docs/theory.md §4, docs/claims.md `duration-transfer`,
`batch-transfer`): per series (duration; batch at fixed tokens; batch at fixed steps) and knob (LR,
WD), the proxy-value curves of the dense proxy and of the MoE at every point of the series under
Complete-muE's sqrt rule (mean ± SE over seeds, optimum with its bootstrap CI starred), and the path
of the optimum along the series for every rule (sqrt, lr-only, none) with its CI: under a correct
rule the path is flat."""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import colours, num, plt, read_csv, save  # noqa: E402

RULE_STYLE = {"sqrt": ("-", "o"), "lr-only": (":", "^"), "none": ("--", "s")}
MODEL_COLOUR = {"dense": "tab:blue", "moe": "tab:orange"}


def main(out_dir):
    all_curves = read_csv(os.path.join(out_dir, "curves.csv"))
    all_optima = read_csv(os.path.join(out_dir, "optima.csv"))
    all_drifts = read_csv(os.path.join(out_dir, "drifts.csv"))
    series = list(dict.fromkeys(r["series"] for r in all_drifts))
    axis_of = {r["series"]: r["axis"] for r in all_drifts}
    models = sorted({r["model"] for r in all_curves})
    swept = {(r["series"], r["knob"]) for r in all_drifts}  # a series may sweep the LR only
    rows = [(sr, knob, label) for sr in series
            for knob, label in (("lr", "log2 proxy LR"), ("wd", "log2 proxy weight decay")) if (sr, knob) in swept]
    fig, grid = plt.subplots(len(rows), len(models) + 1, figsize=(6 * (len(models) + 1), 4.5 * len(rows)),
                             squeeze=False)
    for row, (sr, knob, label) in enumerate(rows):
        curves = [r for r in all_curves if r["series"] == sr]
        optima = [r for r in all_optima if r["series"] == sr]
        drifts = {(r["knob"], r["model"], r["rule"]): r for r in all_drifts if r["series"] == sr}
        axis = axis_of[sr]

        def at(r):
            return int(r[axis])
        symbol = "T" if axis == "steps" else "B"
        for col, model in enumerate(models):
            ax = grid[row][col]
            sel = [r for r in curves if r["knob"] == knob and r["model"] == model and r["rule"] == "sqrt"]
            steps = sorted({at(r) for r in sel})
            c = colours(steps)
            for t in steps:
                pts = sorted((r for r in sel if at(r) == t), key=lambda r: num(r["log2_value"]))
                first = pts[0] if pts else {"batch_size": "?", "steps": "?"}
                ax.errorbar([num(r["log2_value"]) for r in pts], [num(r["mean_loss"]) for r in pts],
                            yerr=[num(r["standard_error"]) for r in pts], color=c[t], marker=".", capsize=2,
                            label=f"B = {first['batch_size']}, T = {first['steps']}")
                for o in optima:
                    if (o["knob"], o["model"], o["rule"], at(o)) == (knob, model, "sqrt", t):
                        x, lo, hi = num(o["log2_star"]), num(o["ci_low"]), num(o["ci_high"])
                        ax.errorbar([x], [num(o["loss_star"])], xerr=[[x - lo], [hi - x]], color=c[t], marker="*",
                                    ms=12, mec="k", capsize=3, ls="")
            d = drifts.get((knob, model, "sqrt"))
            title = f"{sr}, {model}: {knob.upper()} sweeps, batch_duration = sqrt"
            if d:
                title += (f"\ndrift per doubling of {symbol} {num(d['drift']):+.2f} [{num(d['ci_low']):+.2f}, "
                          f"{num(d['ci_high']):+.2f}] (0 ± {num(d['bound']):g}: {d['verdict']})")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel(label + " (transferred to T by the rule)")
            ax.set_ylabel("final validation loss")
            ax.legend(fontsize=7)
        ax = grid[row][len(models)]
        for model in models:
            for rule, (ls, marker) in RULE_STYLE.items():
                sel = sorted((o for o in optima if o["knob"] == knob and o["model"] == model and o["rule"] == rule),
                             key=at)
                if not sel:
                    continue
                xs = [math.log2(at(o)) for o in sel]
                ys = [num(o["log2_star"]) for o in sel]
                err = [[y - num(o["ci_low"]) for y, o in zip(ys, sel)], [num(o["ci_high"]) - y for y, o in zip(ys, sel)]]
                d = drifts.get((knob, model, rule))
                tag = f" ({num(d['drift']):+.2f}/doubling, {d['verdict']})" if d else ""
                ax.errorbar(xs, ys, yerr=err, ls=ls, marker=marker, color=MODEL_COLOUR.get(model, "k"), capsize=3,
                            label=f"{model}, {rule}{tag}")
        ax.set_xlabel("log2 T (steps)" if axis == "steps" else "log2 B (sequences per step)")
        ax.set_ylabel(f"optimal {label}")
        ax.set_title(f"{sr}: {knob.upper()} optimum of the proxy vs {symbol} (95% CI); a correct rule is flat",
                     fontsize=9)
        ax.legend(fontsize=6)
    save(fig, out_dir, os.path.basename(os.path.normpath(out_dir)).replace("-", "_"))


if __name__ == "__main__":
    main(sys.argv[1])
