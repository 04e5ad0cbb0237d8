"""capacity-gate figure. Left: the dense proxy's LR calibration on the capacity-bound task (order-2
Markov chain), mean ± SE over seeds, tuned LR starred. Middle: final validation loss above the task's
exact floor for every arm at the tuned HPs (mean ± SE over paired seeds; the first-order task's arms
orange). Right: the judged paired differences with their 95% CIs against their bounds (dashed), coloured
by verdict; the control (first-order task) must fall below its bound."""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from transformer_common import num, plt, read_csv, save  # noqa: E402

VERDICT_COLOURS = {"holds": "tab:green", "fails": "tab:red", "inconclusive": "tab:gray"}


def main(out_dir):
    calibration = [r for r in read_csv(os.path.join(out_dir, "calibration.csv")) if r["knob"] == "lr"]
    optima = [r for r in read_csv(os.path.join(out_dir, "calibration_optima.csv")) if r["knob"] == "lr"]
    arms = read_csv(os.path.join(out_dir, "arms.csv"))
    rows = read_csv(os.path.join(out_dir, "gate.csv"))
    with open(os.path.join(out_dir, "gate.json")) as f:
        gate = json.load(f)
    fig, (a0, a1, a2) = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1, 1, 1]})

    pts = sorted((num(r["log2_value"]), num(r["mean_loss"]), num(r["standard_error"])) for r in calibration)
    a0.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", capsize=2)
    if optima:
        o = optima[0]
        a0.plot([num(o["log2_value"])], [num(o["loss"])], marker="*", ms=14, color="gold", mec="k", ls="")
        a0.axvspan(num(o["ci_low"]), num(o["ci_high"]), color="gold", alpha=0.2)
    a0.set_xlabel("log2 base LR (dense proxy d=32, H=d)")
    a0.set_ylabel("final val loss")
    a0.set_title("LR calibration on the capacity-bound task", fontsize=9)

    names = [r["arm"] for r in arms]
    excess = [num(r["mean_excess"]) for r in arms]
    se = [num(r["standard_error"]) for r in arms]
    bars = a1.barh(range(len(names)), excess, xerr=se, capsize=2, color="tab:blue")
    for bar, r in zip(bars, arms):
        if r["task"] != "markov-k":
            bar.set_color("tab:orange")
    a1.set_yticks(range(len(names)))
    a1.set_yticklabels(names, fontsize=7)
    a1.invert_yaxis()
    a1.set_xlabel("final val loss − exact floor (nats)")
    a1.set_title(f"arms at the tuned LR (floor {gate['loss_floor']:.4f} nats)", fontsize=9)

    for i, r in enumerate(rows):
        d, lo, hi = num(r["difference"]), num(r["ci_low"]), num(r["ci_high"])
        colour = VERDICT_COLOURS.get(r["verdict"], "k")
        if math.isfinite(d):
            a2.errorbar([d], [i], xerr=[[d - lo], [hi - d]], marker="o", color=colour, capsize=3)
        bound = r["bound"].replace("≥", "").replace("≤", "").strip()
        try:
            a2.plot([float(bound)] * 2, [i - 0.35, i + 0.35], ls="--", color="k")
        except ValueError:
            pass
    a2.axvline(0.0, color="0.7", lw=0.8)
    a2.set_yticks(range(len(rows)))
    a2.set_yticklabels([f"{r['row']} ({r['kind']}: {r['verdict']})" for r in rows], fontsize=7)
    a2.invert_yaxis()
    a2.set_xlabel("paired difference (nats), 95% CI")
    a2.set_title("bounds dashed; gate: " + ("capacity-bound" if gate["capacity_bound"] else "NOT capacity-bound"), fontsize=9)
    save(fig, out_dir, "capacity_gate")


if __name__ == "__main__":
    main(sys.argv[1])
