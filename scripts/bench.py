#!/usr/bin/env python
"""Benchmark arrayneedle on the diffusion workload: SimpleUnet and residual Unet training and
sampling steps, the ops inside them, the matmul roofline, and (when PyTorch is importable) the
same networks in PyTorch timed in the same run.

    python scripts/bench.py --device cpu        # SimpleUnet 32, 64 (b12); Unet 16 (b32), 32 (b12)
    python scripts/bench.py --device cpu --model unet --unet-sizes 16:32
    python scripts/bench.py --device cpu --json bench.json --profile
    python scripts/bench.py --device cuda --sizes 32,64,128
    python scripts/bench.py --device cpu --quick   # a smoke run (SimpleUnet 32, Unet 16; 5 steps)

What is measured (medians after warm-up; arrayneedle and PyTorch run in alternating blocks so that
load from other processes hits both alike):

1. Training step of ``SimpleUnet((32, 64, 128))`` (``--model simple``) and of the residual
   ``Unet(widths=(32, 64, 128), groups=8)`` that ``scripts/train.py`` builds by default
   (``--model unet``; ``both`` by default): ``GaussianDiffusion.p_losses`` (q_sample,
   forward, MSE against the noise) at fixed timesteps and noise, ``backward``, ``Adam.step``.
2. Sampling step: one ``GaussianDiffusion.p_sample`` (no_grad, eval mode) and one DDIM step
   (timed as ``ddim_sample(steps=2)`` / 2). Images per second for DDPM (T = 1000 steps) and
   DDIM (50 steps) are *estimated* from those per-step times.
3. Per op, inside one instrumented training step: every ``Function``'s forward and backward
   is timed (BatchNorm: the whole layer, statistics included), giving each op's share of the
   step; every convolution's shape, time and GFLOP/s is listed.
4. Roofline: one plain square float32 matmul of the same FLOPs as the step's convolutions
   (forward 2*N*OH*OW*O*C*kh*kw, backward that per gradient computed), and the conv section
   (conv2d forward+backward at x (12, 64, 32, 32), 3x3, 64->64 and 64->128, beside a matmul
   of the same FLOPs).
5. PyTorch (optional, never a dependency): the same architecture in torch.nn
   (``tests/torch_twin.py``) with arrayneedle's weights, same thread count as NumPy's BLAS,
   timed in the same run in a child process; ratios are arrayneedle / PyTorch.

Benchmarks are not tests: nothing here asserts a time. This file parses the flags and runs
the parts in ``scripts/benchmark/``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile

import arrayneedle as an  # (before NumPy: see arrayneedle's startup settings)
import numpy as np
from benchmark import MODELS, UNET_SHAPES, report
from benchmark.harness import QUIET, blas_threads, machine_info
from benchmark.measure import conv_section, run_size
from benchmark.torch_worker import start_torch_worker, torch_worker_main
from benchmark.workload import AnWorkload, profile_steps


def _parse_unet_sizes(p, text, batch):
    """``--unet-sizes``: [(size, batch), ...] from "16:32,32:12" (a bare size runs at
    ``batch``); sizes must be multiples of 4 (the default Unet halves twice)."""
    out = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        size, _, b = item.partition(":")
        try:
            size, b = int(size), int(b) if b else batch
        except ValueError:
            p.error(f"--unet-sizes: expected SIZE:BATCH items such as 16:32,32:12; got {text!r}")
        if size < 4 or size % 4 or b < 1:
            p.error(f"--unet-sizes: the Unet needs image sizes that are positive multiples of 4 "
                    f"and a batch >= 1; got {item!r}")
        out.append((size, b))
    if not out:
        p.error(f"--unet-sizes: no SIZE:BATCH item in {text!r}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="arrayneedle SimpleUnet / Unet benchmark")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--model", default="both", choices=MODELS + ("both",),
                   help="which network: simple (SimpleUnet), unet (the trainer's default "
                        "residual Unet) or both (default)")
    p.add_argument("--unet-sizes", default=None,
                   help="the Unet's runs as SIZE:BATCH (or SIZE, at --batch), comma-separated "
                        "(default " + ",".join(f"{s}:{b}" for s, b in UNET_SHAPES)
                        + "; --quick 16:32)")
    p.add_argument("--json", default=None, help="write the figures to this file")
    p.add_argument("--quick", action="store_true", help="smoke run: 32x32, 5 steps, no profile")
    p.add_argument("--sizes", default=None,
                   help="comma-separated image sizes (default 32,64 on CPU; 32,64,128 on GPU)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per measurement "
                   "(median reported; default 7, --quick 5)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    p.add_argument("--profile", action="store_true",
                   help="cProfile the training step at the smallest size and print the top costs")
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument("--wait-quiet", type=float, default=None,
                   help="before each timed block wait up to this many seconds for other "
                        "processes to leave the CPU (default 20 on CPU, 0 on GPU)")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.torch_worker:
        return torch_worker_main(args.device, args.threads or 1)

    try:
        dev = an.device(args.device)
    except (ValueError, RuntimeError) as e:
        p.error(f"--device: {e}")
    is_cuda = dev.kind == "cuda"
    if args.sizes:
        try:
            sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        except ValueError:
            p.error(f"--sizes: expected comma-separated integers such as 32,64; got {args.sizes!r}")
        bad = [s for s in sizes if s < 4 or s % 4]
        if not sizes or bad:
            p.error(f"--sizes: SimpleUnet needs image sizes that are positive multiples of 4; "
                    f"got {args.sizes!r}")
    else:
        sizes = [32] if args.quick else ([32, 64, 128] if is_cuda else [32, 64])
    unet_shapes = list(UNET_SHAPES[:1] if args.quick else UNET_SHAPES)
    if args.unet_sizes:
        unet_shapes = _parse_unet_sizes(p, args.unet_sizes, args.batch)
    models = MODELS if args.model == "both" else (args.model,)
    for flag, v, lo in (("--steps", args.steps, 1), ("--warmup", args.warmup, 0),
                        ("--batch", args.batch, 1), ("--profile-top", args.profile_top, 1)):
        if v is not None and v < lo:
            p.error(f"{flag} must be >= {lo}; got {v}")
    if args.wait_quiet is not None and args.wait_quiet < 0:
        p.error(f"--wait-quiet must be >= 0 seconds; got {args.wait_quiet}")
    if args.json and os.path.isdir(args.json):
        p.error(f"--json: {args.json!r} is a directory; give a file name")
    steps = args.steps or (5 if args.quick else 7)
    warmup = 1 if args.quick else args.warmup

    QUIET["max_wait"] = (args.wait_quiet if args.wait_quiet is not None
                         else (0.0 if is_cuda else 20.0))
    info = machine_info()
    threads = blas_threads(info)
    worker = None if args.no_torch else start_torch_worker(str(dev), threads)
    hello = worker.hello if worker is not None else {}
    meta = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join([os.path.basename(sys.executable), "scripts/bench.py"]
                                + (argv if argv is not None else sys.argv[1:])),
            "device": str(dev), "machine": info, "blas_threads": threads,
            "batch": args.batch, "steps": steps, "warmup": warmup, "models": list(models),
            "sizes": sizes if "simple" in models else [],
            "unet_shapes": [list(sb) for sb in unet_shapes] if "unet" in models else [],
            "torch": hello.get("torch"), "torch_threads": hello.get("threads"),
            "torch_process": "separate (see TorchWorker)" if worker is not None else None,
            "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None}
    print(f"arrayneedle benchmark on {dev} | {info.get('cpu_model')} x{info.get('cpu_count')} | "
          f"numpy {np.__version__} | BLAS threads {threads} | kernel threads "
          f"{info['arrayneedle_kernel_threads']} | OPENBLAS_THREAD_TIMEOUT "
          f"{os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')} | "
          f"PyTorch {meta['torch'] or 'not available'}"
          + (f" (threads {meta['torch_threads']}, own process)" if worker is not None else ""),
          flush=True)
    ck = info["cpu_kernels"]
    print(f"CPU kernels: {ck['kernels']}" + (f" ({ck['reason']})" if ck["reason"] else "")
          + " | OMP_WAIT_POLICY " + os.environ.get("OMP_WAIT_POLICY", "unset"), flush=True)
    if is_cuda:
        print("note: on CUDA every op is synchronised in the per-op table, so its total is above "
              "the plain step time")

    results = {"meta": meta, "sizes": {}, "unet": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="an-bench-") as tmpdir:
            if "simple" in models:
                for size in sizes:
                    r = run_size(dev, worker, size, args.batch, steps, warmup, tmpdir)
                    results["sizes"][str(size)] = r
                    report.print_size_report(size, r)
            if "unet" in models:
                for size, batch in unet_shapes:
                    r = run_size(dev, worker, size, batch, steps, warmup, tmpdir, model="unet")
                    results["unet"][f"{size}_b{batch}"] = r
                    report.print_size_report(size, r)
            if "simple" in models:
                results["conv_issue3"] = conv_section(dev, worker, steps, tmpdir)
                report.print_conv_section(results["conv_issue3"])
    finally:
        if worker is not None:
            worker.close()

    if args.profile and not args.quick:
        model = models[0]
        size, batch = (sizes[0], args.batch) if model == "simple" else unet_shapes[0]
        work = AnWorkload(dev, size, batch, model=model)
        prof = profile_steps(work, 3, args.profile_top)
        results["profile"] = {k: v for k, v in prof.items() if k != "text"}
        results["profile"].update(size=size, batch=batch, model=model)
        report.print_profile(prof, size, args.profile_top)

    results["meta"]["waited_for_quiet_s"] = QUIET["waited"]
    results["meta"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json:
        report.write_json(results, args.json)
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main()
