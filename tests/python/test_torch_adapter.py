#!/usr/bin/env python3
"""muelab.torch against the C++ trainer (tests/python, label python).

1. Parity: for each exporter case (moe-sigmoid: shared expert, routing groups, balance loss and bias;
   moe-softmax: SwiGLU, Jiang rule, trainable gains; dense), the adapter plans from the exported base
   and target TOML with muelab.transfer, builds muelab.torch.Transformer, loads the trainer's initial
   parameters and trains 10 AdamW steps with torch.optim.AdamW(param_groups(model, plan)). The per-group
   optimizer values and multipliers must equal the trainer's (relative 1e-12), the step-0 gradients and
   the 11 losses must match: float64 torch vs the float64 trainer within 1e-9 (relative), float32
   torch vs the float32 trainer within 2e-5 (fp32 rounding through 10 Adam steps).
2. init_: every parameter's sample std within 5 standard errors of its group's init std (seed printed).
3. default_group on the names of common layouts; unmapped names and groups missing from a plan raise
   ValueError naming them.
4. coord_check across width d = 32..256 (N = 4, a = 2, h = d, 8 seeds, 3 AdamW steps): with the
   complete-mue plan every slope holds (|slope| <= 0.1); with the SP plan (the control: one LR, one init
   std for every width) the delta-RMS slopes must fail.
Usage: test_torch_adapter.py EXPORTER   (with the built package on PYTHONPATH). Exit 77 without torch.
"""
import json
import math
import subprocess
import sys
import tempfile
import tomllib

try:
    import numpy as np
    import torch
except ImportError as error:  # pragma: no cover
    print(f"SKIPPED: muelab.torch needs python3-torch and numpy ({error}); install with scripts/install-deps.sh")
    sys.exit(77)

import muelab
import muelab.torch as mt

torch.set_num_threads(1)
exporter = sys.argv[1]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("  FAIL", what)


def relative(a, b):
    return abs(float(a) - float(b)) / max(abs(float(b)), 1e-300)


def export(case, dtype, out):
    subprocess.run([exporter, case, dtype, out], check=True)
    with open(f"{out}/manifest.json") as f:
        manifest = json.load(f)
    params = np.fromfile(f"{out}/params.bin", dtype="<f8")
    grads = np.fromfile(f"{out}/grads.bin", dtype="<f8")
    table = {}
    for p in manifest["parameters"]:
        sl = slice(p["offset"], p["offset"] + p["rows"] * p["cols"])
        table[p["name"]] = (params[sl].reshape(p["rows"], p["cols"]), grads[sl].reshape(p["rows"], p["cols"]))
    return manifest, table


def adapter_view(model, trainer_name):
    """(tensor in the adapter model, transform from the trainer's (in x out) matrix) for a trainer name."""
    named = dict(model.named_parameters())
    parts = trainer_name.split(".")
    if trainer_name in ("token_embedding", "position_embedding"):
        return named[trainer_name + ".weight"], lambda w: w
    if parts[-1] == "gain":
        return named[trainer_name[:-len("gain")] + "weight"], lambda w: w.reshape(-1)
    if trainer_name == "head":
        return named["head.weight"], lambda w: w.T
    block = ".".join(parts[:2])
    rest = parts[2:]
    if rest[0] in ("attn", "ffn"):
        return named[f"{block}.{'.'.join(rest)}.weight"], lambda w: w.T
    if rest == ["router"]:
        return named[f"{block}.moe.router.weight"], lambda w: w.T
    if rest[0] in ("experts", "shared"):
        stacked = named[f"{block}.moe.{rest[0]}.{rest[2]}"]
        return stacked[int(rest[1])], lambda w: w
    raise KeyError(trainer_name)


def adapter_grad(model, trainer_name):
    """The adapter's gradient of the tensor `adapter_view` returns (a slice of a stacked expert parameter's)."""
    parts = trainer_name.split(".")
    if len(parts) == 5 and parts[2] in ("experts", "shared"):
        stacked = dict(model.named_parameters())[f"{parts[0]}.{parts[1]}.moe.{parts[2]}.{parts[4]}"]
        return stacked.grad[int(parts[3])]
    return adapter_view(model, trainer_name)[0].grad


def parity(case, dtype):
    torch_dtype = torch.float64 if dtype == "double" else torch.float32
    tol = 1e-9 if dtype == "double" else 2e-5
    with tempfile.TemporaryDirectory() as out:
        manifest, table = export(case, dtype, out)
    plan = muelab.transfer(manifest["base_toml"], manifest["target_toml"], rule=manifest["rule"])
    model_table = tomllib.loads(manifest["target_toml"])["model"]
    model = mt.Transformer(model_table, manifest["vocab_size"], manifest["seq_len"], plan,
                           norm_gains_trainable=manifest["norm_gains_trainable"],
                           aux_loss_coef=manifest["aux_loss_coef"], bias_rate=manifest["bias_rate"]).to(torch_dtype)
    # The plan, as the adapter reads it, against what the trainer used.
    m = mt.multipliers(plan)
    for group, value in manifest["multiplier"].items():
        check(relative(m[group], value) <= 1e-12, f"{case}: multiplier {group} {m[group]} != trainer {value}")
    for key in ("residual_multiplier", "attention_logit_scale", "route_scale_routed", "route_scale_shared"):
        mine = {"residual_multiplier": m.residual}.get(key, getattr(m, key, None))
        check(relative(mine, manifest[key]) <= 1e-12, f"{case}: {key} {mine} != trainer {manifest[key]}")
    check(m.normalize_gates == manifest["normalize_gates"], f"{case}: normalize_gates")
    groups = mt.param_groups(model, plan)
    for g in groups:
        h = manifest["optimizer"][g["muelab_group"]]
        got = (g["lr"], g["weight_decay"], g["eps"], g["betas"][0], g["betas"][1])
        want = (h["lr"], h["weight_decay"], h["eps"], h["beta1"], h["beta2"])
        check(all(relative(a, b) <= 1e-12 or a == b for a, b in zip(got, want)),
              f"{case}: optimizer values of {g['muelab_group']} {got} != trainer {want}")
    trainable = {p["name"] for p in manifest["parameters"] if p["trainable"]}
    in_groups = sum(p.numel() for g in groups for p in g["params"])
    check(in_groups == sum(table[n][0].size for n in trainable), f"{case}: param_groups hold the trainable parameters")
    # The trainer's initial parameters into the adapter model.
    with torch.no_grad():
        for name, (value, _) in table.items():
            tensor, transform = adapter_view(model, name)
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(transform(value))))
    batch = manifest["batch"]
    tokens = torch.tensor(manifest["tokens"]).reshape(batch, -1)
    targets = torch.tensor(manifest["targets"]).reshape(batch, -1)
    opt = torch.optim.AdamW(groups)
    losses, worst_grad = [], 0.0
    for step in range(11):
        opt.zero_grad()
        loss = model(tokens, targets)
        losses.append(loss.item())
        if step == 10:
            break
        loss.backward()
        if step == 0:
            for name, (_, grad) in table.items():
                if name not in trainable:
                    continue
                reference = torch.from_numpy(np.ascontiguousarray(adapter_view(model, name)[1](grad)))
                g = adapter_grad(model, name)
                err = float((g.double() - reference).norm() / max(float(reference.norm()), 1e-300))
                worst_grad = max(worst_grad, err)
        opt.step()
        model.update_balance_bias()
    loss_err = max(relative(a, b) for a, b in zip(losses, manifest["adamw_losses"]))
    grad_tol = 1e-9 if dtype == "double" else 1e-4
    print(f"parity {case} {dtype}: 10 AdamW steps loss {losses[0]:.6f} -> {losses[-1]:.6f}, trainer "
          f"{manifest['adamw_losses'][0]:.6f} -> {manifest['adamw_losses'][-1]:.6f}; worst loss rel err {loss_err:.3g} "
          f"(tol {tol}), worst step-0 gradient rel err {worst_grad:.3g} (tol {grad_tol})")
    check(loss_err <= tol, f"{case} {dtype}: loss curve rel err {loss_err:.3g} > {tol}")
    check(worst_grad <= grad_tol, f"{case} {dtype}: gradient rel err {worst_grad:.3g} > {grad_tol}")


for case in ("moe-sigmoid", "moe-softmax", "dense"):
    for dtype in ("double", "float"):
        parity(case, dtype)

# --- 2. init_ ---------------------------------------------------------------------------------------
BASE = {"model": {"d_model": 32, "n_layers": 2, "d_head": 8, "ffn": "dense", "d_ffn": 128},
        "train": {"batch_size": 8, "seq_len": 16, "steps": 100},
        "optim": {"name": "adamw", "lr": 1e-2, "weight_decay": 0.1, "eps": 1e-8, "beta1": 0.9, "beta2": 0.95,
                  "init_std": 0.5}}


def moe_target(d, n_active=2, rule_table=None):
    t = {"model": {"d_model": d, "n_layers": 2, "d_head": 8, "ffn": "moe", "n_experts": 4, "n_active": n_active,
                   "d_expert": d}, "train": {"batch_size": 8, "seq_len": 16, "steps": 100}}
    if rule_table:
        t["rule"] = rule_table
    return t


INIT_SEED = 20261204
print(f"init_: seed {INIT_SEED}")
target = moe_target(128)
target["model"].update(n_shared=1, d_shared=64)
plan = muelab.transfer(BASE, target)
model = mt.Transformer(target["model"], 32, 16, plan)
counts = mt.init_(model, plan, generator=torch.Generator().manual_seed(INIT_SEED))
mapping = mt.group_map(model, plan)
worst_z = 0.0
for name, p in model.named_parameters():
    group = mapping[name]
    if group == "norm":
        check(bool((p == 1).all()), f"init_: {name} (norm) must be ones")
        continue
    sigma, n = plan["groups"][group]["init_std"], p.numel()
    z = (float(p.std()) / sigma - 1.0) / math.sqrt(1.0 / (2.0 * n))
    worst_z = max(worst_z, abs(z))
    check(abs(z) <= 5.0, f"init_: {name} std {float(p.std()):.4g} vs {group} init_std {sigma:.4g} ({z:+.1f} SE)")
print(f"init_: {len(mapping)} parameters in {len(counts)} groups, worst |z| of the sample std {worst_z:.2f} (bound 5)")

# --- 3. default_group on common layouts -----------------------------------------------------------------
expected = {
    "transformer.wte.weight": "embedding", "transformer.wpe.weight": "embedding",
    "transformer.h.0.ln_1.weight": "norm", "transformer.h.0.ln_1.bias": "norm", "transformer.ln_f.weight": "norm",
    "transformer.h.0.attn.c_attn.weight": "attn.qkv", "transformer.h.0.attn.c_attn.bias": "bias",
    "transformer.h.0.attn.c_proj.weight": "attn.out", "transformer.h.0.mlp.c_fc.weight": "ffn.up",
    "transformer.h.0.mlp.c_proj.weight": "ffn.down", "lm_head.weight": "head",
    "model.embed_tokens.weight": "embedding", "model.layers.3.self_attn.q_proj.weight": "attn.qkv",
    "model.layers.3.self_attn.o_proj.weight": "attn.out", "model.layers.3.mlp.gate_proj.weight": "ffn.gate",
    "model.layers.3.mlp.up_proj.weight": "ffn.up", "model.layers.3.mlp.down_proj.weight": "ffn.down",
    "model.layers.3.input_layernorm.weight": "norm", "model.norm.weight": "norm", "output.weight": "head",
    "model.layers.1.block_sparse_moe.gate.weight": "router",
    "model.layers.1.block_sparse_moe.experts.7.w1.weight": "expert.gate",
    "model.layers.1.block_sparse_moe.experts.7.w2.weight": "expert.down",
    "model.layers.1.block_sparse_moe.experts.7.w3.weight": "expert.up",
    "model.layers.2.mlp.gate.weight": "router", "model.layers.2.mlp.experts.0.up_proj.weight": "expert.up",
    "model.layers.2.mlp.shared_experts.gate_proj.weight": "shared.gate",
    "model.layers.2.mlp.shared_experts.down_proj.weight": "shared.down",
    "model.layers.2.mlp.shared_expert_gate.weight": "router",
    "blocks.0.attn.in_proj_weight": "attn.qkv", "blocks.0.attn.in_proj_bias": "bias",
    "blocks.0.attn.out_proj.weight": "attn.out",
    "blocks.1.moe.experts.gate": "expert.gate", "blocks.1.moe.shared.down": "shared.down",
    "blocks.1.ffn.gate.weight": "ffn.gate", "blocks.1.moe.router.weight": "router", "head.weight": "head",
    "blocks.1.norm2.weight": "norm", "position_embedding.weight": "embedding",
}
for name, want in expected.items():
    got = mt.default_group(name)
    check(got == want, f"default_group({name!r}) = {got!r}, expected {want!r}")
check(mt.default_group("encoder.conv.kernel") is None, "an unknown name maps to None")


class Odd(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mystery = torch.nn.Parameter(torch.zeros(4, 4))
        self.head = torch.nn.Linear(4, 4, bias=False)


try:
    mt.param_groups(Odd(), plan)
    check(False, "an unmapped parameter must raise ValueError")
except ValueError as e:
    check("mystery" in str(e) and "group_of" in str(e), f"unmapped-parameter message names it: {e}")
groups = mt.param_groups(Odd(), plan, group_of=lambda name, p: "attn.out" if name == "mystery" else None)
check(sorted(g["muelab_group"] for g in groups) == ["attn.out", "head"], "group_of overrides the default")
dense_plan = muelab.transfer(BASE, {"model": BASE["model"], "train": BASE["train"]})
try:
    mt.param_groups(model, dense_plan)
    check(False, "an MoE model with a dense plan must raise ValueError")
except ValueError as e:
    check("expert.up" in str(e) or "router" in str(e), f"missing-group message names the group: {e}")
try:
    mt.param_groups(model, muelab.transfer(BASE, target, rule="all"))
    check(False, "a rule=all result must raise ValueError")
except ValueError as e:
    check("rule" in str(e), f"rule=all message: {e}")

# Bad input: one ValueError naming the field, never a crash.
bad_calls = {
    "watch": lambda: mt.coord_check(factory("sp"), (32, 64), batches, ["blocks.9"]),
    "widths": lambda: mt.coord_check(factory("sp"), (32,), batches, ["blocks.0"]),
    "steps": lambda: mt.coord_check(factory("sp"), (32, 64), batches, ["blocks.0"], steps=5),
    "n_active": lambda: mt.MoE(16, 4, 5, 16, mt.multipliers(plan)),
    "router": lambda: mt.MoE(16, 4, 2, 16, mt.multipliers(plan), router="tanh"),
    "model.d_shared": lambda: mt.Transformer(dict(target["model"], d_shared=0), 32, 16, plan),
    "plan optimizer": lambda: mt.optimizer(model, dict(plan, optimizer="sgd")),
}
# --- 4. coordinate check across width ---------------------------------------------------------------------
WIDTHS = (32, 64, 128, 256)
DATA_SEED = 11
data = torch.Generator().manual_seed(DATA_SEED)
batches = [(torch.randint(0, 32, (8, 16), generator=data), torch.randint(0, 32, (8, 16), generator=data))
           for _ in range(3)]
WATCH = ["blocks.0", "blocks.1", "blocks.1.attn", "blocks.1.moe"]


def factory(rule):
    def make(width, seed):
        target = moe_target(width)
        plan = muelab.transfer(BASE, target, rule=rule)
        model = mt.Transformer(target["model"], 32, 16, plan)
        mt.init_(model, plan, generator=torch.Generator().manual_seed(1000 + seed))
        return model, mt.optimizer(model, plan)
    return make


for field, call in bad_calls.items():
    try:
        call()
        check(False, f"bad {field} must raise ValueError")
    except ValueError as e:
        check(field in str(e), f"bad {field}: message names the field: {e}")
print(f"bad input: {len(bad_calls)} calls raise ValueError naming their field")

print(f"coord_check: data seed {DATA_SEED}, init seeds 1000+0..7, bootstrap seed 7, widths {WIDTHS}")
results = {}
for rule, control in (("complete-mue", False), ("sp", True)):
    result = mt.coord_check(factory(rule), WIDTHS, batches, WATCH, steps=3, seeds=range(8), rule=rule,
                            control=control)
    results[rule] = result
    for row in result["rows"]:
        print(f"  {rule:12s} {row['quantity']:24s} slope {row['slope']:+.3f} [{row['ci'][0]:+.3f}, {row['ci'][1]:+.3f}] "
              f"{row['verdict']}")
    print(f"coord_check {rule} ({result['kind']}): {result['verdict']}")
check(results["complete-mue"]["verdict"] == "holds", "coord_check: complete-mue must hold (every slope within 0 +- 0.1)")
sp_delta = [r for r in results["sp"]["rows"] if r["quantity"].endswith("delta rms")]
check(all(r["verdict"] == "fails" and r["slope"] > 0 for r in sp_delta),
      "coord_check: every SP delta-rms slope must fail upward (the control)")
check(results["sp"]["verdict"] == "fails", "coord_check: the SP control must fail")

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("muelab.torch: all checks passed")
