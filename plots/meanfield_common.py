"""Shared helpers for the plots/meanfield_*.py figures: CSV rows as dictionaries of strings, and
saving a figure as PNG + PDF into the experiment's output folder."""
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def save(fig, out_dir, stem, dpi=120):
    fig.savefig(Path(out_dir) / (stem + ".png"), dpi=dpi)
    fig.savefig(Path(out_dir) / (stem + ".pdf"))
    plt.close(fig)
