"""The per-node cost of ``backward()``: a small MLP (Linear, GELU, Tanh, softmax, logsumexp;
~50 graph nodes) whose arrays are tiny, so the time is the walk and the backward formulas, not
the arithmetic. Prints the minimum and median of the timed backward calls (forward excluded).

    python scripts/bench_backward_overhead.py --width 64 --repeats 30
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=64, help="features per layer (default 64)")
    p.add_argument("--depth", type=int, default=6, help="Linear-GELU-Linear-Tanh blocks")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=30, help="timed backward calls")
    a = p.parse_args(argv)
    if min(a.width, a.depth, a.batch, a.repeats) < 1:
        print("bench_backward_overhead: --width, --depth, --batch and --repeats must be >= 1",
              file=sys.stderr)
        return 2
    import arrayneedle as an
    from arrayneedle import nn

    an.manual_seed(0)
    layers = []
    for _ in range(a.depth):
        layers += [nn.Linear(a.width, a.width), nn.GELU(), nn.Linear(a.width, a.width),
                   nn.Tanh()]
    model = nn.Sequential(*layers)
    rng = np.random.default_rng(0)
    x = an.tensor(rng.standard_normal((a.batch, a.width)).astype(np.float32))
    y = an.tensor(rng.standard_normal((a.batch, a.width)).astype(np.float32))

    def step():
        out = model(x)
        loss = ((out.softmax(-1) - y) ** 2).mean() + out.logsumexp(-1).mean()
        t0 = time.perf_counter()
        loss.backward()
        return time.perf_counter() - t0

    for _ in range(3):
        step()
    times = sorted(step() for _ in range(a.repeats))
    print(f"width {a.width}: backward min {times[0] * 1e3:.2f} ms, "
          f"median {times[len(times) // 2] * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
