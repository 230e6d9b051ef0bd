"""Matrix products: NumPy (OpenBLAS) against oneDNN's matmul (``kernels.matmul``,
``kernels.matmul_batch_sum``) and PyTorch (in its own process), float32, on the residual Unet
attention's products and their gradients.

    python scripts/bench_matmul.py [--shapes 12:128:64,32:128:16] [--heads 4] [--repeats 50]
    python scripts/bench_matmul.py --sweep      # the size from which oneDNN pays (MIN_WORK)
    python scripts/bench_matmul.py --unet 20    # Unet steps, matmuls on oneDNN vs NumPy

``--shapes`` is ``batch:channels:positions`` (8x8 = 64 positions). Prints one line per product:
median milliseconds of each and NumPy / oneDNN. NumPy and oneDNN alternate in one process (a noisy
host slows both alike; the fastest of 7 block medians); PyTorch runs the same products with its own
threads in a child process. ``--unet N``: N pairs of the default residual ``Unet``'s training step
(and of its ``no_grad`` forward) at 32x32 batch 12 and 16x16 batch 32, one with the matmuls as
shipped (``cpu_matmul.MIN_WORK``) and one with every matmul on NumPy (or the two thresholds of
``--works A,B``), alternating; prints the medians and the median of the per-pair ratios. Results go
in BENCHMARKS.md ("Kernels and ops")."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def products(B, C, N, heads, rng, np):
    """name -> (a, b, kind): kind "mm" is ``a @ b``, "sum" the batch sum of ``a_i @ b_i``."""
    d = C // heads
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    w, y, g3 = f(3 * C, C), f(B, C, N), f(B, 3 * C, N)
    qkv = f(B, 3, heads, d, N)
    q, k, v = qkv[:, 0] * 0.17, qkv[:, 1], qkv[:, 2]
    attn, gs, go = f(B, heads, N, N), f(B, heads, N, N), f(B, heads, d, N)
    return {
        "qkv = W(3C,C) @ y(B,C,N)": (w, y, "mm"),
        "sim = q^T @ k": (q.mT, k, "mm"),
        "out = v @ attn^T": (v, attn.mT, "mm"),
        "grad y = W^T @ g": (w.T, g3, "mm"),
        "grad W = sum g @ y^T": (g3, y.mT, "sum"),
        "grad q^T = g @ k^T": (gs, k.mT, "mm"),
        "grad k = q @ g": (q, gs, "mm"),
        "grad v = g @ attn": (go, attn, "mm"),
        "grad attn^T = v^T @ g": (v.mT, go, "mm"),
    }


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def alternating(ref, ours, repeats, blocks=7):
    """The fastest of ``blocks`` alternating block medians of each (``repeats`` calls in all):
    a noisy host slows blocks, not the lower envelope."""
    tr, to = [], []
    for _ in range(blocks):
        tr.append(median_ms(ref, repeats // blocks + 1))
        to.append(median_ms(ours, repeats // blocks + 1))
    return min(tr), min(to)


def torch_child(args):
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    out = {}
    for B, C, N in args.shapes:
        for name, (a, b, kind) in products(B, C, N, args.heads, np.random.default_rng(0),
                                           np).items():
            ta, tb = torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(
                np.ascontiguousarray(b))
            if a.strides != np.ascontiguousarray(a).strides:  # the same views as ours
                ta = torch.from_numpy(np.ascontiguousarray(a.mT)).mT
            if b.strides != np.ascontiguousarray(b).strides:
                tb = torch.from_numpy(np.ascontiguousarray(b.mT)).mT
            if kind == "mm":
                fn = lambda ta=ta, tb=tb: torch.matmul(ta, tb)  # noqa: E731
            else:  # PyTorch's own weight gradient of W @ y: a bmm and a sum over the batch
                fn = lambda ta=ta, tb=tb: torch.matmul(ta, tb).sum(0)  # noqa: E731
            with torch.no_grad():
                out[f"{B}:{C}:{N} {name}"] = min(median_ms(fn, args.repeats // 7 + 1)
                                                 for _ in range(7))
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="12:128:64,32:128:16")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--unet", type=int, default=0, metavar="PAIRS")
    ap.add_argument("--blas-ab", action="store_true",
                    help="with --unet: OpenBLAS on its own threads vs on 1 thread "
                         "(threadpoolctl), the matmuls as shipped")
    ap.add_argument("--works", default=None, metavar="A,B",
                    help="with --unet: the two MIN_WORK values compared (default: the "
                         "shipped one and inf, every matmul on NumPy)")
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.shapes = [tuple(int(v) for v in s.split(":")) for s in args.shapes.split(",")]
    if args.torch_child:
        return torch_child(args)
    import arrayneedle as an  # before NumPy: its OpenBLAS settings (arrayneedle/_startup.py)
    import numpy as np

    from arrayneedle import kernels
    from arrayneedle.kernels import cpu_matmul, onednn

    an.set_num_threads(args.threads)
    if onednn.runtime() is None:
        raise SystemExit(f"oneDNN does not load: {onednn.info()['reason']}")
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    print(f"# {cpu}, {os.cpu_count()} CPUs, {args.threads} threads, {args.repeats} repeats, "
          f"medians in ms, load {os.getloadavg()[0]:.2f}")
    if args.unet:
        works = ((cpu_matmul.MIN_WORK, float("inf")) if args.works is None
                 else tuple(float(w) for w in args.works.split(",")))
        return unet_pairs(an, cpu_matmul, args.unet, works, args.blas_ab)
    if args.sweep:
        saved, cpu_matmul.MIN_WORK = cpu_matmul.MIN_WORK, 0
        rng = np.random.default_rng(0)
        print(f"{'B x M x K x N':>20} {'work':>9} {'numpy':>8} {'onednn':>8} {'ratio':>6}")
        for B, M, K, N in [(1, 32, 32, 32), (4, 32, 32, 32), (16, 32, 32, 32), (1, 128, 64, 64),
                           (48, 16, 32, 16), (128, 16, 32, 16), (4, 64, 64, 64), (1, 128, 128, 128),
                           (12, 64, 32, 64), (8, 64, 64, 64), (48, 32, 16, 32), (12, 128, 32, 64),
                           (16, 64, 64, 64), (1, 256, 256, 256), (48, 64, 32, 64)]:
            a = rng.standard_normal((B, M, K)).astype(np.float32)
            b = rng.standard_normal((B, K, N)).astype(np.float32)
            tn, to = alternating(lambda: np.matmul(a, b), lambda: kernels.matmul(a, b),
                                 args.repeats)
            print(f"{f'{B}x{M}x{K}x{N}':>20} {B * M * K * N:>9} {tn:8.4f} {to:8.4f} "
                  f"{tn / to:6.2f}")
        cpu_matmul.MIN_WORK = saved
        return
    child = subprocess.run([sys.executable, __file__, "--torch-child", "--shapes",
                            ",".join(":".join(map(str, s)) for s in args.shapes),
                            "--heads", str(args.heads), "--threads", str(args.threads),
                            "--repeats", str(args.repeats)], capture_output=True, text=True,
                           check=True)
    torch_ms = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"{'shape':>10} {'product':<26} {'numpy':>8} {'onednn':>8} {'torch':>8} "
          f"{'np/dnn':>6}  (onednn: every size on oneDNN, MIN_WORK ignored)")
    cpu_matmul.MIN_WORK = 0
    for B, C, N in args.shapes:
        rng = np.random.default_rng(0)
        for name, (a, b, kind) in products(B, C, N, args.heads, rng, np).items():
            if kind == "mm":
                ref, ours = (lambda: np.matmul(a, b)), (lambda: kernels.matmul(a, b))
            else:
                axes = ((0, 2), (0, 1))
                ref = lambda: np.tensordot(a, b, axes=axes)  # noqa: E731
                ours = lambda: kernels.matmul_batch_sum(a, b)  # noqa: E731
            tn, to = alternating(ref, ours, args.repeats)
            tt = torch_ms[f"{B}:{C}:{N} {name}"]
            print(f"{f'{B}:{C}:{N}':>10} {name:<26} {tn:8.4f} {to:8.4f} {tt:8.4f} "
                  f"{tn / to:6.2f}")


def unet_pairs(an, cpu_matmul, pairs, works, blas_ab):
    """Alternating pairs of steps under two settings: two ``MIN_WORK`` values, or (``blas_ab``)
    OpenBLAS with its default threads against one thread."""
    from diffusion.unet import Unet

    shipped = cpu_matmul.MIN_WORK
    if blas_ab:
        import threadpoolctl
        ctl = threadpoolctl.ThreadpoolController()
        default = max(p["num_threads"] for p in ctl.info() if p["user_api"] == "blas")
        works = (default, 1)
        label = "OpenBLAS threads"

        def setting(n):
            ctl.limit(limits=int(n), user_api="blas")
    else:
        label = "MIN_WORK"

        def setting(w):
            cpu_matmul.MIN_WORK = w
    first, second = works
    an.manual_seed(0)
    model = Unet(widths=(32, 64, 128), groups=8)  # scripts/bench.py's (the trainer's default)
    for size, batch in ((32, 12), (16, 32)):
        x, t = an.randn(batch, 3, size, size), an.randint(0, 1000, (batch,))

        def train():
            model.zero_grad()
            (model(x, t) ** 2).mean().backward()

        def sample():
            with an.no_grad():
                model(x, t)

        for what, fn in (("training step", train), ("no_grad forward", sample)):
            times = {first: [], second: []}
            for i in range(pairs + 1):
                for work in ((first, second) if i % 2 else (second, first)):
                    setting(work)
                    t0 = time.perf_counter()
                    fn()
                    if i:  # the first pair warms up
                        times[work].append(time.perf_counter() - t0)
            setting(first)
            cpu_matmul.MIN_WORK = shipped
            ta, tb = times[first], times[second]
            ratio = statistics.median(b / a for a, b in zip(ta, tb))
            print(f"Unet {size}x{size} b{batch} {what:16s} {label}={first:g} "
                  f"{statistics.median(ta) * 1e3:7.1f} ms  {label}={second:g} "
                  f"{statistics.median(tb) * 1e3:7.1f} ms  second/first per pair {ratio:5.2f}x"
                  f"  load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
