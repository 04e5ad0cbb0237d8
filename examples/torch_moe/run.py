#!/usr/bin/python3
"""Tune a small dense model once in PyTorch, transfer to an MoE with muelab, train it (README, "From Python").

1. Dense proxy (d = 32, L = 2, H = 4d): sweep the AdamW learning rate over 7 octave points (2^-9..2^-3),
   pick the best final validation loss (an optimum at a grid edge is reported, not hidden).
2. muelab.transfer(proxy, target, rule="complete-mue"): per-group LR, WD, init std and forward multipliers
   for the MoE target (d = 64, N = 8 experts, a = 2 active, h = d).
3. Train the target with muelab.torch (Transformer, init_, optimizer) at the transferred LR and at 1/2 and
   2 times it, to see where the transferred point sits.
Data: an order-2 Markov chain over 32 tokens whose next-token laws are softmax(z / 0.3) (fixed seed); its
entropy rate is the floor every loss is compared with. Writes OUT/curves.png and OUT/summary.json.
Usage: run.py [--out DIR] [--steps N]   (with the muelab package on PYTHONPATH; about a minute on one core)
"""
import argparse
import json
import math
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import muelab  # noqa: E402
import muelab.torch as mt  # noqa: E402

V, K, TAU, SEQ, BATCH = 32, 2, 0.3, 32, 16
torch.set_num_threads(1)


def markov_chain(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(V ** K, V, generator=g, dtype=torch.float64) / TAU, dim=-1)


def entropy_rate(P):
    """Stationary entropy rate in nats: pi over contexts (a, b) by power iteration, then sum pi H(P)."""
    P3 = P.reshape(V, V, V)
    pi = torch.full((V, V), 1.0 / V ** 2, dtype=torch.float64)
    for _ in range(500):
        pi = torch.einsum("ab,abc->bc", pi, P3)
    return float((pi.reshape(-1) * -(P * P.clamp_min(1e-300).log()).sum(-1)).sum())


def batches(P, count, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        seq = torch.randint(0, V, (BATCH, K), generator=g)
        for _ in range(SEQ + 1 - K):
            context = seq[:, -2] * V + seq[:, -1]
            seq = torch.cat([seq, torch.multinomial(P[context], 1, generator=g)], dim=1)
        out.append((seq[:, :-1], seq[:, 1:]))
    return out


def config(model, lr=None):
    c = {"model": model, "train": {"batch_size": BATCH, "seq_len": SEQ, "steps": ARGS.steps}}
    if lr is not None:
        c["optim"] = {"name": "adamw", "lr": lr, "weight_decay": 0.1, "eps": 1e-8, "beta1": 0.9, "beta2": 0.95,
                      "init_std": 0.5}
    return c


def train(model_table, plan, data, valid, seed=0):
    """AdamW with warm-up (10%) and linear decay to 10%; returns (train losses, final validation loss)."""
    torch.manual_seed(seed)
    model = mt.Transformer(model_table, V, SEQ, plan)
    mt.init_(model, plan, generator=torch.Generator().manual_seed(seed))
    opt = mt.optimizer(model, plan)
    warm = max(1, ARGS.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, 1.0 - 0.9 * max(0, s - warm) / max(1, ARGS.steps - warm)))
    losses = []
    for tokens, targets in data:
        opt.zero_grad()
        loss = model(tokens, targets)
        loss.backward()
        opt.step()
        sched.step()
        model.update_balance_bias()
        losses.append(loss.item())
    with torch.no_grad():
        return losses, sum(model(t, y).item() for t, y in valid) / len(valid)


def main():
    P = markov_chain()
    floor = entropy_rate(P)
    data, valid = batches(P, ARGS.steps, seed=1), batches(P, 8, seed=2)
    proxy = {"d_model": 32, "n_layers": 2, "d_head": 8, "ffn": "dense", "d_ffn": 128}
    target = {"d_model": 64, "n_layers": 2, "d_head": 8, "ffn": "moe", "n_experts": 8, "n_active": 2, "d_expert": 64}
    grid = [2.0 ** e for e in range(-9, -2)]
    sweep = {}
    for lr in grid:  # the proxy's plan is the identity transfer (proxy -> itself)
        plan = muelab.transfer(config(proxy, lr), config(proxy))
        sweep[lr] = train(proxy, plan, data, valid)
        print(f"proxy lr 2^{math.log2(lr):+.0f}: validation {sweep[lr][1]:.4f} (excess {sweep[lr][1] - floor:.4f})")
    best = min(grid, key=lambda lr: sweep[lr][1])
    edge = best in (grid[0], grid[-1])
    print(f"proxy optimum lr = 2^{math.log2(best):.0f}" + (" (at a grid edge: extend the grid)" if edge else ""))
    runs = {}
    for factor in (0.5, 1.0, 2.0):
        plan = muelab.transfer(config(proxy, best * factor), config(target), rule="complete-mue")
        runs[factor] = train(target, plan, data, valid)
        print(f"MoE target at {factor:g} x transferred: validation {runs[factor][1]:.4f} "
              f"(excess {runs[factor][1] - floor:.4f})")
    plan = muelab.transfer(config(proxy, best), config(target), rule="complete-mue")
    groups = {g: {k: plan["groups"][g][k] for k in ("lr", "init_std", "multiplier")} for g in plan["groups"]}
    summary = {"entropy_rate": floor, "proxy_sweep": {str(lr): sweep[lr][1] for lr in grid}, "proxy_best_lr": best,
               "proxy_best_at_edge": edge, "target_validation": {str(f): runs[f][1] for f in runs},
               "target_groups": groups, "route_scale_routed": plan["moe"]["route_scale_routed"]}
    os.makedirs(ARGS.out, exist_ok=True)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot([math.log2(lr) for lr in grid], [sweep[lr][1] - floor for lr in grid], "o-")
    ax[0].set(xlabel="log2 proxy learning rate", ylabel="validation loss - entropy rate (nats)",
              title="dense proxy LR sweep")
    smooth = lambda xs: [sum(xs[max(0, i - 9):i + 1]) / len(xs[max(0, i - 9):i + 1]) for i in range(len(xs))]  # noqa
    ax[1].plot(smooth(sweep[best][0]), label=f"dense proxy, lr 2^{math.log2(best):.0f}")
    for factor, (losses, _) in runs.items():
        ax[1].plot(smooth(losses), label=f"MoE N=8 a=2 d=64, {factor:g} x transferred")
    ax[1].axhline(floor, color="k", ls=":", label="entropy rate")
    ax[1].set(xlabel="step", ylabel="training loss (nats, 10-step mean)", title="transfer with muelab.torch")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    tmp = os.path.join(ARGS.out, "curves.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, os.path.join(ARGS.out, "curves.png"))
    with open(os.path.join(ARGS.out, "summary.json.tmp"), "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(os.path.join(ARGS.out, "summary.json.tmp"), os.path.join(ARGS.out, "summary.json"))
    print(f"wrote {ARGS.out}/curves.png and summary.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="torch_moe_out")
    parser.add_argument("--steps", type=int, default=600)
    ARGS = parser.parse_args()
    if ARGS.steps < 10:
        parser.error("--steps: must be at least 10")
    main()
