"""The same d = 64 Adam SDE Euler-Maruyama ensemble as adam_sde_bench.cpp (docs/theory.md §7), vectorized
over paths in numpy: all paths advance together, one array operation per term per step, every
operation in place into preallocated (paths, d) arrays (out=), so the time loop allocates nothing
and makes no temporaries. The Gaussian increments come from numpy's own generator (PCG64 +
ziggurat, standard_normal(out=...)), the fastest normal source numpy offers.

Per step (t = k dt, gamma_i = 1 - exp(-c_i t)), the Euler-Maruyama update of (x, m, u):
    dx = -(sqrt(gamma2)/gamma1) m / (lr sqrt(max(u, 0)) + eps0 sqrt(gamma2)) - wd x   (dx = -wd x at t = 0)
    dm = c1 (h x - m),   du = c2 (diag Sigma_B - u)
    x += dt dx,   m += dt dm + c1 lr diag(Sigma_B)^(1/2) dW,   u += dt du,   dW ~ N(0, dt I).

Prints the best of `repeats` runs, wall-clock and process CPU time (the machine is shared: wall time
includes time given to other processes, CPU time does not).
Usage: adam_sde_numpy.py [paths] [steps] [repeats]"""
import sys
import time

import numpy as np


def parse_positive(index, name, default):
    if len(sys.argv) <= index:
        return default
    try:
        value = int(sys.argv[index])
    except ValueError:
        value = 0
    if value <= 0:
        sys.exit("error: %s must be a positive integer (got '%s')" % (name, sys.argv[index]))
    return value


paths = parse_positive(1, "paths", 512)
steps = parse_positive(2, "steps", 1000)
repeats = parse_positive(3, "repeats", 3)
d, lr, dt = 64, 0.05, 1e-3
beta1, beta2, eps, wd = 0.99, 0.999, 1e-8, 0.0
c1, c2, eps0, wd_rate = (1 - beta1) / lr**2, (1 - beta2) / lr**2, eps * lr, wd / lr
h = np.linspace(0.5, 2.0, d)
variance = np.linspace(1.0, 2.0, d)
# Row vectors broadcast over the paths: the m-row of the diffusion times sqrt(dt), and c2 dt Sigma_B.
noise_row = (c1 * lr) * np.sqrt(variance) * np.sqrt(dt)
u_source_row = (dt * c2) * variance


def run():
    rng = np.random.default_rng(12345)
    x = np.ones((paths, d))
    m = np.zeros((paths, d))
    u = np.zeros((paths, d))
    dw = np.empty((paths, d))
    drift = np.empty((paths, d))
    scratch = np.empty((paths, d))
    wall, cpu = time.perf_counter(), time.process_time()
    for k in range(steps):
        t = k * dt
        g1, g2 = -np.expm1(-c1 * t), -np.expm1(-c2 * t)
        rng.standard_normal(out=dw)
        # drift = dt dx (old x, m, u)
        if g1 > 0:
            np.maximum(u, 0.0, out=drift)
            np.sqrt(drift, out=drift)
            drift *= lr
            drift += eps0 * np.sqrt(g2)
            np.divide(m, drift, out=drift)
            drift *= -dt * np.sqrt(g2) / g1
            if wd_rate != 0.0:
                np.multiply(x, dt * wd_rate, out=scratch)
                drift -= scratch
        else:
            np.multiply(x, -dt * wd_rate, out=drift)
        # scratch = dt c1 (h x - m) + c1 lr sqrt(Sigma_B) dW (old x, m)
        np.multiply(x, h, out=scratch)
        scratch -= m
        scratch *= dt * c1
        dw *= noise_row
        scratch += dw
        x += drift
        m += scratch
        # u += dt c2 (Sigma_B - u)
        u *= 1.0 - dt * c2
        u += u_source_row
    losses = 0.5 * np.sum(h * x * x, axis=1)
    return time.perf_counter() - wall, time.process_time() - cpu, losses.mean(), losses.std(ddof=1) / np.sqrt(paths)


results = [run() for _ in range(repeats)]
wall = min(r[0] for r in results)
cpu = min(r[1] for r in results)
loss, loss_se = results[0][2], results[0][3]
print("numpy path_steps_per_s=%.6g seconds=%.4f cpu_seconds=%.4f path_steps_per_cpu_s=%.6g mean_loss=%.6g"
      " mean_loss_se=%.3g" % (paths * steps / wall, wall, cpu, paths * steps / cpu, loss, loss_se))
