#!/usr/bin/env python
"""Benchmark data-parallel training on this machine: the default UNet training step (the model
and batch of ``scripts/train.py``'s defaults) in one process with every core, against R MPI
ranks with cores / R threads each, each rank taking batch / R.

    python scripts/bench_ddp.py                    # 1 x all cores vs 2 ranks, batch 32
    python scripts/bench_ddp.py --ranks 2,4 --steps 10 --json ddp.json

For the ranks it reports the DistributedDataParallel step, the same local step without any
communication, the all-reduce of the whole gradient alone, its share of the step, and how
much of it bucketing hides behind backward: overlap = 1 - (DDP step - local step) / all-reduce,
for the default bucket_cap_mb=25 and for 1 MB buckets. Every time is from a barrier to the
next (the slowest rank's), variants run round robin so that load hits them alike.

Benchmarks are not tests: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", default="2", help="comma-separated rank counts to compare")
    p.add_argument("--batch-size", type=int, default=32, help="global batch")
    p.add_argument("--image-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=10,
                   help="timed steps (after 2 warm-up steps); the fastest is reported")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    try:
        a.ranks = [int(r) for r in a.ranks.split(",") if r]
    except ValueError:
        p.error(f"--ranks must be comma-separated integers, got {a.ranks!r}")
    if not a.ranks or any(r < 1 for r in a.ranks):
        p.error("--ranks needs positive integers")
    bad = [r for r in a.ranks if a.batch_size % r]
    if bad or a.batch_size < 1:
        p.error(f"--batch-size {a.batch_size} must be divisible by every rank count ({bad})")
    if a.steps < 1:
        p.error("--steps must be at least 1")
    return a


# ---------------------------------------------------------------- inside one process or rank
def _variant(an, batch, image_size, wrap=None):
    """One model + diffusion + optimizer + fixed batch; every variant starts identically."""
    from diffusion.gaussian import GaussianDiffusion
    from diffusion.unet import Unet
    an.manual_seed(0)
    model = Unet(dim=32, dim_mults=(1, 2, 4), in_channels=3, groups=8)
    net = wrap(model) if wrap is not None else model
    diffusion = GaussianDiffusion(net, timesteps=1000)
    x0 = an.randn(batch, 3, image_size, image_size)
    params = list(model.parameters())
    opt = an.optim.Adam(params, lr=1e-4)

    def step():
        opt.zero_grad()
        diffusion.p_losses(x0).backward()
        an.optim.clip_grad_norm_(params, 1.0)
        opt.step()

    return step, sum(p.size for p in params)


def _timed(fn, dist):
    """Seconds from a barrier to the next: the slowest rank's time, for every variant alike
    (a DDP step waits for the slowest rank anyway)."""
    dist.barrier()
    t0 = time.perf_counter()
    fn()
    dist.barrier()
    return time.perf_counter() - t0


def worker(a):
    import arrayneedle as an
    import arrayneedle.distributed as dist
    from arrayneedle.nn.parallel import DistributedDataParallel as DDP
    dist.init_process_group()
    world, local = dist.get_world_size(), dist.get_local_world_size()
    threads = max(1, cores() // local)
    an.set_num_threads(threads)
    batch = a.batch_size // world
    variants = {}
    variants["local_step_s"], nparams = _variant(an, batch, a.image_size)
    if world > 1:
        variants["ddp_step_s"], _ = _variant(
            an, batch, a.image_size, lambda m: DDP(m, bucket_cap_mb=25))
        variants["ddp_1mb_step_s"], _ = _variant(
            an, batch, a.image_size, lambda m: DDP(m, bucket_cap_mb=1))
        flat = an.zeros(nparams)
        variants["allreduce_s"] = lambda: dist.all_reduce(flat, dist.ReduceOp.AVG)
    times = {k: [] for k in variants}
    # round robin, so that load from other processes hits every variant alike
    for i in range(a.steps + 2):
        for name, fn in variants.items():
            t = _timed(fn, dist)
            if i >= 2:
                times[name].append(t)
    out = {"ranks": world, "threads_per_rank": threads, "local_batch": batch,
           "parameters": nparams}
    # the fastest of the timed steps: load from other processes only ever adds time
    out.update({k: min(v) for k, v in times.items() if v})
    out.update({"median_" + k: statistics.median(v) for k, v in times.items() if v})
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps(out), flush=True)
    dist.destroy_process_group()


# ---------------------------------------------------------------- the launcher
def _run(args, threads, ranks=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               ARRAYNEEDLE_NUM_THREADS=str(threads), PYTHONPATH=ROOT)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", *args]
    if ranks is not None:
        cmd = [os.path.join(os.path.dirname(sys.executable), "mpiexec"), "-n", str(ranks)] + cmd
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800,
                         check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"bench_ddp: the {'mpiexec' if ranks else 'single-process'} run failed "
                     f"(exit {out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")


def main(argv=None):
    a = parse_args(argv)
    if a.worker:
        return worker(a)
    n = cores()
    args = ["--batch-size", str(a.batch_size), "--image-size", str(a.image_size),
            "--steps", str(a.steps)]
    print(f"default UNet (dim 32, mults 1,2,4), {a.image_size}x{a.image_size}, global batch "
          f"{a.batch_size}, {n} cores, fastest of {a.steps} steps")
    results = [_run(args, n)]
    one = results[0]["local_step_s"]
    print(f"1 process x {n} threads: step {one * 1e3:.0f} ms "
          f"({results[0]['parameters'] / 1e6:.2f} M parameters)")
    for r in a.ranks:
        if r == 1:
            continue
        res = _run(args, max(1, n // r), r)
        results.append(res)
        ar, ddp, local = res["allreduce_s"], res["ddp_step_s"], res["local_step_s"]
        small = res["ddp_1mb_step_s"]
        res["allreduce_share"] = ar / ddp
        res["exposed_s"] = ddp - local
        res["exposed_1mb_s"] = small - local
        res["overlap_1mb"] = 1 - (small - local) / ar
        res["speedup_vs_1"] = one / ddp
        print(f"{r} ranks x {res['threads_per_rank']} thread(s): DDP step {ddp * 1e3:.0f} ms "
              f"(speed-up {one / ddp:.2f}x); the same local step without communication "
              f"{local * 1e3:.0f} ms")
        print(f"    all-reduce of the whole gradient alone {ar * 1e3:.1f} ms "
              f"({ar / ddp:.0%} of the DDP step)")
        print(f"    DDP's cost over the local step: {(ddp - local) * 1e3:.1f} ms with the "
              f"default 25 MB buckets (one bucket here: it starts when backward ends), "
              f"{(small - local) * 1e3:.1f} ms with 1 MB buckets started during backward "
              f"(hides {res['overlap_1mb']:.0%} of the all-reduce)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cores": n, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
