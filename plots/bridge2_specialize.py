"""bridge2-specialize figure (docs/claims.md `bridge2-cancellation`): population loss against the LR
(mean ± SE over seeds, optimum with its bootstrap CI starred) for each family of the specializing
testbed — AdamW's LR and WD across a (N = 8) and across N (a = 2), the sigma0-only reference (dense routing at
the per-expert batch), plain SGD on the plain routed sum, and, where run, routing without the balancing
bias and a large batch — with each family's drift in the panel title."""
import math
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import colours, num, plt, read_csv, save  # noqa: E402

PANELS = (("adamw", "a"), ("adamw", "N"), ("adamw-wd", "a"), ("adamw-wd", "N"), ("sigma0-only", "tokens"),
          ("sgd-plain", "a"), ("adamw-no-balance", "a"), ("adamw-large-batch", "a"))


def value_of(row, axis):
    if axis == "a":
        return int(row["active"])
    if axis == "N":
        return int(row["experts"])
    return int(row["batch"]) * int(row["active"]) // int(row["experts"])


def main(out_dir):
    runs = read_csv(os.path.join(out_dir, "runs.csv"))
    optima = read_csv(os.path.join(out_dir, "optima.csv"))
    drifts = {(r["family"], r["axis"]): r for r in read_csv(os.path.join(out_dir, "drifts.csv"))}
    panels = [p for p in PANELS if any(r["family"] == p[0] for r in runs)]
    fig, grid = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, (family, axis) in zip(grid[0], panels):
        rows = [r for r in runs if r["family"] == family and (r["axis"] == axis or (axis == "N" and r["axis"] == "a"
                                                                                     and r["active"] == "2"))]
        if axis == "N":
            rows = [r for r in rows if int(r["active"]) == 2]
        by_value = defaultdict(lambda: defaultdict(list))
        for r in rows:
            v = num(r["population_loss"])
            if math.isfinite(v):
                by_value[value_of(r, axis)][num(r["log2_lr"])].append(v)
        col = colours(list(by_value))
        for v in sorted(by_value):
            xs = sorted(by_value[v])
            means = [sum(by_value[v][x]) / len(by_value[v][x]) for x in xs]
            ses = [(sum((y - m) ** 2 for y in by_value[v][x]) / max(1, len(by_value[v][x]) - 1)) ** 0.5
                   / max(1, len(by_value[v][x])) ** 0.5 for x, m in zip(xs, means)]
            ax.errorbar(xs, means, yerr=ses, color=col[v], marker=".", capsize=2, label=f"{axis} = {v}")
            for o in optima:
                if o["family"] == family and o["axis"] == axis and int(float(o["axis_value"])) == v:
                    x, lo, hi = num(o["log2_lr_star"]), num(o["ci_low"]), num(o["ci_high"])
                    ax.errorbar([x], [num(o["loss_star"])], xerr=[[x - lo], [hi - x]], color=col[v], marker="*",
                                ms=12, mec="k", capsize=3, ls="")
        d = drifts.get((family, axis))
        title = f"{family} across {axis}"
        if d:
            title += f"\n{d['direction']}: {num(d['drift']):+.2f} [{num(d['ci_low']):+.2f}, {num(d['ci_high']):+.2f}]"
        ax.set_title(title, fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel("log2 weight decay (eta = 2^-5.5)" if family == "adamw-wd" else "log2 LR")
        ax.set_ylabel("population loss")
        ax.legend(fontsize=7)
    save(fig, out_dir, "bridge2_specialize")


if __name__ == "__main__":
    main(sys.argv[1])
