#!/usr/bin/python3
"""`muelab analyze` on synthetic sweep folders with a known answer (docs/claims.md, "How a row is judged",
"Optima at a grid edge"). Each folder holds a results.csv as `muelab sweep` writes it, with
loss = 2 + 0.3 (log2 lr - x*(d))^2 + noise and x*(d) = -8.2 + drift * log2(d / 32) over d = 32, 64, 128:
  drift 0, small noise    -> the drift row holds
  drift -1 per doubling   -> fails
  drift 0, large noise    -> inconclusive (the CI straddles the band)
  drift +1, narrow grid   -> inconclusive "optimum at grid edge", and points_to_add.csv lists the
                             half-octave LRs above the grid (-9..-7) for the d = 64 and d = 128 curves.
Noise is seeded (numpy PCG64, seed printed)."""
import csv
import json
import math
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

SEED = 20240607
muelab = sys.argv[1]
print(f"check_analyze: numpy seed {SEED}")
rng = np.random.Generator(np.random.PCG64(SEED))


def write_sweep(folder, drift, noise, seeds, half_width):
    folder.mkdir(parents=True)
    header = ["run_id", "status", "exit_code", "transfer.lr", "model.d_model", "trainer.seed", "final_train_loss",
              "final_validation_loss", "best_validation_loss", "diverged_step", "wall_time_s", "tokens_per_s"]
    with open(folder / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        run = 0
        for d in (32, 64, 128):
            centre = -8.2 + drift * math.log2(d / 32)
            for j in range(-half_width, half_width + 1):
                x = -8.0 + 0.5 * j
                for s in range(seeds):
                    loss = 2.0 + 0.3 * (x - centre) ** 2 + noise * rng.standard_normal()
                    w.writerow([run, "ok", 0, repr(2.0 ** x), d, s + 1, loss, loss, loss, "", 1, 1])
                    run += 1


def analyze(folder):
    done = subprocess.run([muelab, "analyze", str(folder), "--seed", "11"], capture_output=True, text=True)
    print(done.stdout[-3000:])
    print(done.stderr[-2000:], file=sys.stderr)
    if done.returncode != 0:
        sys.exit(f"{folder.name}: muelab analyze exit status {done.returncode}")
    rows = json.loads((folder / "analysis" / "verdicts.json").read_text())["verdicts"]
    if len(rows) != 1:
        sys.exit(f"{folder.name}: expected one drift row, got {len(rows)}")
    return rows[0]


failures = []
with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    cases = [("holds", 0.0, 0.01, 8, 8, "holds", None),
             ("fails", -1.0, 0.01, 8, 8, "fails", None),
             ("noisy", 0.0, 0.6, 3, 8, "inconclusive", "CI "),
             ("edge", 1.0, 0.01, 4, 2, "inconclusive", "optimum at grid edge")]
    for name, drift, noise, seeds, half, verdict, reason in cases:
        folder = root / name
        write_sweep(folder, drift, noise, seeds, half)
        row = analyze(folder)
        print(f"{name}: drift {row['measured']:+.3f} [{row['ci'][0]:+.3f}, {row['ci'][1]:+.3f}] -> "
              f"{row['verdict']} {row['reason']}")
        if row["verdict"] != verdict or (reason and reason not in row["reason"]):
            failures.append(f"{name}: expected {verdict} ({reason}), got {row['verdict']} ({row['reason']})")
        points = list(csv.DictReader(open(folder / "analysis" / "points_to_add.csv")))
        if name == "edge":
            want = [-6.5, -6.0, -5.5, -5.0]
            got = {d: [round(float(p["log2_lr"]), 6) for p in points if p["model.d_model"] == d] for d in ("32", "64", "128")}
            if got != {"32": [], "64": want, "128": want} or any(p["edge"] != "high edge" for p in points):
                failures.append(f"edge: points_to_add.csv lists {points}, expected log2 lr {want} at the high edge")
        elif points:
            failures.append(f"{name}: no curve is at an edge, yet points_to_add.csv lists {points}")
if failures:
    sys.exit("\n".join(failures))
print("check_analyze: all four known answers reproduced")
