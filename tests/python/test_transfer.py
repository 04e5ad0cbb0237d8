#!/usr/bin/env python3
"""The Python package against the command line (tests/python, label python).

For every rule source and every shipped base/target pair, muelab.transfer(...) must equal
`muelab transfer --format json`; the same config given as a path, as TOML text and as a dict must give
the same result; switch keywords must equal --set rule.KEY=VALUE; every malformed fixture must raise
ValueError whose text is the CLI's stderr line after "muelab: error: ".
Usage: test_transfer.py MUELAB_BINARY SOURCE_DIR  (with the built package on PYTHONPATH)
"""
import json
import pathlib
import subprocess
import sys
import tomllib

import muelab

binary, source = sys.argv[1], pathlib.Path(sys.argv[2])
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def cli(*args):
    done = subprocess.run([binary, "transfer", *args], capture_output=True, text=True)
    return done.returncode, done.stdout, done.stderr


configs = source / "experiments/configs/worked-example"
fixtures = source / "tests/fixtures"
pairs = [(configs / "base-lm.toml", configs / "target-moe.toml"),
         (configs / "base-diffusion.toml", configs / "target-moe.toml"),
         (fixtures / "good-configs/base-dense.toml", fixtures / "good-configs/target-moe.toml")]
rules = muelab.rule_names()
check(rules == ["sp", "mup", "completep", "jiang", "mup-moe", "complete-mue"], f"rule names {rules}")

compared = 0
for base, target in pairs:
    for rule in rules + ["all"]:
        status, out, err = cli("--base", str(base), "--target", str(target), "--rule", rule, "--format", "json")
        if status != 0:  # a rule may refuse a pair (e.g. SGD for jiang): Python must refuse it identically
            try:
                muelab.transfer(str(base), str(target), rule=rule)
                check(False, f"{base.name} {rule}: CLI refused ({err.strip()}) but Python did not")
            except ValueError as e:
                check(err.strip() == f"muelab: error: {e}", f"{base.name} {rule}: {err.strip()!r} vs {e}")
            continue
        expected = json.loads(out)
        check(muelab.transfer(str(base), str(target), rule=rule) == expected, f"{base.name} -> {target.name} {rule}: path")
        check(muelab.transfer(base, target, rule=rule) == expected, f"{base.name} {rule}: PathLike")
        check(muelab.transfer(base.read_text(), target.read_text(), rule=rule) == expected, f"{base.name} {rule}: text")
        as_dict = [tomllib.loads(p.read_text()) for p in (base, target)]
        check(muelab.transfer(*as_dict, rule=rule) == expected, f"{base.name} {rule}: dict")
        compared += 1

# Switch keywords are --set rule.KEY=VALUE.
base, target = pairs[0]
for switches, sets in [({"head_rule": "cmue-literal", "depth_alpha": 0.5}, ["rule.head_rule=cmue-literal", "rule.depth_alpha=0.5"]),
                       ({"batch_duration": "lr-only", "beta_rule": "power"}, ["rule.batch_duration=lr-only", "rule.beta_rule=power"]),
                       ({"route_scale": "none"}, ["rule.route_scale=none"])]:
    args = ["--base", str(base), "--target", str(target), "--format", "json"]
    for s in sets:
        args += ["--set", s]
    status, out, err = cli(*args)
    check(status == 0, f"CLI with {sets}: {err}")
    check(muelab.transfer(str(base), str(target), **switches) == json.loads(out), f"switches {switches}")
    check(muelab.transfer(str(base), str(target), **switches) != muelab.transfer(str(base), str(target)),
          f"switches {switches} changed nothing")

# Bad input: the CLI's line, as a ValueError.
good_base, good_target = fixtures / "good-configs/base-dense.toml", fixtures / "good-configs/target-moe.toml"
bad = sorted((fixtures / "bad-configs").glob("*.toml"))
for path in bad:
    is_base = path.name.startswith("base-")
    b, t = (path, good_target) if is_base else (good_base, path)
    status, out, err = cli("--base", str(b), "--target", str(t))
    check(status == 2 and out == "", f"{path.name}: CLI status {status}")
    try:
        muelab.transfer(str(b), str(t))
        check(False, f"{path.name}: no ValueError")
    except ValueError as e:
        check(err.strip() == f"muelab: error: {e}", f"{path.name}: CLI {err.strip()!r} vs Python {str(e)!r}")
for bad_call, what in [(lambda: muelab.transfer(str(good_base), str(good_target), rule="nope"), "unknown rule"),
                       (lambda: muelab.transfer(str(good_base), str(good_target), head_rule="bogus"), "bad switch value"),
                       (lambda: muelab.transfer(str(good_base), str(good_target), no_such_switch=1), "unknown switch"),
                       (lambda: muelab.transfer("missing.toml", str(good_target)), "missing file"),
                       (lambda: muelab.transfer({"model": 3}, str(good_target)), "table not a dict"),
                       (lambda: muelab.transfer(42, str(good_target)), "wrong type")]:
    try:
        bad_call()
        check(False, f"{what}: no ValueError")
    except ValueError as e:
        check("\n" not in str(e) and str(e) != "", f"{what}: message {str(e)!r} is not one line")

print(f"test_transfer: {compared} rule x config results equal the CLI's JSON (path, PathLike, text, dict); "
      f"{len(bad)} malformed fixtures raise the CLI's line")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
