"""The measurements of one run: per image size the training and sampling steps (beside
PyTorch's, when the worker runs), the per-op tables and the roofline; and the conv section
(JSON key ``conv_issue3``): conv2d forward+backward at x (12, 64, 32, 32), 3x3, padding 1, to
64 and 128 channels, beside one plain matmul of the same FLOPs."""
from __future__ import annotations

import os

import arrayneedle as an
import numpy as np

from . import DDIM_STEPS, T_STEPS
from .harness import (Local, matmul_rate, median, paired_ratio, summary, time_blocks,
                      time_interleaved, wait_quiet)
from .optimer import instrumented_step
from .torch_worker import Remote
from .workload import AnWorkload


def _ratios(a, b):
    out = {"ratio_median": a["median_s"] / b["median_s"], "ratio_min": a["min_s"] / b["min_s"]}
    if "blocks_s" in a and "blocks_s" in b:
        out["ratio_paired"] = paired_ratio(a["blocks_s"], b["blocks_s"])
    if a.get("quiet_samples") and b.get("quiet_samples"):
        out["ratio_quiet_median"] = a["quiet_median_s"] / b["quiet_median_s"]
    return out


def _timed(runners, steps, warmup):
    """``time_blocks`` and the summary of each runner."""
    loads, blocks = [], []
    times = time_blocks(runners, steps, warmup, loads=loads, blocks=blocks)
    sums = [summary(t, loads[i] if loads else None) for i, t in enumerate(times)]
    for s, b in zip(sums, blocks):
        s["blocks_s"] = b
    return times, sums


def run_size(dev, worker, size, batch, steps, warmup, tmpdir, model="simple"):
    """Training and sampling steps of ``model`` ("simple" or "unet") at ``size`` x ``size``,
    beside PyTorch's twin when ``worker`` runs, and their per-op tables."""
    sync = dev.synchronize
    work = AnWorkload(dev, size, batch, model=model)
    r = {"model": model, "size": size, "batch": batch}
    tag = f"[{model} {size}x{size} b{batch}]"
    if worker is not None:
        path = os.path.join(tmpdir, f"{model}{size}_{batch}.npz")
        coefs = work.export(path)
        rep = worker.request({"cmd": "unet", "npz": path, "coefs": coefs, "model": model})
        r["torch_weights_copied"] = rep["weights_copied"]
        r["torch_max_abs_diff"] = rep["max_abs_diff"]
        print(f"{tag} PyTorch twin: weights copied {rep['weights_copied']}, same "
              f"forward output to {rep['max_abs_diff']:.2e}", flush=True)
    runners = [Local(work.train_step, sync)] + ([Remote(worker, "train")] if worker else [])
    _, sums = _timed(runners, steps, warmup)
    r["train"] = {"an": sums[0]}
    if worker:
        r["train"]["torch"] = sums[1]
        r["train"].update(_ratios(sums[0], sums[1]))
    print(f"{tag} training step done", flush=True)
    runners = [Local(work.sample_step, sync), Local(work.ddim_two_steps, sync)] + (
        [Remote(worker, "sample")] if worker else [])
    times, sums = _timed(runners, steps, warmup)
    sa = sums[0]
    td = median(times[1]) / 2
    r["sample"] = {"an": sa, "ddim_step_s": td,
                   "ddpm_images_per_s": batch / (T_STEPS * sa["median_s"]),
                   "ddim_images_per_s": batch / (DDIM_STEPS * td),
                   "note": "images/s estimated from the median per-step time"}
    if worker:
        st = sums[2]
        r["sample"]["torch"] = st
        r["sample"].update(_ratios(sa, st))
        r["sample"].update(torch_ddpm_images_per_s=batch / (T_STEPS * st["median_s"]),
                           torch_ddim_images_per_s=batch / (DDIM_STEPS * st["median_s"]))
    print(f"{tag} sampling step done", flush=True)
    wait_quiet()
    ins = instrumented_step(work, sync)
    r["ops"] = ins
    r["sample_ops"] = instrumented_step(work, sync, sampling=True)
    conv_flops = sum(c["fwd_flops"] + c["bwd_flops"] for c in ins["convs"])
    conv_s = sum(c["fwd_s"] + c["bwd_s"] for c in ins["convs"])
    mm = matmul_rate(dev, conv_flops, steps=max(3, steps // 2))
    r["roofline"] = {"conv_flops": conv_flops, "conv_s": conv_s,
                     "conv_gflops": conv_flops / conv_s / 1e9, "matmul": mm,
                     "fraction_of_matmul": conv_flops / conv_s / 1e9 / mm["gflops"],
                     "step_at_matmul_rate_s": conv_flops / (mm["gflops"] * 1e9)}
    return r


def conv_section(dev, worker, steps, tmpdir):
    """conv2d forward+backward at x (12, 64, 32, 32), 3x3, padding 1, to 64 and 128 channels,
    beside one plain matmul of the same FLOPs (and PyTorch's conv2d, if any)."""
    out = []
    rng = np.random.default_rng(2)
    for cout in (64, 128):
        arrays = {"x": rng.standard_normal((12, 64, 32, 32)).astype(np.float32),
                  "w": (rng.standard_normal((cout, 64, 3, 3)) * 0.05).astype(np.float32),
                  "b": np.zeros((cout,), np.float32),
                  "g": rng.standard_normal((12, cout, 32, 32)).astype(np.float32)}
        x, w, b = (an.Tensor(arrays[k], device=dev, requires_grad=True) for k in ("x", "w", "b"))
        g = an.Tensor(arrays["g"], device=dev)
        state = {}

        def fwd():
            state.clear()  # free the previous graph (and its saved columns) first
            state["y"] = an.ops.conv2d(x, w, b, padding=1)

        def fwd_bwd():
            fwd()
            state.pop("y").backward(g)
            x.grad = w.grad = b.grad = None

        runners = [Local(fwd, dev.synchronize), Local(fwd_bwd, dev.synchronize)]
        if worker is not None:
            path = os.path.join(tmpdir, f"conv{cout}.npz")
            np.savez(path, **arrays)
            worker.request({"cmd": "conv", "npz": path})
            runners.append(Remote(worker, "conv"))
        times = time_blocks(runners, steps, 2)
        F = 2 * 12 * 32 * 32 * cout * 64 * 9
        tf, tfb = median(times[0]), median(times[1])
        mm = matmul_rate(dev, 3 * F, steps)
        ckk, ncols = 64 * 9, 12 * 32 * 32
        row = {"x": [12, 64, 32, 32], "w": [cout, 64, 3, 3], "fwd_flops": F,
               "fwd_s": tf, "fwd_bwd_s": tfb, "bwd_s": tfb - tf,
               "fwd_gflops": F / tf / 1e9, "bwd_gflops": 2 * F / max(tfb - tf, 1e-12) / 1e9,
               "fwd_bwd_gflops": 3 * F / tfb / 1e9, "matmul": mm,
               "fraction_of_matmul": (3 * F / tfb / 1e9) / mm["gflops"]}
        # the forward's own GEMM shape, for reference: (O, C*k*k) @ (C*k*k, N*H*W)
        xp = dev.xp
        A = dev.asarray(rng.standard_normal((cout, ckk)).astype(np.float32))
        B = dev.asarray(rng.standard_normal((ckk, ncols)).astype(np.float32))
        (ts,) = time_interleaved([lambda: xp.matmul(A, B)], steps, 2, dev.synchronize)
        row["gemm_shaped_gflops"] = F / median(ts) / 1e9
        if worker is not None:
            row["torch_fwd_bwd_s"] = median(times[2])
            row["torch_fwd_bwd_gflops"] = 3 * F / median(times[2]) / 1e9
        out.append(row)
    return out
