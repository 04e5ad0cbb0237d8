"""The same d = 64 Adam SDE Euler-Maruyama ensemble as adam_sde_bench.cpp, vectorized over paths in
numpy (one array op per term per step, all paths at once). Prints the best path-steps/s of `repeats`
runs (the machine is shared). Usage: adam_sde_numpy.py [paths] [steps] [repeats]"""
import sys
import time

import numpy as np

paths = int(sys.argv[1]) if len(sys.argv) > 1 else 512
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
d, lr, dt = 64, 0.05, 1e-3
beta1, beta2, eps, wd = 0.99, 0.999, 1e-8, 0.0
c1, c2, eps0, wd_rate = (1 - beta1) / lr**2, (1 - beta2) / lr**2, eps * lr, wd / lr
h = np.linspace(0.5, 2.0, d)
variance = np.linspace(1.0, 2.0, d)
noise_sqrt = np.sqrt(variance)
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3


def run():
    rng = np.random.default_rng(12345)
    x = np.ones((paths, d))
    m = np.zeros((paths, d))
    u = np.zeros((paths, d))
    start = time.perf_counter()
    for k in range(steps):
        t = k * dt
        g1, g2 = -np.expm1(-c1 * t), -np.expm1(-c2 * t)
        dw = rng.standard_normal((paths, d)) * np.sqrt(dt)
        grad = h * x
        if g1 > 0:
            dx = -(np.sqrt(g2) / g1) * m / (lr * np.sqrt(np.maximum(u, 0.0)) + eps0 * np.sqrt(g2)) - wd_rate * x
        else:
            dx = -wd_rate * x
        dm = c1 * (grad - m)
        du = c2 * (variance - u)
        x = x + dt * dx
        m = m + dt * dm + (c1 * lr) * noise_sqrt * dw
        u = u + dt * du
    seconds = time.perf_counter() - start
    return seconds, 0.5 * np.sum(h * x * x, axis=1).mean()


seconds, loss = min(run() for _ in range(repeats))
print("numpy path_steps_per_s=%.6g seconds=%.3f mean_loss=%.6g" % (paths * steps / seconds, seconds, loss))
