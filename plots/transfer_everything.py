"""transfer-everything figure (docs/claims.md `transfer-everything`): the target's LR x WD grid (seed-mean
final loss, best point boxed, Complete-muE's transferred point starred) and each rule's regret with its
95% interval against the 0.01-nat bound."""
import math
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import num, plt, read_csv, save  # noqa: E402


def edges(centres):
    """Cell edges for pcolormesh: midpoints between the (possibly unevenly spaced) grid values."""
    if len(centres) == 1:
        return [centres[0] - 0.25, centres[0] + 0.25]
    mids = [(a + b) / 2 for a, b in zip(centres, centres[1:])]
    return [centres[0] - (mids[0] - centres[0])] + mids + [centres[-1] + (centres[-1] - mids[-1])]


def main(out_dir):
    grid = read_csv(os.path.join(out_dir, "grid.csv"))
    regret = read_csv(os.path.join(out_dir, "regret.csv"))
    cells = defaultdict(list)
    for r in grid:
        v = num(r["final_validation_loss"])
        if math.isfinite(v):
            cells[(num(r["log2_wd"]), num(r["log2_lr"]))].append(v)
    wds = sorted({k[0] for k in cells})
    lrs = sorted({k[1] for k in cells})
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.8))
    image = [[(sum(cells[(w, lr)]) / len(cells[(w, lr)])) if cells.get((w, lr)) else math.nan for lr in lrs] for w in wds]
    im = ax.pcolormesh(edges(lrs), edges(wds), image, cmap="viridis", shading="flat")
    fig.colorbar(im, ax=ax, label="final validation loss (seed mean; blank: not run)")
    cm = [r for r in regret if r["rule"] == "complete-mue"]
    if cm:
        ax.plot([num(cm[0]["log2_lr_best"])], [num(cm[0]["log2_wd_best"])], "s", mfc="none", mec="w", ms=14,
                label="target's best grid point")
        ax.plot([num(cm[0]["log2_lr_tuned"])], [num(cm[0]["log2_wd_tuned"])], "*", color="r", ms=12,
                label="proxy-tuned point (every rule)")
    ax.set_xlabel("log2 base LR (transferred by Complete-muE)")
    ax.set_ylabel("log2 base weight decay")
    ax.set_title("target LR x WD grid (MoE d=128, L=2, N=8, a=2, 1 shared, T=4T0)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    names = [r["rule"] for r in regret]
    ys = [num(r["regret"]) for r in regret]
    err = [[y - num(r["ci_low"]) for y, r in zip(ys, regret)], [num(r["ci_high"]) - y for y, r in zip(ys, regret)]]
    bx.errorbar(range(len(names)), ys, yerr=err, fmt="o", capsize=4)
    for i, r in enumerate(regret):
        bx.annotate(f"{num(r['regret']):+.3f} {r['verdict']}", (i, ys[i]), textcoords="offset points", xytext=(6, 4),
                    fontsize=8)
    bx.axhline(0.01, color="r", ls="--", lw=1, label="claim bound 0.01 nats")
    bx.axhline(0.0, color="k", lw=0.5)
    bx.set_xticks(range(len(names)))
    bx.set_xticklabels(names)
    bx.set_ylabel("regret (nats): transferred point - target's best")
    bx.set_title("tune once, transfer everything: regret per rule (95% CI)", fontsize=9)
    bx.legend(fontsize=7)
    save(fig, out_dir, "transfer_everything")


if __name__ == "__main__":
    main(sys.argv[1])
