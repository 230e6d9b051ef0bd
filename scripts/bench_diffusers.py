#!/usr/bin/env python
"""One sampling step (UNet2DModel forward + DDPMScheduler.step) of google/ddpm-cifar10-32's
architecture with random weights: ``diffusion.unets.UNet2DModel`` here vs diffusers on PyTorch.

    python scripts/bench_diffusers.py --batch 1,4 --steps 5 --rounds 2 --threads 1

Each side runs in its own child process (PyTorch's OpenMP threads slow NumPy in a shared
process), with the same thread count; the two alternate ``--rounds`` times so a change in the
host's load hits both. The same weights and noise go to both (the PyTorch side saves the model
with diffusers' save_pretrained, ours loads that folder), and the first model outputs are
compared (the steps' noise differs). Prints one JSON line per (side, batch, round) and a table
of medians.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the configs and the random-weight model (tests/diffusers_helpers.py, which the tests check)
_HELPERS = os.path.join(ROOT, "tests", "diffusers_helpers.py")


def _helpers():
    """tests/diffusers_helpers.py, loaded by path (the scripts leave sys.path alone)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("diffusers_helpers", _HELPERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _steps(model_call, step, x, n):
    """Wall time of each of ``n`` steps after one warm-up step, and the first model output."""
    times = []
    t = 999
    first = model_call(x, t)
    x = step(first, t, x)
    for i in range(n):
        t = 998 - i
        t0 = time.perf_counter()
        x = step(model_call(x, t), t, x)
        times.append(time.perf_counter() - t0)
    return times, first


def worker_torch(folder, batch, n, noise_path):
    import numpy as np
    import torch
    from diffusers import DDPMScheduler, UNet2DModel
    unet = UNet2DModel.from_pretrained(folder).eval()
    sched = DDPMScheduler.from_pretrained(folder)
    sched.set_timesteps(1000)
    x = torch.from_numpy(np.load(noise_path)[:batch])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        times, first = _steps(lambda a, t: unet(a, t).sample,
                              lambda o, t, a: sched.step(o, t, a, generator=g).prev_sample,
                              x, n)
    return times, first.numpy()


def worker_ours(folder, batch, n, noise_path):
    import numpy as np

    import arrayneedle as an
    from diffusion.pipelines import DDPMPipeline
    pipe = DDPMPipeline.from_pretrained(folder)
    unet, sched = pipe.unet, pipe.scheduler
    sched.set_timesteps(1000)
    x = an.tensor(np.load(noise_path)[:batch])
    g = np.random.default_rng(0)
    with an.no_grad():
        times, first = _steps(lambda a, t: unet(a, t).sample,
                              lambda o, t, a: sched.step(o, t, a, generator=g).prev_sample,
                              x, n)
    return times, first.numpy()


def _child(args):
    import numpy as np
    fn = worker_torch if args.worker == "torch" else worker_ours
    times, first = fn(args.folder, args.batch_one, args.steps, args.noise)
    np.save(os.path.join(args.folder, f"first_{args.worker}_{args.batch_one}.npy"), first)
    print(json.dumps({"side": args.worker, "batch": args.batch_one, "step_s": times}))


def _prepare(folder, batches):
    import numpy as np
    from diffusers import DDPMScheduler

    h = _helpers()
    h.perturbed_diffusers_unet(h.DDPM_CIFAR10_32, scale=0.01).save_pretrained(folder)
    DDPMScheduler(**{k: v for k, v in h.DDPM_CIFAR10_32_SCHEDULER.items()
                     if not k.startswith("_")}).save_pretrained(folder)
    noise = np.random.default_rng(0).standard_normal((max(batches), 3, 32, 32), dtype=np.float32)
    path = os.path.join(folder, "noise.npy")
    np.save(path, noise)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--batch", default="1,4", help="comma-separated batch sizes")
    p.add_argument("--steps", type=int, default=5, help="timed steps per run (after 1 warm-up)")
    p.add_argument("--rounds", type=int, default=2, help="alternations of the two sides")
    p.add_argument("--threads", type=int, default=1, help="threads for each side")
    p.add_argument("--worker", choices=["torch", "ours"], help=argparse.SUPPRESS)
    p.add_argument("--folder", help=argparse.SUPPRESS)
    p.add_argument("--noise", help=argparse.SUPPRESS)
    p.add_argument("--batch-one", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return _child(a)
    batches = [int(b) for b in a.batch.split(",")]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads),
               OPENBLAS_NUM_THREADS=str(a.threads), ARRAYNEEDLE_NUM_THREADS=str(a.threads),
               PYTHONPATH=os.pathsep.join([ROOT] + [p for p in os.environ.get(
                   "PYTHONPATH", "").split(os.pathsep) if p]))
    import numpy as np
    with tempfile.TemporaryDirectory() as folder:
        noise = _prepare(folder, batches)
        results = {}
        for _ in range(a.rounds):
            for b in batches:
                for side in ("ours", "torch"):
                    out = subprocess.run(
                        [sys.executable, os.path.abspath(__file__), "--worker", side, "--folder",
                         folder, "--noise", noise, "--batch-one", str(b), "--steps",
                         str(a.steps)], env=env, capture_output=True, text=True, check=True)
                    line = out.stdout.strip().splitlines()[-1]
                    print(line)
                    results.setdefault((side, b), []).extend(json.loads(line)["step_s"])
        print(f"\nddpm-cifar10-32 architecture, random weights, {a.threads} thread(s) each, "
              f"median of {a.rounds * a.steps} steps")
        print("| batch | arrayneedle (NumPy) ms/step | diffusers (PyTorch CPU) ms/step | ratio | "
              "first output max rel diff |")
        print("|---|---|---|---|---|")
        for b in batches:
            ours = float(np.median(results[("ours", b)])) * 1e3
            ref = float(np.median(results[("torch", b)])) * 1e3
            f1 = np.load(os.path.join(folder, f"first_ours_{b}.npy"))
            f2 = np.load(os.path.join(folder, f"first_torch_{b}.npy"))
            diff = float(np.abs(f1 - f2).max() / np.abs(f2).max())
            print(f"| {b} | {ours:.0f} | {ref:.0f} | {ours / ref:.2f}x | {diff:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
