"""initial-loss-overlay figure: training loss of the first steps at dense-tuned HPs for the dense proxy
and MoE variants (mean ± SE over seeds), complete-mue (left) and the R = 1 control (right). Theory:
every curve tracks the dense proxy (black)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import num, plt, read_csv, save  # noqa: E402


def main(out_dir):
    rows = read_csv(os.path.join(out_dir, "curves.csv"))
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    cmap = plt.get_cmap("viridis")
    fig, grid = plt.subplots(1, len(settings), figsize=(5.5 * len(settings), 3.8), squeeze=False, sharey=True)
    for j, setting in enumerate(settings):
        ax = grid[0][j]
        for k, v in enumerate(variants):
            pts = [(int(r["step"]), num(r["mean_loss"]), num(r["standard_error"])) for r in rows
                   if r["setting"] == setting and r["variant"] == v]
            if not pts:  # the R = 1 control runs only the variants with a >= 2
                continue
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            es = [p[2] for p in pts]
            c = "k" if k == 0 else cmap(0.85 * (k - 1) / max(1, len(variants) - 2))
            ax.plot(xs, ys, color=c, lw=1.6 if k == 0 else 1.1, label=v + (" (theory: all track this)" if k == 0 else ""))
            ax.fill_between(xs, [y - e for y, e in zip(ys, es)], [y + e for y, e in zip(ys, es)], color=c, alpha=0.2)
        ax.set_title(setting, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("train loss")
        ax.legend(fontsize=7)
    save(fig, out_dir, "initial_loss_overlay")


if __name__ == "__main__":
    main(sys.argv[1])
