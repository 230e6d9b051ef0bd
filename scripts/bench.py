#!/usr/bin/env python
"""Benchmark arrayneedle on the diffusion workload: SimpleUnet training and sampling steps, the
ops inside them, the matmul roofline, and (when PyTorch is importable) the same network in
PyTorch timed in the same run.

    python scripts/bench.py --device cpu                      # 32x32 and 64x64, batch 12
    python scripts/bench.py --device cpu --json bench.json --profile
    python scripts/bench.py --device cuda --sizes 32,64,128
    python scripts/bench.py --device cpu --quick              # a smoke run (32x32, 5 steps)

What is measured (medians after warm-up; arrayneedle and PyTorch run in alternating blocks so that
load from other processes hits both alike):

1. Training step of ``SimpleUnet((32, 64, 128))``: ``GaussianDiffusion.p_losses`` (q_sample,
   forward, MSE against the noise) at fixed timesteps and noise, ``backward``, ``Adam.step``.
2. Sampling step: one ``GaussianDiffusion.p_sample`` (no_grad, eval mode) and one DDIM step
   (timed as ``ddim_sample(steps=2)`` / 2). Images per second for DDPM (T = 1000 steps) and
   DDIM (50 steps) are *estimated* from those per-step times.
3. Per op, inside one instrumented training step: every ``Function``'s forward and backward
   is timed (BatchNorm: the whole layer, statistics included), giving each op's share of the
   step; every convolution's shape, time and GFLOP/s is listed.
4. Roofline: one plain square float32 matmul of the same FLOPs as the step's convolutions
   (forward 2*N*OH*OW*O*C*kh*kw, backward that per gradient computed), and the conv section
   of issue 3 (conv2d forward+backward at x (12, 64, 32, 32), 3x3, 64->64 and 64->128, beside a
   matmul of the same FLOPs).
5. PyTorch (optional, never a dependency): the same architecture built here with torch.nn,
   same thread count as NumPy's BLAS, timed in the same run; ratios are arrayneedle / PyTorch.

Benchmarks are not tests: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import json
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import arrayneedle as an  # noqa: E402  (before NumPy: see arrayneedle/_startup.py)
import numpy as np  # noqa: E402
from arrayneedle import ops  # noqa: E402
from arrayneedle.autograd import Function  # noqa: E402
from diffusion import GaussianDiffusion, SimpleUnet  # noqa: E402

CHANNELS = (32, 64, 128)
TIME_EMB = 16
T_STEPS = 1000
DDIM_STEPS = 50


# ------------------------------------------------------------------------------ environment
def machine_info():
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(), "cpu_count": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        info["cpu_model"] = platform.processor() or "unknown"
    try:
        import threadpoolctl
        info["threadpools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "version",
                                                      "num_threads", "architecture",
                                                      "threading_layer")}
                               for p in threadpoolctl.threadpool_info()]
    except Exception as e:  # threadpoolctl is optional
        info["threadpools"] = f"threadpoolctl unavailable ({e})"
    info["env"] = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS",
                                              "OPENBLAS_THREAD_TIMEOUT", "OMP_NUM_THREADS",
                                              "MKL_NUM_THREADS", "ARRAYNEEDLE_NUM_THREADS")
                   if k in os.environ}
    info["arrayneedle_kernel_threads"] = an.get_num_threads()
    info["openblas_timeout_set_before_numpy"] = an._startup.OPENBLAS_TUNED
    return info


def blas_threads(info):
    pools = info.get("threadpools")
    if isinstance(pools, list):
        for p in pools:
            if p.get("user_api") == "blas":
                return int(p["num_threads"])
    return os.cpu_count() or 1


# ------------------------------------------------------------------------------ timing
def median(xs):
    return statistics.median(xs) if xs else float("nan")


class CpuLoad:
    """CPU time used by *other* processes (Linux /proc), in cores, over an interval: the
    machine is shared, and a step that ran while others were busy is not a clean sample."""

    def __init__(self):
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        try:
            self.read()
            self.ok = True
        except (OSError, ValueError, IndexError):
            self.ok = False

    def read(self):
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = sum(v) - v[3] - (v[4] if len(v) > 4 else 0)  # all but idle and iowait
        with open("/proc/self/stat") as f:
            w = f.read().rsplit(")", 1)[1].split()
        own = int(w[11]) + int(w[12])  # utime + stime of this process, all threads
        return busy - own, time.perf_counter()

    def foreign(self, start, end):
        if not self.ok:
            return float("nan")
        return (end[0] - start[0]) / self.hz / max(end[1] - start[1], 1e-9)

    def wait_quiet(self, max_wait, threshold=0.25, probe=0.5):
        """Sleep until other processes use less than ``threshold`` cores (at most max_wait s).
        Returns the seconds waited."""
        if not self.ok or max_wait <= 0:
            return 0.0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < max_wait:
            a = self.read()
            time.sleep(probe)
            if self.foreign(a, self.read()) < threshold:
                break
        return time.perf_counter() - t0


LOAD = CpuLoad()
QUIET = {"max_wait": 0.0, "waited": 0.0}  # set from --wait-quiet


def run_block(fn, sync, n, rewarm=False):
    """``n`` timed calls of ``fn`` (after one untimed call when ``rewarm``): their times and
    the cores other processes used during each."""
    if rewarm:
        fn()
        sync()
    times, loads = [], []
    for _ in range(n):
        sync()
        a = LOAD.read() if LOAD.ok else None
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        if a is not None:
            loads.append(LOAD.foreign(a, LOAD.read()))
    return times, loads


class Local:
    """A callable timed in this process."""

    def __init__(self, fn, sync):
        self.fn, self.sync = fn, sync

    def block(self, n, rewarm=False):
        return run_block(self.fn, self.sync, n, rewarm)


def time_blocks(runners, steps, warmup, rounds=None, loads=None):
    """Times of each runner (``Local`` or ``Remote``): ``warmup`` untimed calls each, then
    ``steps`` timed calls each, in alternating blocks (A A A, B B B, A A, B B, ...) so that
    load from other processes hits every runner alike. Each block after the first starts with
    one untimed call (the worker threads of the previous runner's library may still be
    spinning). Before each block, waits (up to --wait-quiet seconds) for other processes to
    leave the CPU; ``loads`` (if a list) receives, per runner, the cores other processes used
    during each timed call."""
    for r in runners:
        if warmup:
            r.block(warmup)
    if rounds is None:
        rounds = 1 if len(runners) == 1 else min(3, steps)
    sizes = [steps // rounds + (1 if i < steps % rounds else 0) for i in range(rounds)]
    times = [[] for _ in runners]
    foreign = [[] for _ in runners]
    for i, n in enumerate(sizes):
        for r, ts, fl in zip(runners, times, foreign):
            QUIET["waited"] += LOAD.wait_quiet(QUIET["max_wait"])
            t, f = r.block(n, rewarm=bool(i) and len(runners) > 1)
            ts.extend(t)
            fl.extend(f)
    if loads is not None:
        loads.extend(foreign)
    return times


def time_interleaved(fns, steps, warmup, sync, rounds=None, loads=None):
    """``time_blocks`` for plain callables of this process."""
    return time_blocks([Local(f, sync) for f in fns], steps, warmup, rounds, loads)


def summary(ts, fl=None, quiet=0.25):
    """median, min and (where the load is known) the median of the quiet samples."""
    out = {"median_s": median(ts), "min_s": min(ts), "samples_s": ts}
    if fl:
        q = [t for t, f in zip(ts, fl) if f < quiet]
        out["foreign_cores"] = fl
        out["quiet_samples"] = len(q)
        out["quiet_median_s"] = median(q) if q else float("nan")
    return out


# ------------------------------------------------------------------------------ arrayneedle
class AnWorkload:
    """SimpleUnet + GaussianDiffusion + Adam on one device, with fixed inputs."""

    def __init__(self, dev, size, batch, seed=0):
        an.manual_seed(seed)
        self.dev = dev
        self.model = SimpleUnet(CHANNELS, in_channels=3, time_emb_dim=TIME_EMB).to(dev)
        self.diff = GaussianDiffusion(self.model, timesteps=T_STEPS)
        self.opt = an.optim.Adam(self.model.parameters(), lr=1e-4)
        rng = np.random.default_rng(seed)
        self.x0_np = rng.uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
        self.noise_np = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
        self.t_np = rng.integers(0, T_STEPS, (batch,)).astype(np.int64)
        self.x0 = an.Tensor(self.x0_np, device=dev)
        self.noise = an.Tensor(self.noise_np, device=dev)
        self.t = an.Tensor(self.t_np, device=dev)
        self.shape = (batch, 3, size, size)

    def train_step(self, timer=None):
        self.opt.zero_grad()
        t0 = time.perf_counter()
        loss = self.diff.p_losses(self.x0, self.t, self.noise)
        if timer:
            timer.sync()
            t1 = time.perf_counter()
        loss.backward()
        if timer:
            timer.sync()
            t2 = time.perf_counter()
        self.opt.step()
        if timer:
            timer.sync()
            t3 = time.perf_counter()
            timer.phase["forward (incl. loss)"] += t1 - t0
            timer.phase["backward"] += t2 - t1
            timer.phase["optimizer (Adam)"] += t3 - t2
        return loss

    def sample_step(self):
        with self.diff._sampling():
            return self.diff.p_sample(self.noise, T_STEPS // 2)

    def export(self, path):
        """Write what the PyTorch twin needs (weights, inputs, schedule, and the output of one
        train-mode forward run now) to ``path`` (.npz); returns the schedule coefficients of
        the sampling step."""
        arrays = {"sd/" + k: np.asarray(v.numpy()) for k, v in self.model.state_dict().items()}
        with an.no_grad():
            arrays["an_out"] = self.model(self.x0, self.t).numpy()
        h = self.diff._host
        arrays.update(x0=self.x0_np, noise=self.noise_np, t=self.t_np,
                      sqrt_alphas_cumprod=np.asarray(h["sqrt_alphas_cumprod"], np.float32),
                      sqrt_one_minus_alphas_cumprod=np.asarray(
                          h["sqrt_one_minus_alphas_cumprod"], np.float32))
        np.savez(path, **arrays)
        tt = T_STEPS // 2
        return {k: float(h[k][tt]) for k in (
            "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_mean_coef1",
            "posterior_mean_coef2", "posterior_log_variance_clipped")}

    def ddim_two_steps(self):
        return self.diff.ddim_sample(self.shape, steps=2, progress=False, x_T=self.noise)

    def forward_eval(self):
        with self.diff._sampling():
            return self.model(self.noise, self.t)


# ------------------------------------------------------------------------------ op timer
def _all_subclasses(cls):
    out, stack = [], [cls]
    while stack:
        c = stack.pop()
        for s in c.__subclasses__():
            out.append(s)
            stack.append(s)
    return out


def _op_category(cls):
    name = cls.__name__
    special = {"Conv2d": "conv2d", "ConvTranspose2d": "conv_transpose2d",
               "MaxPool2d": "max_pool2d", "ReLU": "relu", "Normalize": "batchnorm2d",
               "MatMul": "matmul (Linear)", "Stack": "stack (skip concat)"}
    if name in special:
        return special[name]
    kind = cls.__module__.rsplit(".", 1)[-1]
    return {"elementwise": "other elementwise", "shape": "other shape ops",
            "reduce": "reductions (loss)"}.get(kind, name)


def _conv_flops(cls_name, x_shape, w_shape, y_shape):
    if cls_name == "Conv2d":
        N, O, OH, OW = y_shape
        _, C, kh, kw = w_shape
        return 2 * N * OH * OW * O * C * kh * kw
    N, Cin, H, W = x_shape
    _, Cout, kh, kw = w_shape
    return 2 * N * H * W * Cin * Cout * kh * kw


class OpTimer:
    """Times every Function's forward (inside ``apply``) and backward during one step.

    Functions applied inside a BatchNorm layer's forward are attributed to ``batchnorm2d``
    (forward: the whole layer's wall time, statistics included; backward: the Normalize and
    affine Functions it created)."""

    def __init__(self, sync):
        self.sync = sync
        self.fwd = defaultdict(float)
        self.bwd = defaultdict(float)
        self.calls = defaultdict(int)
        self.phase = defaultdict(float)
        self.convs = []
        self.scope = None
        self._saved = []

    def install(self):
        from arrayneedle.nn.layers import _BatchNorm
        timer = self
        orig_apply = Function.__dict__["apply"].__func__

        def apply(cls, *tensors, **params):
            if timer.scope is not None:
                out = orig_apply(cls, *tensors, **params)
                if out._ctx is not None:
                    out._ctx._bench = (timer.scope, None)
                return out
            cat = _op_category(cls)
            timer.sync()
            t0 = time.perf_counter()
            out = orig_apply(cls, *tensors, **params)
            timer.sync()
            dt = time.perf_counter() - t0
            timer.fwd[cat] += dt
            timer.calls[cat] += 1
            rec = None
            if cls.__name__ in ("Conv2d", "ConvTranspose2d") and cls.__module__.endswith("conv"):
                x, w = tensors[0], tensors[1]
                flops = _conv_flops(cls.__name__, x.shape, w.shape, out.shape)
                ngrads = sum(bool(t.requires_grad) for t in tensors[:2])
                rec = {"op": cat, "x": list(x.shape), "w": list(w.shape),
                       "stride": list(params.get("stride", (1, 1))),
                       "padding": list(params.get("padding", (0, 0))),
                       "fwd_s": dt, "bwd_s": 0.0, "fwd_flops": flops,
                       "bwd_flops": flops * ngrads if out._ctx is not None else 0}
                timer.convs.append(rec)
            if out._ctx is not None:
                out._ctx._bench = (cat, rec)
            return out

        self._saved.append((Function, "apply", Function.__dict__["apply"]))
        Function.apply = classmethod(apply)

        def wrap_backward(cls, orig):
            def backward(self, g):
                tag = self.__dict__.get("_bench")
                timer.sync()
                t0 = time.perf_counter()
                r = orig(self, g)
                timer.sync()
                dt = time.perf_counter() - t0
                cat, rec = tag if tag else (_op_category(type(self)), None)
                timer.bwd[cat] += dt
                if rec is not None:
                    rec["bwd_s"] += dt
                return r
            return backward

        for cls in _all_subclasses(Function):
            if "backward" in cls.__dict__:
                self._saved.append((cls, "backward", cls.__dict__["backward"]))
                cls.backward = wrap_backward(cls, cls.__dict__["backward"])

        orig_bn = _BatchNorm.forward

        def bn_forward(self_, x):
            if timer.scope is not None:
                return orig_bn(self_, x)
            timer.scope = "batchnorm2d"
            timer.sync()
            t0 = time.perf_counter()
            try:
                return orig_bn(self_, x)
            finally:
                timer.sync()
                timer.fwd["batchnorm2d"] += time.perf_counter() - t0
                timer.calls["batchnorm2d"] += 1
                timer.scope = None

        self._saved.append((_BatchNorm, "forward", _BatchNorm.__dict__["forward"]))
        _BatchNorm.forward = bn_forward
        return self

    def uninstall(self):
        for cls, name, value in reversed(self._saved):
            setattr(cls, name, value)
        self._saved.clear()

    def table(self):
        cats = sorted(set(self.fwd) | set(self.bwd),
                      key=lambda c: -(self.fwd.get(c, 0) + self.bwd.get(c, 0)))
        return [{"op": c, "calls": self.calls.get(c, 0), "fwd_s": self.fwd.get(c, 0.0),
                 "bwd_s": self.bwd.get(c, 0.0)} for c in cats]


def _one_instrumented(work, sync, sampling):
    timer = OpTimer(sync).install()
    try:
        sync()
        t0 = time.perf_counter()
        if sampling:
            work.sample_step()
        else:
            work.train_step(timer)
        sync()
        total = time.perf_counter() - t0
    finally:
        timer.uninstall()
    return timer, total


def instrumented_step(work, sync, sampling=False, repeats=3):
    """One training step (or sampling step) with every op timed: the fastest of ``repeats``
    instrumented steps after a plain warm-up step (a single step is at the mercy of the
    machine's other load)."""
    (work.sample_step if sampling else work.train_step)()
    sync()
    timer, total = min((_one_instrumented(work, sync, sampling) for _ in range(repeats)),
                       key=lambda r: r[1])
    rows = timer.table()
    fwd_ops = sum(r["fwd_s"] for r in rows)
    bwd_ops = sum(r["bwd_s"] for r in rows)
    if sampling:
        rows.append({"op": "Python, modules, time embedding", "calls": 0,
                     "fwd_s": max(total - fwd_ops, 0.0), "bwd_s": 0.0})
    else:
        rows.append({"op": "Adam update", "calls": 1, "fwd_s": 0.0,
                     "bwd_s": 0.0, "other_s": timer.phase["optimizer (Adam)"]})
        rows.append({"op": "forward: Python, modules, time embedding", "calls": 0,
                     "fwd_s": max(timer.phase["forward (incl. loss)"] - fwd_ops, 0.0),
                     "bwd_s": 0.0})
        rows.append({"op": "backward: graph walk, grad accumulation", "calls": 0, "fwd_s": 0.0,
                     "bwd_s": max(timer.phase["backward"] - bwd_ops, 0.0)})
    for r in rows:
        r["total_s"] = r["fwd_s"] + r["bwd_s"] + r.get("other_s", 0.0)
        r["share"] = r["total_s"] / total
    return {"total_s": total, "phases": dict(timer.phase), "ops": rows, "convs": timer.convs}


# ------------------------------------------------------------------------------ matmul roofline
def matmul_rate(dev, flops, steps=5):
    """GFLOP/s of one square float32 matmul of ``flops`` FLOPs (n = (flops/2)^(1/3))."""
    n = max(int(round((flops / 2) ** (1 / 3))), 16)
    xp = dev.xp
    rng = np.random.default_rng(1)
    a = dev.asarray(rng.standard_normal((n, n)).astype(np.float32))
    b = dev.asarray(rng.standard_normal((n, n)).astype(np.float32))
    (ts,) = time_interleaved([lambda: xp.matmul(a, b)], steps, 2, dev.synchronize)
    t = median(ts)
    return {"n": n, "flops": 2 * n ** 3, "seconds": t, "gflops": 2 * n ** 3 / t / 1e9}


def conv_section(dev, worker, steps, tmpdir):
    """Issue 3: conv2d forward+backward at x (12, 64, 32, 32), 3x3, padding 1, to 64 and 128
    channels, beside one plain matmul of the same FLOPs (and PyTorch's conv2d, if any)."""
    out = []
    rng = np.random.default_rng(2)
    for O in (64, 128):
        arrays = {"x": rng.standard_normal((12, 64, 32, 32)).astype(np.float32),
                  "w": (rng.standard_normal((O, 64, 3, 3)) * 0.05).astype(np.float32),
                  "b": np.zeros((O,), np.float32),
                  "g": rng.standard_normal((12, O, 32, 32)).astype(np.float32)}
        x, w, b = (an.Tensor(arrays[k], device=dev, requires_grad=True) for k in ("x", "w", "b"))
        g = an.Tensor(arrays["g"], device=dev)
        state = {}

        def fwd():
            state.clear()  # free the previous graph (and its saved columns) first
            state["y"] = ops.conv2d(x, w, b, padding=1)

        def fwd_bwd():
            fwd()
            state.pop("y").backward(g)
            x.grad = w.grad = b.grad = None

        runners = [Local(fwd, dev.synchronize), Local(fwd_bwd, dev.synchronize)]
        if worker is not None:
            path = os.path.join(tmpdir, f"conv{O}.npz")
            np.savez(path, **arrays)
            worker.request({"cmd": "conv", "npz": path})
            runners.append(Remote(worker, "conv"))
        times = time_blocks(runners, steps, 2)
        F = 2 * 12 * 32 * 32 * O * 64 * 9
        tf, tfb = median(times[0]), median(times[1])
        mm = matmul_rate(dev, 3 * F, steps)
        ckk, ncols = 64 * 9, 12 * 32 * 32
        row = {"x": [12, 64, 32, 32], "w": [O, 64, 3, 3], "fwd_flops": F,
               "fwd_s": tf, "fwd_bwd_s": tfb, "bwd_s": tfb - tf,
               "fwd_gflops": F / tf / 1e9, "bwd_gflops": 2 * F / max(tfb - tf, 1e-12) / 1e9,
               "fwd_bwd_gflops": 3 * F / tfb / 1e9, "matmul": mm,
               "fraction_of_matmul": (3 * F / tfb / 1e9) / mm["gflops"]}
        # the forward's own GEMM shape, for reference: (O, C*k*k) @ (C*k*k, N*H*W)
        xp = dev.xp
        A = dev.asarray(rng.standard_normal((O, ckk)).astype(np.float32))
        B = dev.asarray(rng.standard_normal((ckk, ncols)).astype(np.float32))
        (ts,) = time_interleaved([lambda: xp.matmul(A, B)], steps, 2, dev.synchronize)
        row["gemm_shaped_gflops"] = F / median(ts) / 1e9
        if worker is not None:
            row["torch_fwd_bwd_s"] = median(times[2])
            row["torch_fwd_bwd_gflops"] = 3 * F / median(times[2]) / 1e9
        out.append(row)
    return out


# ------------------------------------------------------------------------------ PyTorch twin
def build_torch_unet(torch):
    """The same SimpleUnet in PyTorch (``diffusion.torch_twin``), same attribute names."""
    from diffusion.torch_twin import torch_simple_unet
    return torch_simple_unet(CHANNELS, in_channels=3, time_emb_dim=TIME_EMB)


class TorchWorkload:
    """The PyTorch twin of ``AnWorkload``: same weights (arrayneedle's state_dict), same
    inputs, same schedule arithmetic. ``data``: the arrays ``AnWorkload.export`` wrote."""

    def __init__(self, torch, tdev, data, coefs):
        self.torch = torch
        self.model = build_torch_unet(torch).to(tdev)
        sd = {k[3:]: torch.tensor(data[k]) for k in data.files if k.startswith("sd/")}
        missing, unexpected = self.model.load_state_dict(sd, strict=False)
        self.weights_copied = not missing and not unexpected
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.x0 = torch.tensor(data["x0"], device=tdev)
        self.noise = torch.tensor(data["noise"], device=tdev)
        self.t = torch.tensor(data["t"], device=tdev)
        self.sab = torch.tensor(data["sqrt_alphas_cumprod"], device=tdev)
        self.s1mab = torch.tensor(data["sqrt_one_minus_alphas_cumprod"], device=tdev)
        self.coefs = coefs
        self.t_half = torch.full((self.x0.shape[0],), T_STEPS // 2, dtype=torch.int64,
                                 device=tdev)
        # the same train-mode forward arrayneedle ran before exporting: outputs must agree
        with torch.no_grad():
            out = self.model(self.x0, self.t).cpu().numpy()
        self.max_abs_diff = float(np.max(np.abs(out - data["an_out"])))

    def train_step(self):
        torch = self.torch
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        a = self.sab[self.t].reshape(-1, 1, 1, 1)
        s = self.s1mab[self.t].reshape(-1, 1, 1, 1)
        xt = a * self.x0 + s * self.noise
        loss = torch.mean((self.model(xt, self.t) - self.noise) ** 2)
        loss.backward()
        self.opt.step()
        return loss

    def sample_step(self):
        torch, c = self.torch, self.coefs
        self.model.eval()
        with torch.no_grad():
            x = self.noise
            eps = self.model(x, self.t_half)
            x0 = (c["sqrt_recip_alphas_cumprod"] * x - c["sqrt_recipm1_alphas_cumprod"] * eps)
            x0 = x0.clamp(-1, 1)
            mean = c["posterior_mean_coef1"] * x0 + c["posterior_mean_coef2"] * x
            out = mean + math.exp(0.5 * c["posterior_log_variance_clipped"]) * torch.randn_like(x)
        self.model.train()
        return out

    def forward_eval(self):
        self.model.eval()
        with self.torch.no_grad():
            out = self.model(self.noise, self.t)
        self.model.train()
        return out


class TorchWorker:
    """PyTorch in a child process (this script with ``--torch-worker``), driven over a pipe.

    Why not in this process: once PyTorch has run, its OpenMP worker threads slow NumPy and
    OpenBLAS in the same process on this 2-core machine (a conv2d forward went from 9.6 ms to
    13-21 ms after a few PyTorch convolutions, measured), which would bias every ratio."""

    def __init__(self, device, threads):
        cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", "--device", device,
               "--threads", str(threads)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.hello = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the PyTorch worker exited (see its stderr above)")
        return json.loads(line)

    def request(self, msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(f"PyTorch worker: {reply['error']}")
        return reply

    def close(self):
        if self.proc.poll() is None:
            try:
                self.request({"cmd": "quit"})
            except (RuntimeError, OSError, ValueError):
                pass
            self.proc.wait(timeout=30)


class Remote:
    """A callable of the PyTorch worker, timed there (same timing code, its own clock)."""

    def __init__(self, worker, name):
        self.worker, self.name = worker, name

    def block(self, n, rewarm=False):
        r = self.worker.request({"cmd": "block", "name": self.name, "n": n, "rewarm": rewarm})
        return r["times"], r["loads"]


def start_torch_worker(device, threads):
    try:
        w = TorchWorker(device, threads)
    except (OSError, RuntimeError, ValueError) as e:
        print(f"PyTorch comparison skipped: {e}")
        return None
    if not w.hello.get("ok"):
        print(f"PyTorch comparison skipped: {w.hello.get('error')}")
        w.close()
        return None
    return w


def torch_worker_main(device, threads):
    """The child's loop: one JSON request per line on stdin, one JSON reply per line."""
    import traceback
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed goes to stderr; stdout carries only the protocol

    def send(obj):
        proto.write(json.dumps(obj, default=float) + "\n")

    try:
        import torch
    except Exception as e:  # PyTorch is optional
        send({"ok": False, "error": f"PyTorch not importable ({type(e).__name__}: {e})"})
        return
    is_cuda = device.startswith("cuda")
    if is_cuda and not torch.cuda.is_available():
        send({"ok": False, "error": "PyTorch has no CUDA device"})
        return
    tdev = (device if ":" in device else "cuda:0") if is_cuda else "cpu"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    sync = (lambda: torch.cuda.synchronize(tdev)) if is_cuda else (lambda: None)
    fns = {}
    send({"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads()})
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            cmd = msg["cmd"]
            if cmd == "quit":
                send({})
                break
            if cmd == "unet":
                tw = TorchWorkload(torch, tdev, np.load(msg["npz"]), msg["coefs"])
                fns["train"], fns["sample"] = tw.train_step, tw.sample_step
                reply = {"weights_copied": tw.weights_copied, "max_abs_diff": tw.max_abs_diff}
            elif cmd == "conv":
                d = np.load(msg["npz"])
                tx, tw_, tb = (torch.tensor(d[k], device=tdev, requires_grad=True)
                               for k in ("x", "w", "b"))
                tg = torch.tensor(d["g"], device=tdev)

                def conv_fwd_bwd(tx=tx, tw_=tw_, tb=tb, tg=tg):
                    y = torch.nn.functional.conv2d(tx, tw_, tb, padding=1)
                    y.backward(tg)
                    tx.grad = tw_.grad = tb.grad = None
                fns["conv"] = conv_fwd_bwd
                reply = {}
            elif cmd == "block":
                t, lo = run_block(fns[msg["name"]], sync, msg["n"], msg["rewarm"])
                reply = {"times": t, "loads": lo}
            else:
                reply = {"error": f"unknown command {cmd!r}"}
        except Exception:
            reply = {"error": traceback.format_exc()}
        send(reply)


# ------------------------------------------------------------------------------ profile
def profile_steps(work, n, top):
    pr = cProfile.Profile()
    work.train_step()
    pr.enable()
    for _ in range(n):
        work.train_step()
    pr.disable()
    st = pstats.Stats(pr)
    total = st.total_tt
    rows = []
    for (fname, line, func), (cc, nc, tt, ct, _) in st.stats.items():
        rows.append({"function": f"{os.path.relpath(fname) if fname.startswith('/') else fname}"
                                 f":{line}({func})", "ncalls": nc / n, "tottime_s": tt / n,
                     "cumtime_s": ct / n})
    rows.sort(key=lambda r: -r["tottime_s"])
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(top)
    return {"steps": n, "total_s_per_step": total / n, "top": rows[:top], "text": s.getvalue()}


# ------------------------------------------------------------------------------ reporting
def fmt_ms(s):
    return f"{s * 1e3:9.1f}"


def _fmt_times(label, d, width=30):
    a = d["an"]
    line = f"{label:{width}s} arrayneedle {fmt_ms(a['median_s'])} ms (min {a['min_s'] * 1e3:.1f})"
    if "torch" in d:
        t = d["torch"]
        line += (f"   PyTorch {fmt_ms(t['median_s'])} ms (min {t['min_s'] * 1e3:.1f})"
                 f"   ratio {d['ratio_median']:.2f}x (of minima {d['ratio_min']:.2f}x")
        if "ratio_quiet_median" in d:
            line += f", quiet steps {d['ratio_quiet_median']:.2f}x"
        line += ")"
    return line


def print_size_report(size, r):
    print(f"\n=== {size}x{size}, batch {r['batch']} (medians; arrayneedle / PyTorch) ===")
    tr, sa = r["train"], r["sample"]
    print(_fmt_times("training step", tr))
    print(_fmt_times("sampling step (p_sample)", sa))
    print(f"{'DDIM step':30s} arrayneedle {fmt_ms(sa['ddim_step_s'])} ms")
    print(f"images/s (estimated from per-step time): DDPM (T={T_STEPS}) "
          f"{sa['ddpm_images_per_s']:.4f}   DDIM ({DDIM_STEPS} steps) "
          f"{sa['ddim_images_per_s']:.3f}" +
          (f"   [PyTorch: DDPM {sa['torch_ddpm_images_per_s']:.4f}, DDIM "
           f"{sa['torch_ddim_images_per_s']:.3f}]" if "torch_ddpm_images_per_s" in sa else ""))
    for name, d in (("training", tr), ("sampling", sa)):
        for who in ("an", "torch"):
            if who in d:
                x = d[who]
                extra = ""
                if "foreign_cores" in x:
                    extra = (f"; other processes' CPU during each: "
                             f"{[round(f, 1) for f in x['foreign_cores']]} cores")
                print(f"  {name} samples, {who}: {[round(t * 1e3) for t in x['samples_s']]} ms"
                      + extra)
    ins = r["ops"]
    print(f"\nper op inside one instrumented training step (total {ins['total_s'] * 1e3:.1f} ms; "
          f"phases: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in ins["phases"].items())
          + ")")
    print(f"  {'op':44s} {'calls':>5s} {'fwd ms':>9s} {'bwd ms':>9s} {'total ms':>9s} "
          f"{'share':>6s}")
    for row in ins["ops"]:
        print(f"  {row['op']:44s} {row['calls']:5d} {fmt_ms(row['fwd_s'])} "
              f"{fmt_ms(row['bwd_s'])} {fmt_ms(row['total_s'])} {row['share'] * 100:5.1f}%")
    sops = r.get("sample_ops")
    if sops:
        print(f"\nper op inside one instrumented sampling step (p_sample, no_grad; total "
              f"{sops['total_s'] * 1e3:.1f} ms)")
        for row in sops["ops"]:
            print(f"  {row['op']:44s} {row['calls']:5d} {fmt_ms(row['fwd_s'])} "
                  f"{'':9s} {fmt_ms(row['total_s'])} {row['share'] * 100:5.1f}%")
    print("\n  convolutions in the training step (forward / backward GFLOP/s):")
    for c in ins["convs"]:
        fg = c["fwd_flops"] / c["fwd_s"] / 1e9
        bg = c["bwd_flops"] / c["bwd_s"] / 1e9 if c["bwd_s"] else float("nan")
        print(f"  {c['op']:17s} x{tuple(c['x'])} w{tuple(c['w'])} s{c['stride'][0]} "
              f"p{c['padding'][0]}: {c['fwd_s'] * 1e3:7.2f} / {c['bwd_s'] * 1e3:7.2f} ms  "
              f"{fg:6.1f} / {bg:6.1f}")
    rf = r["roofline"]
    print(f"\nroofline: the step's convolutions do {rf['conv_flops'] / 1e9:.2f} GFLOP in "
          f"{rf['conv_s'] * 1e3:.1f} ms = {rf['conv_gflops']:.1f} GFLOP/s; one {rf['matmul']['n']}"
          f"^2 matmul of the same FLOPs: {rf['matmul']['gflops']:.1f} GFLOP/s -> "
          f"{rf['fraction_of_matmul'] * 100:.0f}% of the matmul rate; the whole step at the "
          f"matmul rate would take {rf['step_at_matmul_rate_s'] * 1e3:.1f} ms")


def print_conv_section(rows):
    print("\n=== conv2d forward+backward (issue 3), x (12, 64, 32, 32), 3x3, padding 1 ===")
    for r in rows:
        line = (f"64->{r['w'][0]:3d}: fwd {r['fwd_s'] * 1e3:6.1f} ms "
                f"({r['fwd_gflops']:5.1f} GFLOP/s)"
                f"  bwd {r['bwd_s'] * 1e3:6.1f} ms ({r['bwd_gflops']:5.1f})"
                f"  fwd+bwd {r['fwd_bwd_gflops']:5.1f} GFLOP/s; matmul n={r['matmul']['n']} "
                f"{r['matmul']['gflops']:5.1f} GFLOP/s -> {r['fraction_of_matmul'] * 100:.0f}%"
                f"  (fwd GEMM-shaped matmul {r['gemm_shaped_gflops']:.1f})")
        if "torch_fwd_bwd_gflops" in r:
            line += f"  [PyTorch fwd+bwd {r['torch_fwd_bwd_gflops']:.1f} GFLOP/s]"
        print(line)


# ------------------------------------------------------------------------------ main
def _ratios(a, b):
    out = {"ratio_median": a["median_s"] / b["median_s"], "ratio_min": a["min_s"] / b["min_s"]}
    if a.get("quiet_samples") and b.get("quiet_samples"):
        out["ratio_quiet_median"] = a["quiet_median_s"] / b["quiet_median_s"]
    return out


def run_size(dev, worker, size, batch, steps, warmup, tmpdir):
    sync = dev.synchronize
    work = AnWorkload(dev, size, batch)
    r = {"size": size, "batch": batch}
    if worker is not None:
        path = os.path.join(tmpdir, f"unet{size}.npz")
        coefs = work.export(path)
        rep = worker.request({"cmd": "unet", "npz": path, "coefs": coefs})
        r["torch_weights_copied"] = rep["weights_copied"]
        r["torch_max_abs_diff"] = rep["max_abs_diff"]
        print(f"[{size}x{size}] PyTorch twin: weights copied {rep['weights_copied']}, same "
              f"forward output to {rep['max_abs_diff']:.2e}", flush=True)
    loads = []
    runners = [Local(work.train_step, sync)] + ([Remote(worker, "train")] if worker else [])
    times = time_blocks(runners, steps, warmup, loads=loads)
    r["train"] = {"an": summary(times[0], loads[0] if loads else None)}
    if worker:
        r["train"]["torch"] = summary(times[1], loads[1] if loads else None)
        r["train"].update(_ratios(r["train"]["an"], r["train"]["torch"]))
    print(f"[{size}x{size}] training step done", flush=True)
    loads = []
    runners = [Local(work.sample_step, sync), Local(work.ddim_two_steps, sync)] + (
        [Remote(worker, "sample")] if worker else [])
    times = time_blocks(runners, steps, warmup, loads=loads)
    sa = summary(times[0], loads[0] if loads else None)
    td = median(times[1]) / 2
    r["sample"] = {"an": sa, "ddim_step_s": td,
                   "ddpm_images_per_s": batch / (T_STEPS * sa["median_s"]),
                   "ddim_images_per_s": batch / (DDIM_STEPS * td),
                   "note": "images/s estimated from the median per-step time"}
    if worker:
        st = summary(times[2], loads[2] if loads else None)
        r["sample"]["torch"] = st
        r["sample"].update(_ratios(sa, st))
        r["sample"].update(torch_ddpm_images_per_s=batch / (T_STEPS * st["median_s"]),
                           torch_ddim_images_per_s=batch / (DDIM_STEPS * st["median_s"]))
    print(f"[{size}x{size}] sampling step done", flush=True)
    QUIET["waited"] += LOAD.wait_quiet(QUIET["max_wait"])
    ins = instrumented_step(work, dev.synchronize)
    r["ops"] = ins
    r["sample_ops"] = instrumented_step(work, dev.synchronize, sampling=True)
    conv_flops = sum(c["fwd_flops"] + c["bwd_flops"] for c in ins["convs"])
    conv_s = sum(c["fwd_s"] + c["bwd_s"] for c in ins["convs"])
    mm = matmul_rate(dev, conv_flops, steps=max(3, steps // 2))
    r["roofline"] = {"conv_flops": conv_flops, "conv_s": conv_s,
                     "conv_gflops": conv_flops / conv_s / 1e9, "matmul": mm,
                     "fraction_of_matmul": conv_flops / conv_s / 1e9 / mm["gflops"],
                     "step_at_matmul_rate_s": conv_flops / (mm["gflops"] * 1e9)}
    return r


def main(argv=None):
    p = argparse.ArgumentParser(description="arrayneedle SimpleUnet benchmark")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
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
            "batch": args.batch, "steps": steps, "warmup": warmup, "sizes": sizes,
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
    if is_cuda:
        print("note: on CUDA every op is synchronised in the per-op table, so its total is above "
              "the plain step time")

    results = {"meta": meta, "sizes": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="an-bench-") as tmpdir:
            for size in sizes:
                r = run_size(dev, worker, size, args.batch, steps, warmup, tmpdir)
                results["sizes"][str(size)] = r
                print_size_report(size, r)
            results["conv_issue3"] = conv_section(dev, worker, steps, tmpdir)
            print_conv_section(results["conv_issue3"])
    finally:
        if worker is not None:
            worker.close()

    if args.profile and not args.quick:
        work = AnWorkload(dev, sizes[0], args.batch)
        prof = profile_steps(work, 3, args.profile_top)
        results["profile"] = {k: v for k, v in prof.items() if k != "text"}
        results["profile"]["size"] = sizes[0]
        print(f"\n=== cProfile of the training step at {sizes[0]}x{sizes[0]} "
              f"(per step, top {args.profile_top} by own time) ===")
        for row in prof["top"]:
            print(f"  {row['tottime_s'] * 1e3:8.2f} ms own {row['cumtime_s'] * 1e3:8.2f} ms cum "
                  f"{row['ncalls']:7.0f} calls  {row['function']}")

    results["meta"]["waited_for_quiet_s"] = QUIET["waited"]
    results["meta"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json:  # atomically: an earlier results file is never left half-written
        tmp = f"{args.json}.tmp{os.getpid()}"
        try:
            with open(tmp, "w") as f:
                json.dump(results, f, indent=1, default=float)
            os.replace(tmp, args.json)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main()
