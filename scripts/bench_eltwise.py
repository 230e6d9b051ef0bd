"""Activation kernels: the NumPy reference kernels (arrayneedle/kernels/cpu_eltwise.py) against
oneDNN's eltwise primitive, forward and backward, float32, at the residual UNet's sizes.

    python scripts/bench_eltwise.py [--threads 2] [--repeats 30] [--unet]

Prints one line per (op, shape, direction): median milliseconds of each and the ratio. Both run
with the same thread count (the NumPy kernels' ``parallel_for`` threads, oneDNN's OpenMP).
``--unet`` adds the default residual ``Unet`` and ``SimpleUnet((32, 64, 128))`` (batch 12,
32x32): a training step (forward, MSE, backward) and a ``no_grad`` forward each, with the
activations on oneDNN and on NumPy (everything else as it is).
Results go in BENCHMARKS.md ("Kernels and ops"); ``cpu_eltwise.ONEDNN`` lists the kernels
that measured faster on oneDNN."""
import argparse
import os
import platform
import statistics
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--unet", action="store_true", help="also time the residual Unet's steps")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np

    import arrayneedle as an
    from arrayneedle.kernels import cpu_eltwise, onednn
    from arrayneedle.kernels.onednn.eltwise import ALGS

    an.set_num_threads(args.threads)
    if onednn.runtime() is None:
        raise SystemExit(f"oneDNN does not load: {onednn.info()['reason']}")
    cpu = platform.machine()
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    print(f"# {cpu}, {os.cpu_count()} CPUs, {args.threads} threads, {args.repeats} repeats, "
          f"medians; CPU kernels: {onednn.info()['kernels']}")
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

    def timed(fn, repeats=args.repeats):
        """Median ms of ``fn`` with every activation on oneDNN and on NumPy, the two
        alternating (a noisy host slows both alike)."""
        on = frozenset(ALGS) | {name + "_backward" for name in ALGS}
        off = frozenset()
        once(fn, on), once(fn, off)
        pairs = [(once(fn, on), once(fn, off)) for _ in range(repeats)]
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
    if args.unet:
        unet_steps(an, timed, max(3, args.repeats // 10))


def unet_steps(an, timed, repeats):
    from diffusion.unet import SimpleUnet, Unet

    an.manual_seed(0)
    x, t = an.randn(12, 3, 32, 32), an.randint(0, 1000, (12,))
    for label, model in (("Unet()", Unet()), ("SimpleUnet((32, 64, 128))",
                                              SimpleUnet((32, 64, 128)))):
        def train(model=model):
            model.zero_grad()
            (model(x, t) ** 2).mean().backward()

        def sample(model=model):
            with an.no_grad():
                model(x, t)

        for what, fn in (("training step", train), ("no_grad forward", sample)):
            t_dnn, t_np = timed(fn, repeats)
            print(f"{label} (12, 3, 32, 32) {what}: activations on numpy {t_np:7.1f} ms  "
                  f"onednn {t_dnn:7.1f} ms  numpy/onednn {t_np / t_dnn:5.2f}x")

if __name__ == "__main__":
    main()
