#!/usr/bin/python3
"""Smoke test of one experiment (docs/claims.md, "Plans"): runs `muelab experiment NAME --profile smoke`
into a fresh folder and checks what every experiment must write: plan.json with declared claims,
run.json with the command, no resume journal left behind, and verdicts.json whose every row carries a three-valued verdict that
agrees with `holds` and `as_expected`. Verdicts themselves are not asserted (a smoke run is too small
to be conclusive); the run must simply complete, with exit status 0."""
import json
import pathlib
import subprocess
import sys
import tempfile
import time

muelab, name = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as tmp:
    out = pathlib.Path(tmp) / "smoke"
    start = time.monotonic()
    done = subprocess.run([muelab, "experiment", name, "--profile", "smoke", "--no-plot", "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True)
    seconds = time.monotonic() - start
    print(done.stdout[-4000:])
    print(done.stderr[-4000:], file=sys.stderr)
    print(f"{name}: smoke profile took {seconds:.1f} s")
    if done.returncode != 0:
        sys.exit(f"{name}: exit status {done.returncode}")
    folder = out / name
    plan = json.loads((folder / "plan.json").read_text())
    if plan["profile"] != "smoke" or not plan["claims"]:
        sys.exit(f"{name}: plan.json declares no claims for the smoke profile")
    for c in plan["claims"]:
        if c["kind"] not in ("claim", "control") or c["sidedness"] not in ("two-sided", "at-most", "at-least"):
            sys.exit(f"{name}: plan.json: malformed claim {c}")
    if (folder / "resume.tsv").exists():
        sys.exit(f"{name}: a finished experiment left its resume journal behind")
    run = json.loads((folder / "run.json").read_text())
    if "muelab" not in run.get("command", "") or "wall_seconds" not in run:
        sys.exit(f"{name}: run.json lacks the command or the wall time")
    verdicts = json.loads((folder / "verdicts.json").read_text())
    if not verdicts["verdicts"]:
        sys.exit(f"{name}: verdicts.json has no rows")
    declared = {c["claim"] for c in plan["claims"]}
    for v in verdicts["verdicts"]:
        if v["verdict"] not in ("holds", "fails", "inconclusive"):
            sys.exit(f"{name}: row without a three-valued verdict: {v}")
        if v["holds"] != (v["verdict"] == "holds"):
            sys.exit(f"{name}: 'holds' disagrees with 'verdict': {v}")
        expected = v["verdict"] == ("holds" if v["kind"] == "claim" else "fails")
        if v["as_expected"] != expected:
            sys.exit(f"{name}: 'as_expected' disagrees with kind and verdict: {v}")
        if v["verdict"] == "inconclusive" and not v["reason"]:
            sys.exit(f"{name}: inconclusive row without a reason: {v}")
        if v["claim"] not in declared:
            sys.exit(f"{name}: row of claim {v['claim']} that plan.json does not declare")
    # lr-transfer family: every separated control that runs in the smoke profile gets its discrimination
    # row, drift(rule) - drift(control) or, for a control predicted to drift up, the reverse.
    cases = [v["case"] for v in verdicts["verdicts"]]
    for rule in plan.get("settings", {}).get("rules", []):
        if not isinstance(rule, dict) or not rule.get("separated"):
            continue
        if not any(c.startswith(f"{rule['label']}: control:") for c in cases):
            continue  # the control does not run in the smoke profile
        want = f"drift({rule['label']}) - drift(" if rule.get("drifts_up") else f" - drift({rule['label']}) over"
        if not any(want in c for c in cases):
            sys.exit(f"{name}: no discrimination row '{want}' for the control {rule['label']}")
print(f"{name}: smoke ok")
