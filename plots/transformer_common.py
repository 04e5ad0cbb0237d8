"""Shared helpers of the transformer figures (plots/transformer_*.py): CSV reading, colours, saving."""
import csv
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def colours(values):
    """One consistent colour per axis value (viridis, ordered)."""
    values = sorted(values)
    cmap = plt.get_cmap("viridis")
    n = max(1, len(values) - 1)
    return {v: cmap(0.9 * i / n) for i, v in enumerate(values)}


def save(fig, out_dir, name):
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(out_dir, f"{name}.{ext}"), dpi=130)
    plt.close(fig)
