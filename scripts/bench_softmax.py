"""Softmax kernels: the NumPy kernel (arrayneedle/kernels/cpu_softmax.py) against oneDNN's
softmax primitive, forward and backward, float32, and PyTorch's in its own process.

    python scripts/bench_softmax.py [--threads 2] [--repeats 200] [--sweep]

Prints one line per (shape, axis): median microseconds of the NumPy kernel, the oneDNN kernel
(the two alternating: a noisy host slows both alike), the dispatch (``kernels.softmax``, what
the ops call) and PyTorch (``torch.softmax`` and its backward, ``torch._softmax_backward_data``,
measured afterwards in a separate process with the same thread count). ``--sweep`` adds the
sizes around ``cpu_softmax.MIN_FORWARD`` / ``MIN_BACKWARD``, where oneDNN's per-call cost
meets NumPy's. Results go in BENCHMARKS.md ("Kernels and ops")."""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

# (shape, axis): the residual UNet's attention matrices (batch 12, 4 heads, 8x8 = 64 tokens at
# 32x32 input) along the keys, the same along a middle axis, and a wider attention
SHAPES = [((12, 4, 64, 64), -1), ((12, 4, 64, 64), 2), ((12, 4, 256, 256), -1),
          ((32, 1000), -1)]
SWEEP = [((n // 64, 64), -1) for n in (1024, 2048, 4096, 8192, 16384, 32768)] + [
    ((n // 8, 8), -1) for n in (2048, 4096, 16384)]


def _median_us(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def _data(shape):
    import numpy as np
    rng = np.random.default_rng(0)
    return ((rng.standard_normal(shape) * 4).astype(np.float32),
            rng.standard_normal(shape).astype(np.float32))


def torch_times(cases, threads, repeats):
    """{"shape axis": (forward us, backward us)} of PyTorch, in this process."""
    import torch
    torch.set_num_threads(threads)
    out = {}
    for shape, axis in cases:
        x, g = (torch.from_numpy(a) for a in _data(shape))
        y = torch.softmax(x, axis)
        for _ in range(5):
            torch.softmax(x, axis)
        fwd = _median_us(lambda: torch.softmax(x, axis), repeats)
        bwd = _median_us(lambda: torch._softmax_backward_data(g, y, axis, x.dtype), repeats)
        out[f"{shape} {axis}"] = (fwd, bwd)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--sweep", action="store_true", help="also the sizes around the thresholds")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cases = SHAPES + (SWEEP if args.sweep else [])
    if args.torch_worker:
        print(json.dumps(torch_times(cases, args.threads, args.repeats)))
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import arrayneedle as an
    from arrayneedle import kernels
    from arrayneedle.kernels import cpu_softmax, onednn

    import numpy as np
    an.set_num_threads(args.threads)
    rt = onednn.runtime()
    if rt is None:
        raise SystemExit(f"oneDNN does not load: {onednn.info()['reason']}")
    cpu = platform.machine()
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    print(f"# {cpu}, {os.cpu_count()} CPUs, {args.threads} threads, {args.repeats} repeats, "
          f"medians in us; thresholds MIN_FORWARD={cpu_softmax.MIN_FORWARD} "
          f"MIN_BACKWARD={cpu_softmax.MIN_BACKWARD}")
    ours = {}
    for shape, axis in cases:
        x, g = _data(shape)
        ax = axis % len(shape)
        y = kernels.softmax(x, axis)
        pairs = {  # name: (NumPy, oneDNN, dispatch)
            "fwd": (lambda: cpu_softmax._rows(cpu_softmax._softmax, np.empty_like(x), ax, x),
                    lambda: onednn.softmax_forward(rt, x, ax),
                    lambda: kernels.softmax(x, axis)),
            "bwd": (lambda: cpu_softmax._rows(cpu_softmax._softmax_backward, np.empty_like(g),
                                              ax, g, y),
                    lambda: onednn.softmax_backward(rt, g, y, ax),
                    lambda: kernels.softmax_backward(g, y, axis))}
        row = {}
        for what, (numpy_fn, onednn_fn, dispatch) in pairs.items():
            for fn in (numpy_fn, onednn_fn, dispatch):
                fn()  # primitives built, pages touched
            tn, td = [], []
            for _ in range(args.repeats):  # alternating: both see the same host load
                tn.append(_median_us(numpy_fn, 1))
                td.append(_median_us(onednn_fn, 1))
            row[what] = (statistics.median(tn), statistics.median(td),
                         _median_us(dispatch, args.repeats))
        ours[f"{shape} {axis}"] = row
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", "--threads",
           str(args.threads), "--repeats", str(args.repeats)] + (["--sweep"] if args.sweep else [])
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    torch_us = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True,
                                         check=True).stdout)
    print("| shape, axis | fwd NumPy | fwd oneDNN | fwd dispatch | fwd torch | bwd NumPy | "
          "bwd oneDNN | bwd dispatch | bwd torch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, row in ours.items():
        cells = []
        for i, what in enumerate(("fwd", "bwd")):
            cells += [f"{v:.1f}" for v in row[what]] + [f"{torch_us[key][i]:.1f}"]
        print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
