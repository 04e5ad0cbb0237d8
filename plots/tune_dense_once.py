"""tune-dense-once figures.
tune_dense_once.png: top row, the dense proxy's calibration sweeps (LR, then WD and init std at the best
LR; mean ± SE over seeds, the fitted optimum marked with its bootstrap CI); bottom, the regret of every
rule source on every MoE target (loss at the transferred HPs minus the best loss of the target's own LR
sweep, 95% bootstrap CI), with the claim's fixed tolerance (regret ≤ 0.01 nats) as a grey band:
theory (docs/theory.md §5) puts complete-mue inside the band; SP leaves it on the wider targets.
tune_dense_once_sweeps.png: each target's own LR sweep (mean ± SE, optimum starred) with the loss of
every rule's transferred HPs as a horizontal tick at the tuned LR."""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import num, plt, read_csv, save  # noqa: E402

RULE_COLOURS = {"complete-mue": "tab:blue", "mup": "tab:orange", "mup-moe": "tab:green", "jiang": "tab:purple",
                "completep": "tab:brown", "sp": "tab:red"}
KNOB_LABELS = {"lr": "log2 base LR", "weight_decay": "log2 weight decay", "init_std": "log2 init std"}


def main(out_dir):
    cal = read_csv(os.path.join(out_dir, "calibration.csv"))
    cal_opt = read_csv(os.path.join(out_dir, "calibration_optima.csv"))
    regret = read_csv(os.path.join(out_dir, "regret.csv"))
    sweeps = read_csv(os.path.join(out_dir, "sweeps.csv"))
    knobs = list(dict.fromkeys(r["knob"] for r in cal))
    targets = list(dict.fromkeys(r["target"] for r in regret))
    rules = list(dict.fromkeys(r["rule"] for r in regret))

    fig = plt.figure(figsize=(max(11, 1.9 * len(targets) + 2), 7.5))
    gs = fig.add_gridspec(2, len(knobs))
    for j, knob in enumerate(knobs):
        ax = fig.add_subplot(gs[0, j])
        pts = sorted((num(r["log2_value"]), num(r["mean_loss"]), num(r["standard_error"])) for r in cal if r["knob"] == knob)
        pts = [p for p in pts if math.isfinite(p[1])]
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", color="k", capsize=2)
        for o in cal_opt:
            if o["knob"] == knob:
                x, lo, hi = num(o["log2_value"]), num(o["ci_low"]), num(o["ci_high"])
                ax.errorbar([x], [num(o["loss"])], xerr=[[max(0.0, x - lo)], [max(0.0, hi - x)]], marker="*", ms=13,
                            color="gold", mec="k", capsize=3, label=f"tuned {knob} = {num(o['value']):.3g}")
        ax.set_xlabel(KNOB_LABELS.get(knob, knob))
        ax.set_ylabel("final val loss (dense proxy)")
        ax.set_title(f"dense proxy: {knob} sweep", fontsize=9)
        ax.legend(fontsize=7)

    ax = fig.add_subplot(gs[1, :])
    width = 0.8 / max(1, len(rules))
    ax.axhspan(-0.01, 0.01, color="0.85", zorder=0, label="claim: regret ≤ 0.01 nats")
    for k, rule in enumerate(rules):
        xs, ys, lo, hi = [], [], [], []
        for t, target in enumerate(targets):
            for r in regret:
                if r["target"] == target and r["rule"] == rule and math.isfinite(num(r["regret"])):
                    y = num(r["regret"])
                    xs.append(t - 0.4 + width * (k + 0.5))
                    ys.append(y)
                    lo.append(max(0.0, y - num(r["ci_low"])) if math.isfinite(num(r["ci_low"])) else 0.0)
                    hi.append(max(0.0, num(r["ci_high"]) - y) if math.isfinite(num(r["ci_high"])) else 0.0)
        ax.bar(xs, ys, width=width, color=RULE_COLOURS.get(rule, None), label=rule, yerr=[lo, hi], capsize=2)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(range(len(targets)))
    ax.set_xticklabels(targets, fontsize=7, rotation=12)
    ax.set_ylabel("regret (nats): transferred − target's best")
    ax.set_title("regret of the dense-tuned HPs per MoE target and rule source (theory: complete-mue inside the grey band)",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=4)
    save(fig, out_dir, "tune_dense_once")

    cols = min(3, len(targets))
    rows = int(math.ceil(len(targets) / cols))
    fig, grid = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    lr_opt = [o for o in cal_opt if o["knob"] == "lr"]
    tuned_x = num(lr_opt[0]["log2_value"]) if lr_opt else math.nan
    for t, target in enumerate(targets):
        ax = grid[t // cols][t % cols]
        pts = sorted((num(r["log2_lr"]), num(r["mean_loss"]), num(r["standard_error"])) for r in sweeps if r["target"] == target)
        pts = [p for p in pts if math.isfinite(p[1])]
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], color="k", marker="o", ms=3,
                    capsize=2, label="own LR sweep (complete-mue)")
        best = [r for r in regret if r["target"] == target]
        if best and math.isfinite(num(best[0]["best_loss"])) and pts:
            i = min(range(len(pts)), key=lambda q: pts[q][1])
            ax.plot([pts[i][0]], [num(best[0]["best_loss"])], marker="*", ms=12, color="gold", mec="k", ls="", label="optimum (fit)")
        for k, r in enumerate(best):
            y = num(r["transferred_loss"])
            if math.isfinite(y):
                ax.plot([tuned_x + 0.08 * (k - len(best) / 2)], [y], marker="_", ms=14, mew=2.5,
                        color=RULE_COLOURS.get(r["rule"], None), ls="", label=f"{r['rule']} transferred")
        ax.set_title(target, fontsize=8)
        ax.set_xlabel("log2 base LR")
        ax.set_ylabel("final val loss")
        if t == 0:
            ax.legend(fontsize=6)
    for t in range(len(targets), rows * cols):
        grid[t // cols][t % cols].axis("off")
    save(fig, out_dir, "tune_dense_once_sweeps")


if __name__ == "__main__":
    main(sys.argv[1])
