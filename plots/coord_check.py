"""coord-check figures, one per axis (coord_check.png: width d; coord_check_depth.png: depth L;
coord_check_granularity.png and coord_check_experts.png: the MoE axes m and N at a = 2): the last
block's residual-stream RMS (MoE axes: its FFN/MoE block output RMS) vs step (top) and, vs the axis
(bottom, log-log, mean ± SE over seeds), that RMS after 10 steps, its change, and on d and L the output
logits' RMS at init (hollow: a documented exception, reported, not judged) for each rule; theory: flat
in the axis (dotted) for the claims; the controls (SP; R = 1 and the MoE-block init power check on the
MoE axes) are predicted to slope (docs/claims.md `coord-check`)."""
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import colours, num, plt, read_csv, save  # noqa: E402

# axis -> (axis label, short name, figure name, size column of sizes.csv, its label, quantities)
# (legend, quantity, step: "last" or 0, marker, fill)
RESIDUAL = (("after 10 steps", "residual_rms", "last", "o", "full"),
            ("|change|", "residual_rms_change", "last", "s", "full"),
            ("output logits at init (exception)", "output_logits_rms", 0, "^", "none"))
BLOCK = (("at init", "ffn_output_rms", 0, "D", "none"), ("after 10 steps", "ffn_output_rms", "last", "o", "full"),
         ("|change|", "ffn_output_rms_change", "last", "s", "full"))
AXES = {"d_model": ("width d", "d", "coord_check", "act_rms", "residual RMS (last block)", RESIDUAL),
        "n_layers": ("depth L", "L", "coord_check_depth", "act_rms", "residual RMS (last block)", RESIDUAL),
        "granularity": ("granularity m (N = 4m, a = m, h = d/m)", "m", "coord_check_granularity", "ffn_rms",
                        "FFN/MoE output RMS (last block)", BLOCK),
        "n_experts_a2": ("experts N (a = 2, h = d)", "N", "coord_check_experts", "ffn_rms",
                         "FFN/MoE output RMS (last block)", BLOCK)}


def axis_figure(out_dir, axis, rows, slopes, coord):
    label_axis, short, name, size_column, size_label, quantities = AXES[axis]
    rows = [r for r in rows if r["axis"] == axis]
    coord = [r for r in coord if r["axis"] == axis]
    if not rows:
        return
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    values = sorted({int(r["axis_value"]) for r in rows})
    col = colours(values)
    fig, grid = plt.subplots(2, len(rules), figsize=(3.4 * len(rules), 6), squeeze=False)
    for j, rule in enumerate(rules):
        ax = grid[0][j]
        for v in values:
            mine = [r for r in rows if r["rule"] == rule and int(r["axis_value"]) == v]
            steps = sorted({int(r["step"]) for r in mine})
            means = [statistics.mean(num(r[size_column]) for r in mine if int(r["step"]) == s) for s in steps]
            ax.plot(steps, means, color=col[v], marker=".", label=f"{short}={v}")
        ax.set_title(rule, fontsize=8)
        ax.set_xlabel("step")
        ax.set_ylabel(size_label)
        ax.set_yscale("log")
        ax.legend(fontsize=6)
        ax = grid[1][j]
        for label, key, at, marker, fill in quantities:
            mine = [r for r in coord if r["rule"] == rule and r["quantity"] == key]
            if not mine:
                continue
            step = max(int(r["step"]) for r in mine) if at == "last" else at
            ms, ses = [], []
            for v in values:
                vals = [num(r["value"]) for r in mine if int(r["step"]) == step and int(float(r["axis_value"])) == v]
                if not vals:
                    break
                ms.append(statistics.mean(vals))
                ses.append(statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else 0.0)
            if len(ms) != len(values):
                continue
            sl = slopes.get((rule, key, axis, str(step)))
            lab = f"{label}: slope {num(sl['slope']):+.2f}" if sl else label
            ax.errorbar(values, ms, yerr=ses, marker=marker, fillstyle=fill, capsize=3, label=lab)
            ax.plot(values, [ms[0]] * len(values), ls=":", color="grey", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label_axis)
        ax.set_ylabel("size (dotted: theory, flat)")
        ax.legend(fontsize=6)
    save(fig, out_dir, name)


def main(out_dir):
    rows = read_csv(os.path.join(out_dir, "sizes.csv"))
    slopes = {(r["rule"], r["quantity"], r["axis"], r["step"]): r for r in read_csv(os.path.join(out_dir, "slopes.csv"))}
    coord = read_csv(os.path.join(out_dir, "coord.csv"))
    for axis in AXES:
        axis_figure(out_dir, axis, rows, slopes, coord)


if __name__ == "__main__":
    main(sys.argv[1])
