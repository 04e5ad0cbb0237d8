"""muelab from Python: the hyperparameter transfer rules of docs/theory.md §2-§6.

    import muelab
    plan = muelab.transfer("base.toml", "target.toml", rule="complete-mue", batch_duration="sqrt")
    plan["global"]["lr"], plan["groups"]["expert.down"]["init_std"], plan["moe"]["route_scale_routed"]

`base` and `target` are each a path to a TOML file, TOML text, or a dict of tables
({"model": {...}, "train": {...}, "optim": {...}, "rule": {...}}). Keyword arguments are rule switches
(`muelab switches` lists them) and go into the target's [rule] table, like
`muelab transfer --set rule.KEY=VALUE`. The result is the JSON contract of
`muelab transfer --format json` as Python objects: one result, or {"rules": [...]} for rule="all".
Bad input raises ValueError with the line the command prints after "muelab: error: ".
`import muelab.torch` (needs PyTorch) applies such a plan to a PyTorch model: parameter groups, init,
forward multipliers, a reference MoE block and a coordinate check (docs/development.md §2, "PyTorch").
"""
import json
import math
import os

from . import _muelab

__all__ = ["transfer", "rule_names", "switches_markdown", "__version__"]
__version__ = _muelab.version


def _toml_value(value, where):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: must be a finite number, got {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string is a JSON string for these characters
    raise ValueError(f"{where}: must be a string, number or boolean, got {type(value).__name__}")


def _dict_to_toml(config, name):
    lines = []
    for table, keys in config.items():
        if not isinstance(keys, dict):
            raise ValueError(f"{name}: field {table}: must be a table (a dict of keys), got {type(keys).__name__}")
        lines.append(f"[{table}]")
        for key, value in keys.items():
            lines.append(f"{key} = {_toml_value(value, f'{name}: field {table}.{key}')}")
    return "\n".join(lines) + "\n"


def _source(config, role):
    """(TOML text, name used in error messages) for a path, TOML text or dict."""
    if isinstance(config, dict):
        return _dict_to_toml(config, f"<{role} dict>"), f"<{role} dict>"
    if isinstance(config, os.PathLike) or (isinstance(config, str) and "\n" not in config and "[" not in config):
        path = os.fspath(config)
        try:
            with open(path, encoding="utf-8") as f:
                return f.read(), path
        except OSError as e:
            raise ValueError(f"{path}: cannot read the {role} config ({e.strerror})") from None
    if isinstance(config, str):
        return config, f"<{role} string>"
    raise ValueError(f"{role}: expected a path, TOML text or a dict, got {type(config).__name__}")


def transfer(base, target, rule="complete-mue", **switches):
    """Transfers the base's tuned hyperparameters to the target shape under `rule` (see the module doc)."""
    base_text, base_name = _source(base, "base")
    target_text, target_name = _source(target, "target")
    overrides = [f"rule.{key}={_toml_value(value, f'rule.{key}')}" for key, value in switches.items()]
    return json.loads(_muelab.transfer_json(base_text, base_name, target_text, target_name, rule, [], overrides))


def rule_names():
    """The six rule sources: sp, mup, completep, jiang, mup-moe, complete-mue."""
    return list(_muelab.rule_names())


def switches_markdown():
    """The rule-switch table as markdown (the README's table)."""
    return _muelab.switches_markdown()
