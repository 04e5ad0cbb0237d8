#!/usr/bin/python3
"""Training tokens/s (forward + backward + AdamW step) of the muelab CPU trainer vs a plain-PyTorch
reference of the same model, batch and thread count; MFU against the sgemm peak measured in this run.

Usage: bench_models.py MUELAB_BINARY THREADS   (run through bench/models/run.sh BUILD_DIR)
FLOPs per token (model FLOP utilization): 6 × (active matmul parameters per token) + attention
12·L·T·d/2 (causal QK^T and PV, forward + backward), embeddings excluded.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

CASES = [  # name, d, L, ffn, N, a, batch, seq
    ("small-moe", 128, 4, "moe", 8, 2, 16, 128),
    ("small-dense", 128, 4, "dense", 0, 0, 16, 128),
    ("medium-moe", 512, 4, "moe", 16, 2, 8, 128),
    ("medium-dense", 512, 4, "dense", 0, 0, 8, 128),
]
VOCAB, STEPS = 64, 6


def flops_per_token(d, L, ffn, N, a, T):
    active_ffn = 2 * d * d * a  # up + down of a active experts of width h = d (dense twin: H = a·d)
    router = d * N if ffn == "moe" else 0
    per_layer = 4 * d * d + active_ffn + router
    return 6 * (L * per_layer + d * VOCAB) + 12 * L * T * d / 2


def sgemm_peak(threads):
    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(10):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 1024 ** 3 / (time.perf_counter() - t))
    return best


class TorchMoeModel(torch.nn.Module):
    """Same architecture as models/cpu (pre-norm, learned positions, causal MHA with 1/d_head logits,
    GELU experts of width h = d, sigmoid top-a routing with gates normalized over the active set and
    R = a, tokens grouped by expert with index_select / index_add)."""

    def __init__(self, d, L, ffn, N, a, T):
        super().__init__()
        self.d, self.L, self.ffn, self.N, self.a, self.T, self.dh = d, L, ffn, N, a, T, 32
        p = lambda *s: torch.nn.Parameter(0.02 * torch.randn(*s))  # noqa: E731
        self.tok, self.pos, self.head = p(VOCAB, d), p(T, d), p(d, VOCAB)
        self.qkv = torch.nn.ParameterList([p(d, 3 * d) for _ in range(L)])
        self.out = torch.nn.ParameterList([p(d, d) for _ in range(L)])
        width = d * (a if ffn == "dense" else 1)  # dense twin: H = H_act = a·h
        experts = N if ffn == "moe" else 1
        self.up = torch.nn.ParameterList([p(experts, d, width) for _ in range(L)])
        self.down = torch.nn.ParameterList([p(experts, width, d) for _ in range(L)])
        self.router = torch.nn.ParameterList([p(d, max(N, 1)) for _ in range(L)])

    def attention(self, u, layer, B):
        d, T, dh = self.d, self.T, self.dh
        qkv = (u @ self.qkv[layer]).view(B, T, 3, d // dh, dh).permute(2, 0, 3, 1, 4)
        s = (qkv[0] @ qkv[1].transpose(-1, -2)) / dh
        s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        o = (torch.softmax(s, -1) @ qkv[2]).transpose(1, 2).reshape(B * T, d)
        return o @ self.out[layer]

    def moe(self, u, layer):
        p = torch.sigmoid(u @ self.router[layer])
        top, idx = torch.topk(p, self.a, dim=-1)
        gates = top / top.sum(-1, keepdim=True) * self.a
        out = torch.zeros_like(u)
        flat_idx, flat_gate = idx.reshape(-1), gates.reshape(-1)
        token = torch.arange(u.shape[0]).repeat_interleave(self.a)
        for e in range(self.N):
            sel = (flat_idx == e).nonzero().squeeze(1)
            rows = token[sel]
            y = torch.nn.functional.gelu(u[rows] @ self.up[layer][e]) @ self.down[layer][e]
            out = out.index_add(0, rows, y * flat_gate[sel].unsqueeze(1))
        return out

    def forward(self, x, y):
        B, T = x.shape
        h = self.tok[x.reshape(-1)] + self.pos[torch.arange(T).repeat(B)]
        norm = lambda t: torch.nn.functional.layer_norm(t, (self.d,))  # noqa: E731
        for layer in range(self.L):
            h = h + self.attention(norm(h), layer, B)
            u = norm(h)
            if self.ffn == "moe":
                h = h + self.moe(u, layer)
            else:
                h = h + torch.nn.functional.gelu(u @ self.up[layer][0]) @ self.down[layer][0]
        return torch.nn.functional.cross_entropy(norm(h) @ self.head, y.reshape(-1))


def torch_tokens_per_s(d, L, ffn, N, a, B, T, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = TorchMoeModel(d, L, ffn, N, a, T)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, VOCAB, (B, T))
    y = torch.randint(0, VOCAB, (B, T))
    times = []
    for step in range(STEPS):
        t = time.perf_counter()
        opt.zero_grad()
        model(x, y).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    best = sorted(times[1:])[len(times[1:]) // 2]  # median after one warm-up step
    return B * T / best


def muelab_tokens_per_s(binary, d, L, ffn, N, a, B, T, threads):
    model = (f'ffn = "moe"\nn_experts = {N}\nn_active = {a}\nd_expert = {d}\n' if ffn == "moe"
             else f'ffn = "dense"\nd_ffn = {d * a}\n')
    config = f"""[model]
d_model = {d}
n_layers = {L}
d_head = 32
{model}
[train]
batch_size = {B}
seq_len = {T}
steps = {STEPS}
[transfer]
lr = 1e-3
init_std = 0.02
[data]
source = "markov"
markov_states = {VOCAB}
[trainer]
threads = {threads}
eval_interval = 100000
eval_batches = 1
"""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.toml")
        with open(path, "w") as f:
            f.write(config)
        subprocess.run([binary, "train", "--config", path, "--out", os.path.join(tmp, "out")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(tmp, "out", "summary.json")) as f:
            return json.load(f)["tokens_per_s"]


def main():
    binary, threads = sys.argv[1], int(sys.argv[2])
    peak = sgemm_peak(threads)
    print(f"threads {threads}; measured sgemm peak (1024^3, OpenBLAS via torch) {peak / 1e9:.1f} GFLOP/s")
    print(f"{'case':<14}{'muelab tok/s':>14}{'torch tok/s':>13}{'ratio':>8}{'muelab MFU':>12}{'torch MFU':>11}")
    for name, d, L, ffn, N, a, B, T in CASES:
        # dense twin uses H = a·d so that its active width equals the MoE's (H_act = a·h, h = d)
        flops = flops_per_token(d, L, "moe" if ffn == "moe" else "dense", N, a if ffn == "moe" else 2, T)
        ours = muelab_tokens_per_s(binary, d, L, ffn, N, a if ffn == "moe" else 2, B, T, threads)
        ref = torch_tokens_per_s(d, L, ffn, N, a if ffn == "moe" else 2, B, T, threads)
        print(f"{name:<14}{ours:>14.0f}{ref:>13.0f}{ours / ref:>8.2f}{ours * flops / peak:>12.1%}{ref * flops / peak:>11.1%}",
              flush=True)


if __name__ == "__main__":
    main()
