"""Activation kernels: the NumPy reference kernels (arrayneedle/kernels/cpu_eltwise.py) against
oneDNN's eltwise primitive, forward and backward, float32, at the residual UNet's sizes.

    python scripts/bench_eltwise.py [--threads 2] [--repeats 30]

Prints one line per (op, shape, direction): median milliseconds of each and the ratio. Both run
with the same thread count (the NumPy kernels' ``parallel_for`` threads, oneDNN's OpenMP).
Results go in BENCHMARKS.md ("Kernels and ops"); ``cpu_eltwise.ONEDNN`` lists the ops that
measured faster on oneDNN."""
import argparse
import os
import platform
import statistics
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np

    import arrayneedle as an
    from arrayneedle.kernels import cpu_eltwise, onednn
    from arrayneedle.kernels.onednn.eltwise import ALGS

    an.set_num_threads(args.threads)
    if onednn.runtime() is None:
        raise SystemExit(f"oneDNN does not load: {onednn.info()['reason']}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{args.threads} threads, {args.repeats} repeats, medians")
    ops = {"relu": ("relu", "relu_backward", True, {}),
           "silu": ("silu", "silu_backward", False, {}),
           "gelu": ("gelu", "gelu_backward", False, {}),
           "gelu_tanh": ("gelu", "gelu_backward", False, {"approximate": "tanh"}),
           "sigmoid": ("sigmoid", "sigmoid_backward", True, {}),
           "tanh": ("tanh", "tanh_backward", True, {})}

    def once(fn, on_onednn):
        saved, cpu_eltwise.ONEDNN = cpu_eltwise.ONEDNN, on_onednn
        try:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        finally:
            cpu_eltwise.ONEDNN = saved

    def timed(fn):
        """Median ms of ``fn`` on oneDNN and on NumPy, the two alternating (a noisy host
        slows both alike)."""
        on, off = frozenset(ALGS), frozenset()
        once(fn, on), once(fn, off)
        pairs = [(once(fn, on), once(fn, off)) for _ in range(args.repeats)]
        return tuple(statistics.median(p) * 1e3 for p in zip(*pairs))

    rng = np.random.default_rng(0)
    for shape in ((12, 64, 32, 32), (32, 32, 16, 16)):
        x = rng.standard_normal(shape, dtype=np.float32)
        g = rng.standard_normal(shape, dtype=np.float32)
        for name, (fwd, bwd, use_out, kw) in ops.items():
            data = getattr(cpu_eltwise, fwd)(x, **kw) if use_out else x
            f, b = getattr(cpu_eltwise, fwd), getattr(cpu_eltwise, bwd)
            cases = [("fwd", lambda f=f: f(x, **kw)), ("bwd", lambda b=b: b(g, data, **kw))]
            for direction, call in cases:
                # through the dispatch (relu: with its nan check)
                t_dnn, t_np = timed(call)
                print(f"{name:9s} {str(shape):16s} {direction}  numpy {t_np:7.3f} ms  "
                      f"onednn {t_dnn:7.3f} ms  numpy/onednn {t_np / t_dnn:5.2f}x")


if __name__ == "__main__":
    main()
