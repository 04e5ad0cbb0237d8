#!/usr/bin/python3
"""Independent PyTorch oracle for the muelab CPU trainer (models/cpu).

Runs the muelab exporter (tests/models/oracle_export.cpp) for a case, rebuilds the same model in
plain torch (float64) from manifest.json + params.bin, and checks against muelab:
  * the loss and EVERY parameter gradient (grads.bin);
  * the losses of 10 AdamW steps (torch.optim.AdamW, per-group hyperparameters from the manifest,
    the non-gradient balance bias updated as in muelab).
Tolerances (relative): muelab double: 1e-9 for everything. muelab float (checked against the
float64 torch model): loss 1e-6, gradients 1e-5 (norm of the difference over the norm, per
parameter), AdamW losses 1e-6 — float32 rounding; measured: loss <= 1.1e-8, gradients <= 5.3e-7,
AdamW losses <= 3.9e-8.
Exit code 77 (CTest SKIP_RETURN_CODE) with a visible message when torch is missing.

The torch model is written independently of muelab's kernels: attention with an explicit mask, the
MoE as a dense gate matrix G (n x N, zero off the selected experts) multiplying every expert's output.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as error:  # pragma: no cover
    print(f"SKIPPED: PyTorch oracle needs python3-torch and numpy ({error}); install with scripts/install-deps.sh")
    sys.exit(77)

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)


def load(out_dir):
    with open(os.path.join(out_dir, "manifest.json")) as f:
        manifest = json.load(f)
    params = np.fromfile(os.path.join(out_dir, "params.bin"), dtype="<f8")
    grads = np.fromfile(os.path.join(out_dir, "grads.bin"), dtype="<f8")
    tensors, muelab_grads = {}, {}
    for p in manifest["parameters"]:
        n = p["rows"] * p["cols"]
        sl = slice(p["offset"], p["offset"] + n)
        tensors[p["name"]] = torch.tensor(params[sl].reshape(p["rows"], p["cols"]), requires_grad=p["trainable"])
        muelab_grads[p["name"]] = torch.tensor(grads[sl].reshape(p["rows"], p["cols"]))
    return manifest, tensors, muelab_grads


class TorchModel:
    def __init__(self, manifest, tensors):
        self.m = manifest
        self.w = tensors
        self.mult = manifest["multiplier"]
        cfg = manifest["model"]
        self.bias = [torch.zeros(cfg["n_experts"]) for _ in range(cfg["n_layers"])] if cfg["ffn"] == "moe" else []
        self.last_loads = []

    def norm(self, x, name):
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.m["norm_eps"]) * self.w[name][0] * self.mult["norm"]

    def ffn_unit(self, u, prefix, kind):
        up = u @ self.w[prefix + "up"] * self.mult[kind + ".up"]
        if self.m["model"]["activation"] == "swiglu":
            gate = u @ self.w[prefix + "gate"] * self.mult[kind + ".gate"]
            act = torch.nn.functional.silu(gate) * up
        else:
            act = torch.nn.functional.gelu(up)  # exact (erf) GELU
        return act @ self.w[prefix + "down"] * self.mult[kind + ".down"]

    def attention(self, u, prefix, batch):
        cfg = self.m["model"]
        d, dh, T = cfg["d_model"], cfg["d_head"], self.m["seq_len"]
        heads = d // dh
        qkv = u @ self.w[prefix + "attn.qkv"] * self.mult["attn.qkv"]
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        split = lambda t: t.reshape(batch, T, heads, dh).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        scores = (q @ k.transpose(-1, -2)) * self.m["attention_logit_scale"]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v
        o = o.transpose(1, 2).reshape(batch * T, d)
        return o @ self.w[prefix + "attn.out"] * self.mult["attn.out"]

    def moe(self, u, prefix, layer):
        cfg = self.m["model"]
        N, a, g = cfg["n_experts"], cfg["n_active"], cfg["n_groups"]
        n = u.shape[0]
        scores = u @ self.w[prefix + "router"] * self.mult["router"]
        p = torch.sigmoid(scores) if cfg["router"] == "sigmoid" else torch.softmax(scores, dim=-1)
        key = (p + self.bias[layer]).detach()
        size, per = N // g, a // g
        chosen = torch.cat([torch.topk(key[:, i * size:(i + 1) * size], per, dim=-1).indices + i * size
                            for i in range(g)], dim=-1)
        selected = torch.zeros(n, N, dtype=torch.bool)
        selected.scatter_(1, chosen, True)
        p_sel = p * selected
        gates = p_sel / p_sel.sum(dim=-1, keepdim=True) if self.m["normalize_gates"] else p_sel
        out = torch.zeros_like(u)
        for e in range(N):
            out = out + self.m["route_scale_routed"] * gates[:, e:e + 1] * self.ffn_unit(u, f"{prefix}experts.{e}.", "expert")
        for s in range(cfg["n_shared"]):
            out = out + self.m["route_scale_shared"] * self.ffn_unit(u, f"{prefix}shared.{s}.", "shared")
        counts = selected.sum(dim=0).to(torch.float64)
        self.last_loads.append(counts / n)
        aux = torch.zeros(())
        if self.m["aux_loss_coef"] > 0:
            f = counts / (n * a)
            p_hat = p / p.sum(dim=-1, keepdim=True)
            aux = self.m["aux_loss_coef"] * N * (f * p_hat.mean(dim=0)).sum()
        return out, aux

    def loss(self, tokens, targets):
        cfg = self.m["model"]
        batch, T = self.m["batch"], self.m["seq_len"]
        self.last_loads = []
        positions = torch.arange(batch * T) % T
        x = self.mult["embedding"] * (self.w["token_embedding"][tokens] + self.w["position_embedding"][positions])
        r = self.m["residual_multiplier"]
        aux_total = torch.zeros(())
        for layer in range(cfg["n_layers"]):
            prefix = f"blocks.{layer}."
            x = x + r * self.attention(self.norm(x, prefix + "norm1.gain"), prefix, batch)
            u = self.norm(x, prefix + "norm2.gain")
            if cfg["ffn"] == "moe":
                f, aux = self.moe(u, prefix, layer)
                aux_total = aux_total + aux
            else:
                f = self.ffn_unit(u, prefix + "ffn.", "ffn")
            x = x + r * f
        logits = self.norm(x, "final_norm.gain") @ self.w["head"] * self.mult["head"]
        return torch.nn.functional.cross_entropy(logits, targets) + aux_total

    def update_bias(self):
        cfg = self.m["model"]
        if cfg["ffn"] != "moe":
            return
        kappa = cfg["n_active"] / cfg["n_experts"]
        for layer, load in enumerate(self.last_loads):
            self.bias[layer] = self.bias[layer] - self.m["bias_rate"] * (load - kappa)


def relative(a, b):
    a, b = float(a), float(b)
    return abs(a - b) / max(abs(b), 1e-300)


def check(case, dtype, exporter):
    tol = {"double": dict(loss=1e-9, grad=1e-9, adamw=1e-9), "float": dict(loss=1e-6, grad=1e-5, adamw=1e-6)}[dtype]
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([exporter, case, dtype, out], check=True)
        manifest, tensors, muelab_grads = load(out)
    model = TorchModel(manifest, tensors)
    tokens = torch.tensor(manifest["tokens"], dtype=torch.long)
    targets = torch.tensor(manifest["targets"], dtype=torch.long)
    loss = model.loss(tokens, targets)
    loss.backward()
    failures = []
    loss_err = relative(manifest["loss"], loss.item())
    if loss_err > tol["loss"]:
        failures.append(f"loss: relative error {loss_err:.3g} > {tol['loss']}")
    worst, worst_name, checked = 0.0, "", 0
    for p in manifest["parameters"]:
        if not p["trainable"]:
            continue
        reference = tensors[p["name"]].grad
        err = float((muelab_grads[p["name"]] - reference).norm() / max(float(reference.norm()), 1e-300))
        checked += 1
        if err > worst:
            worst, worst_name = err, p["name"]
        if err > tol["grad"]:
            failures.append(f"gradient {p['name']}: relative error {err:.3g} > {tol['grad']}")
    # 10 AdamW steps, per-group hyperparameters, on the same batch.
    model2 = TorchModel(manifest, {k: v.detach().clone().requires_grad_(v.requires_grad) for k, v in tensors.items()})
    groups = []
    for p in manifest["parameters"]:
        if p["trainable"]:
            h = manifest["optimizer"][p["group"]]
            groups.append(dict(params=[model2.w[p["name"]]], lr=h["lr"], weight_decay=h["weight_decay"], eps=h["eps"],
                               betas=(h["beta1"], h["beta2"])))
    optimizer = torch.optim.AdamW(groups)
    losses = []
    for step in range(11):
        optimizer.zero_grad()
        value = model2.loss(tokens, targets)
        losses.append(value.item())
        if step == 10:
            break
        value.backward()
        optimizer.step()
        model2.update_bias()
    adamw_err = max(relative(m, t) for m, t in zip(manifest["adamw_losses"], losses))
    if adamw_err > tol["adamw"]:
        failures.append(f"AdamW losses: relative error {adamw_err:.3g} > {tol['adamw']}")
    print(f"oracle {case} muelab-{dtype}: loss rel err {loss_err:.3g}; {checked} parameter gradients, worst rel err "
          f"{worst:.3g} ({worst_name}); 10 AdamW steps loss {losses[0]:.6f} -> {losses[-1]:.6f}, worst rel err {adamw_err:.3g}")
    for f in failures:
        print("  FAIL", f)
    return not failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exporter", required=True)
    parser.add_argument("--dtype", choices=["double", "float"], default="double")
    parser.add_argument("--cases", default="moe-sigmoid,moe-softmax,dense")
    args = parser.parse_args()
    ok = all([check(case, args.dtype, args.exporter) for case in args.cases.split(",")])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
