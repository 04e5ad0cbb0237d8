#!/usr/bin/python3
"""Fails when `muelab experiment --list` names an experiment that has no smoke test (or the reverse), or
when it lists an experiment that reads capacity-gate's result (gate.json) before capacity-gate: `muelab
figures` runs them in that order, and a reader run first writes "no capacity-gate result" rows."""
import subprocess
import sys

muelab, listed = sys.argv[1], set(sys.argv[2:])
out = subprocess.run([muelab, "experiment", "--list"], capture_output=True, text=True, check=True).stdout
order = [line.split()[0] for line in out.splitlines() if line.strip()]
registered = set(order)
missing, extra = registered - listed, listed - registered
if missing or extra:
    sys.exit(f"smoke list out of date: registered without a smoke test {sorted(missing)}; "
             f"smoke tests for unknown experiments {sorted(extra)}")
print(f"{len(registered)} experiments, each with a smoke test")

# The experiments on the capacity-bound task (experiments/transformer: judge_only_if_capacity_bound).
GATE_READERS = ("lr-transfer-capacity", "tune-dense-once", "fixed-hp-scaling", "moe-speedup", "initial-loss-overlay",
                "bridge2-transformer", "duration-transfer", "batch-transfer", "init-transfer", "wd-transfer",
                "transfer-everything")
if "capacity-gate" in registered:
    gate = order.index("capacity-gate")
    early = [name for name in order[:gate] if name.startswith(GATE_READERS)]
    if early:
        sys.exit(f"listed before capacity-gate, whose gate.json they read: {early}")
    print(f"capacity-gate is listed before the {sum(n.startswith(GATE_READERS) for n in order)} experiments that read it")
