#!/usr/bin/env python3
"""Where each microsecond of a training step goes (bench/models/results.md, "Where a step goes").

Reads, on stdin, `perf report --no-children --sort dso,symbol --stdio -q -g none` of one
`bench_models_step --only CASE` run, and takes that run's `case=... us_per_step=...` line as the
first argument. Sorts every sampled symbol into a component of the step and prints a table of each
component's share of samples and its microseconds per step (share × us_per_step). The samples also
cover model construction and the warm-up steps: a few percent at most at the step counts profile.sh
uses, and spread like the steps themselves.

Usage: perf report ... | profile_components.py "case=d32-dense ... us_per_step=3460 ..."
"""
import re
import sys

# (component, pattern on "dso symbol"), first match wins; the order matters (specific before general).
COMPONENTS = [
    ("GEMM: kernel", r"gebp_kernel|sgemm_kernel|dgemm_kernel"),
    ("GEMM: packing", r"gemm_pack_|sgemm_(on|it)copy|sgemm_beta"),
    ("GEMM: oneDNN JIT kernels", r"\[JIT\]"),
    ("GEMM: oneDNN dispatch (libdnnl)", r"libdnnl"),
    ("GEMM: call, chunking, C scaling", r"gemm_impl|muelab::models::cpu::gemm\b|general_matrix_matrix_product|matmul<"),
    ("attention heads forward", r"build_\w+::attention_forward"),
    ("attention heads backward", r"build_\w+::attention_backward"),
    ("cross-entropy (softmax rows)", r"cross_entropy"),
    ("GELU / SwiGLU", r"gelu|swiglu"),
    ("LayerNorm rows", r"layer_norm"),
    ("optimizer (Adam / SGD)", r"build_\w+::adam|Optimizer<|sgd_element"),
    ("MoE routing, gather, scatter", r"moe_forward|moe_backward|route|balance"),
    ("model glue (embedding, residual adds, dlogits)", r"Model<\w+>::(forward|backward|attention_|ffn_unit)"),
    ("data (Markov / text batches)", r"encode_impl|windows|train_batch|TokenSource|markov"),
    ("libc (memset, memcpy, malloc)", r"libc\.so|libm\.so"),
    ("OpenMP runtime", r"libgomp"),
    ("kernel (page faults, scheduler, interrupts)", r"\[kernel|\[k\]"),
]


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: profile_components.py BENCH_LINE < perf-report", file=sys.stderr)
        return 2
    bench = dict(kv.split("=", 1) for kv in sys.argv[1].split() if "=" in kv)
    if "us_per_step" not in bench:
        print("profile_components.py: the bench line has no us_per_step= field", file=sys.stderr)
        return 2
    step_us = float(bench["us_per_step"])
    shares: dict[str, float] = {}
    for line in sys.stdin:
        m = re.match(r"\s*([0-9.]+)%\s+(.*)$", line)
        if not m:
            continue
        share, what = float(m.group(1)), m.group(2)
        name = next((c for c, pattern in COMPONENTS if re.search(pattern, what)), "other")
        shares[name] = shares.get(name, 0.0) + share
    total = sum(shares.values())
    print(f"{bench.get('case', '?')}: {step_us:.0f} us per step (wall, one thread), {total:.1f}% of samples sorted")
    print(f"{'component':48s} {'share':>7s} {'us/step':>9s}")
    for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"{name:48s} {share:6.1f}% {share / 100.0 * step_us:9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
