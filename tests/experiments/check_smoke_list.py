#!/usr/bin/python3
"""Fails when `muelab experiment --list` names an experiment that has no smoke test (or the reverse)."""
import subprocess
import sys

muelab, listed = sys.argv[1], set(sys.argv[2:])
out = subprocess.run([muelab, "experiment", "--list"], capture_output=True, text=True, check=True).stdout
registered = {line.split()[0] for line in out.splitlines() if line.strip()}
missing, extra = registered - listed, listed - registered
if missing or extra:
    sys.exit(f"smoke list out of date: registered without a smoke test {sorted(missing)}; "
             f"smoke tests for unknown experiments {sorted(extra)}")
print(f"{len(registered)} experiments, each with a smoke test")
