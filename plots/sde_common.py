"""Shared helpers for the figures of the SDE family (sde-stepper-order, sgd-sme-weak-order,
adam-sde-weak-order, sqrt-rule-collapse, svag-rate, sde-batch-duration, bridge2-moe; one script each,
named after the experiment id): CSV reading and figure saving (PNG + PDF)."""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_csv(out_dir, name):
    with open(os.path.join(out_dir, name), newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key, value in row.items():
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                pass
    return rows


def out_dir_from_argv():
    if len(sys.argv) != 2:
        sys.exit("usage: %s OUT_DIR" % sys.argv[0])
    return sys.argv[1]


def save(fig, out_dir, stem):
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, stem + ".png"), dpi=130)
    fig.savefig(os.path.join(out_dir, stem + ".pdf"))
    plt.close(fig)


def reference_line(ax, xs, ys, order, label):
    """Theory slope `order` through the last measured point, on the same axes."""
    x0, y0 = xs[-1], ys[-1]
    ax.plot(xs, [y0 * (x / x0) ** order for x in xs], "k--", lw=0.8, alpha=0.7, label=label)
