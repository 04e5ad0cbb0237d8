"""coord-check figure: residual-stream RMS of the last block vs step (top) and, vs width (bottom, log-log,
mean ± SE over seeds), the RMS after 10 steps, its change, and the output logits' RMS at init (hollow: a
documented exception, reported, not judged) for each rule; theory: flat in width (dotted), SP the control."""
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import colours, num, plt, read_csv, save  # noqa: E402


def main(out_dir):
    rows = read_csv(os.path.join(out_dir, "sizes.csv"))
    slopes = {(r["rule"], r["quantity"]): r for r in read_csv(os.path.join(out_dir, "slopes.csv"))}
    coord = read_csv(os.path.join(out_dir, "coord.csv"))
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    widths = sorted({int(r["d_model"]) for r in rows})
    col = colours(widths)
    fig, grid = plt.subplots(2, len(rules), figsize=(3.4 * len(rules), 6), squeeze=False)
    for j, rule in enumerate(rules):
        ax = grid[0][j]
        for w in widths:
            steps = sorted({int(r["step"]) for r in rows if r["rule"] == rule and int(r["d_model"]) == w})
            means = [statistics.mean(num(r["act_rms"]) for r in rows if r["rule"] == rule and int(r["d_model"]) == w
                                     and int(r["step"]) == s) for s in steps]
            ax.plot(steps, means, color=col[w], marker=".", label=f"d={w}")
        ax.set_title(rule)
        ax.set_xlabel("step")
        ax.set_ylabel("residual RMS (last block)")
        ax.set_yscale("log")
        ax.legend(fontsize=6)
        ax = grid[1][j]
        for label, key, marker, fill in (("after 10 steps", "residual_rms", "o", "full"),
                                         ("|change|", "residual_rms_change", "s", "full"),
                                         ("output logits at init (exception)", "output_logits_rms", "^", "none")):
            ms, ses = [], []
            for w in widths:
                vals = [num(r["value"]) for r in coord
                        if r["rule"] == rule and r["quantity"] == key and int(float(r["axis_value"])) == w]
                if not vals:
                    break
                ms.append(statistics.mean(vals))
                ses.append(statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else 0.0)
            if len(ms) != len(widths):
                continue
            sl = slopes.get((rule, key))
            lab = f"{label}: slope {num(sl['slope']):+.2f}" if sl else label
            ax.errorbar(widths, ms, yerr=ses, marker=marker, fillstyle=fill, capsize=3, label=lab)
            ax.plot(widths, [ms[0]] * len(widths), ls=":", color="grey", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width d")
        ax.set_ylabel("size (dotted: theory, flat)")
        ax.legend(fontsize=6)
    save(fig, out_dir, "coord_check")


if __name__ == "__main__":
    main(sys.argv[1])
