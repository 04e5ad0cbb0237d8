#!/usr/bin/python3
"""Training-step throughput (forward + backward + AdamW step) of the muelab CPU trainer against plain
PyTorch on the same shapes, and the machine's sgemm limit, measured in one interleaved run.

Usage: bench_models.py BUILD_DIR [--threads T] [--repeats R] [--allow-load]
(run through bench/models/run.sh, which pins the thread environment).

Shapes are those of bench_models_step (bench/models/step_bench.cpp): the experiments' d = 32 and 64
(L = 2, 16 x 64 tokens, vocab 96, d_head = 16, dense FFN width 4d, MoE N = 8, a = 2, expert width 2d)
plus d = 128 and d = 512 (8 x 128 tokens). Two PyTorch variants per case:
  * torch-best: the fastest plain-PyTorch formulation we know: tokens sorted once by expert, each
    expert a contiguous slice (one matmul pair per expert), the weighted outputs scattered back with
    one index_add; one OpenMP pool, OMP_WAIT_POLICY=PASSIVE.
  * torch-twin: the per-expert index_select / index_add formulation (what a first port looks like).
Every figure is a median over R repeats; the cases and variants are interleaved inside each repeat.
The ratio muelab/torch and the torch MFU use the faster of the two PyTorch variants of each case (with
two threads the per-expert twin can beat the sorted variant at d = 512).
The load average is printed, and the run refuses to report when it exceeds 0.5 per core.
FLOPs per token (model FLOP utilisation against the best sgemm measured in this run: torch's OpenBLAS or muelab's
GEMM engine, bench_models_step --sgemm 1024): 6 x (active matmul
parameters) + 6 L T d (causal attention products, forward and backward).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch

CASES = [  # name, d, L, experts (0: dense), active, batch, seq
    ("d32-dense", 32, 2, 0, 0, 16, 64),
    ("d32-moe", 32, 2, 8, 2, 16, 64),
    ("d64-dense", 64, 2, 0, 0, 16, 64),
    ("d64-moe", 64, 2, 8, 2, 16, 64),
    ("d128-dense", 128, 2, 0, 0, 16, 64),
    ("d128-moe", 128, 2, 8, 2, 16, 64),
    ("d512-dense", 512, 2, 0, 0, 8, 128),
    ("d512-moe", 512, 2, 8, 2, 8, 128),
]
VOCAB, STEPS, WARMUP = 96, 12, 3


def flops_per_token(d, L, experts, active, T):
    ffn = 2 * d * 4 * d  # dense width 4d, or a experts of width 4d/a: the same active parameters
    router = d * experts
    return 6 * (L * (4 * d * d + ffn + router) + d * VOCAB) + 6 * L * T * d


def sgemm_gflops(threads, n=1024, tries=10):
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(tries):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t))
    return best / 1e9


class TorchModel(torch.nn.Module):
    """The muelab toy transformer's shapes: pre-norm, learned positions, causal MHA, GELU FFN or
    sigmoid-routed top-a MoE with gates normalized over the active set."""

    def __init__(self, d, L, experts, active, T, best):
        super().__init__()
        self.d, self.L, self.N, self.a, self.T, self.best = d, L, experts, active, T, best
        self.dh = min(16, d)
        p = lambda *s: torch.nn.Parameter(0.02 * torch.randn(*s))  # noqa: E731
        self.tok, self.pos, self.head = p(VOCAB, d), p(T, d), p(d, VOCAB)
        self.qkv = torch.nn.ParameterList([p(d, 3 * d) for _ in range(L)])
        self.out = torch.nn.ParameterList([p(d, d) for _ in range(L)])
        width = 4 * d if experts == 0 else 4 * d // active
        count = max(experts, 1)
        self.up = torch.nn.ParameterList([p(count, d, width) for _ in range(L)])
        self.down = torch.nn.ParameterList([p(count, width, d) for _ in range(L)])
        self.router = torch.nn.ParameterList([p(d, count) for _ in range(L)])
        self.mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)

    def attention(self, u, layer, B):
        d, T, dh = self.d, self.T, self.dh
        qkv = (u @ self.qkv[layer]).view(B, T, 3, d // dh, dh).permute(2, 0, 3, 1, 4)
        s = (qkv[0] @ qkv[1].transpose(-1, -2)) / dh
        s = s.masked_fill(self.mask, float("-inf"))
        o = (torch.softmax(s, -1) @ qkv[2]).transpose(1, 2).reshape(B * T, d)
        return o @ self.out[layer]

    def route(self, u, layer):
        p = torch.sigmoid(u @ self.router[layer])
        top, idx = torch.topk(p, self.a, dim=-1)
        return idx.reshape(-1), (top / top.sum(-1, keepdim=True) * self.a).reshape(-1)

    def moe_twin(self, u, layer):
        flat_idx, flat_gate = self.route(u, layer)
        token = torch.arange(u.shape[0]).repeat_interleave(self.a)
        out = torch.zeros_like(u)
        for e in range(self.N):
            sel = (flat_idx == e).nonzero().squeeze(1)
            rows = token[sel]
            y = torch.nn.functional.gelu(u[rows] @ self.up[layer][e]) @ self.down[layer][e]
            out = out.index_add(0, rows, y * flat_gate[sel].unsqueeze(1))
        return out

    def moe_best(self, u, layer):
        flat_idx, flat_gate = self.route(u, layer)
        order = torch.argsort(flat_idx, stable=True)
        token = torch.div(order, self.a, rounding_mode="floor")
        counts = torch.bincount(flat_idx, minlength=self.N).tolist()
        x = u.index_select(0, token)
        pieces = []
        for e, chunk in enumerate(torch.split(x, counts)):
            if chunk.shape[0]:
                pieces.append(torch.nn.functional.gelu(chunk @ self.up[layer][e]) @ self.down[layer][e])
        y = torch.cat(pieces) * flat_gate.index_select(0, order).unsqueeze(1)
        return torch.zeros_like(u).index_add_(0, token, y)

    def forward(self, x, y):
        B, T = x.shape
        h = self.tok[x.reshape(-1)] + self.pos.repeat(B, 1)
        norm = lambda t: torch.nn.functional.layer_norm(t, (self.d,))  # noqa: E731
        for layer in range(self.L):
            h = h + self.attention(norm(h), layer, B)
            u = norm(h)
            if self.N == 0:
                h = h + torch.nn.functional.gelu(u @ self.up[layer][0]) @ self.down[layer][0]
            else:
                h = h + (self.moe_best(u, layer) if self.best else self.moe_twin(u, layer))
        return torch.nn.functional.cross_entropy(norm(h) @ self.head, y.reshape(-1))


def torch_step_seconds(case, threads, best):
    _, d, L, experts, active, B, T = case
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = TorchModel(d, L, experts, active, T, best)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=True)
    x = torch.randint(0, VOCAB, (B, T))
    y = torch.randint(0, VOCAB, (B, T))
    times = []
    for _ in range(WARMUP + STEPS):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model(x, y).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[WARMUP:])


def muelab_step_seconds(binary, case, threads):
    run = subprocess.run([binary, "--only", case[0], "--threads", str(threads), "--steps", str(STEPS), "--warmup",
                          str(WARMUP)], capture_output=True, text=True)
    found = re.search(r" us_per_step=([0-9.]+)", run.stdout)
    if run.returncode != 0 or not found:
        sys.exit(f"error: {binary} --only {case[0]} failed (exit {run.returncode}): {run.stderr.strip()}")
    return float(found.group(1)) * 1e-6


def load_per_core():
    return float(open("/proc/loadavg").read().split()[0]) / os.cpu_count()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--allow-load", action="store_true", help="measure on a loaded machine (figures not for reporting)")
    args = ap.parse_args()
    binary = os.path.join(args.build_dir, "bench", "models", "bench_models_step")
    if not os.access(binary, os.X_OK):
        sys.exit(f"error: {binary} not found (build the target bench_models_step)")
    load = load_per_core()
    print(f"date {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; cpus {os.cpu_count()}; load average per core "
          f"{load:.2f}; torch {torch.__version__}; threads {args.threads}; OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '')}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if load > 0.5 and not args.allow_load:
        sys.exit(f"refusing to measure: load average {load:.2f} per core > 0.5 (wait for an idle machine, or "
                 "--allow-load for figures that are not for reporting)")
    cases = [c for c in CASES if not args.only or c[0] == args.only]
    samples = {c[0]: {"muelab": [], "torch-best": [], "torch-twin": []} for c in cases}
    gemm, engine_gemm, engine = [], [], "?"
    for r in range(args.repeats):
        gemm.append(sgemm_gflops(args.threads))
        out = subprocess.run([binary, "--sgemm", "1024", "--threads", str(args.threads)], check=True,
                             capture_output=True, text=True).stdout.split()
        fields = dict(f.split("=", 1) for f in out if "=" in f)
        engine = fields["engine"]
        engine_gemm.append(float(fields["gflops"]))
        for case in cases:
            samples[case[0]]["muelab"].append(muelab_step_seconds(binary, case, args.threads))
            samples[case[0]]["torch-best"].append(torch_step_seconds(case, args.threads, True))
            if case[3]:
                samples[case[0]]["torch-twin"].append(torch_step_seconds(case, args.threads, False))
        print(f"  repeat {r + 1}/{args.repeats} done, load per core {load_per_core():.2f}", flush=True)
    torch_peak, engine_peak = statistics.median(gemm), statistics.median(engine_gemm)
    peak = max(torch_peak, engine_peak)  # the machine limit: the best sgemm measured in this run
    print(f"sgemm 1024^3 through torch's OpenBLAS, {args.threads} thread(s): {torch_peak:.1f} GFLOP/s (median of "
          f"{len(gemm)}; best {max(gemm):.1f})")
    print(f"sgemm 1024^3 through muelab's GEMM engine ({engine}), {args.threads} thread(s): {engine_peak:.1f} GFLOP/s "
          f"(median of {len(engine_gemm)}; best {max(engine_gemm):.1f}); MFU below is against {peak:.1f}")
    print(f"{'case':<12}{'muelab tok/s':>14}{'torch-best':>12}{'torch-twin':>12}{'muelab/torch':>13}"
          f"{'muelab MFU':>12}{'torch MFU':>10}")
    for case in cases:
        name, d, L, experts, active, B, T = case
        tokens = B * T
        s = samples[name]
        ours, best = tokens / statistics.median(s["muelab"]), tokens / statistics.median(s["torch-best"])
        twin = tokens / statistics.median(s["torch-twin"]) if s["torch-twin"] else float("nan")
        fastest = max(best, twin) if s["torch-twin"] else best  # the faster PyTorch variant of this case
        flops = flops_per_token(d, L, experts, active, T)
        print(f"{name:<12}{ours:>14.0f}{best:>12.0f}{twin:>12.0f}{ours / fastest:>13.2f}{ours * flops / (peak * 1e9):>12.1%}"
              f"{fastest * flops / (peak * 1e9):>10.1%}")
    print(f"load average per core after the run: {load_per_core():.2f}")


if __name__ == "__main__":
    main()
