"""Where numpy's time per path-step goes in adam_sde_numpy.py: each array call it makes per step,
timed alone on (paths, 64) float64 arrays, in process CPU nanoseconds per path-step (the machine is
shared; CPU time does not count time given to other processes). Usage: numpy_pieces.py [paths] [calls]"""
import sys
import time

import numpy as np

paths = int(sys.argv[1]) if len(sys.argv) > 1 else 512
calls = int(sys.argv[2]) if len(sys.argv) > 2 else 300
if paths <= 0 or calls <= 0:
    sys.exit("error: paths and calls must be positive integers")
d = 64
rng = np.random.default_rng(12345)
out = np.empty((paths, d))
a = np.full((paths, d), 1.5)
b = np.full((paths, d), 0.5)
row = np.linspace(0.5, 2.0, d)


def cpu_ns_per_path_step(call):
    start = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - start) / calls / paths * 1e9


pieces = [
    ("standard_normal(out=)", lambda: rng.standard_normal(out=out)),
    ("maximum(u, 0, out=)", lambda: np.maximum(a, 0.0, out=out)),
    ("sqrt(out=)", lambda: np.sqrt(a, out=out)),
    ("divide(m, p, out=)", lambda: np.divide(b, a, out=out)),
    ("multiply(x, row, out=)", lambda: np.multiply(a, row, out=out)),
    ("in-place scalar *=", lambda: np.multiply(out, 1.0, out=out)),
    ("in-place array +=", lambda: np.add(out, b, out=out)),
]
for name, call in pieces:
    print("numpy piece %-24s cpu_ns_per_path_step=%.1f" % (name, cpu_ns_per_path_step(call)))
