"""The timing loop and the machine description.

Every measurement is a median over timed calls after untimed warm-up calls. Runners (callables
of this process, or of the PyTorch worker) take turns in alternating blocks so that load from
other processes hits each alike, and each timed call records how many cores other processes
used meanwhile (``CpuLoad``): the machine is shared, and a step that ran while others were busy
is not a clean sample.
"""
from __future__ import annotations

import os
import platform
import statistics
import time

import arrayneedle as an  # before NumPy: see arrayneedle's startup settings  # noqa: I001
import numpy as np

from .adapters import openblas_tuned


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
                                              "MKL_NUM_THREADS", "ARRAYNEEDLE_NUM_THREADS",
                                              "ARRAYNEEDLE_KERNELS", "OMP_WAIT_POLICY",
                                              "GOMP_SPINCOUNT")
                   if k in os.environ}
    info["arrayneedle_kernel_threads"] = an.get_num_threads()
    info["cpu_kernels"] = an.kernels.cpu_kernels()  # oneDNN or NumPy, and why
    info["openblas_timeout_set_before_numpy"] = openblas_tuned()
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
    """CPU time used by *other* processes (Linux /proc), in cores, over an interval."""

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


def wait_quiet():
    """Wait (up to --wait-quiet seconds) for other processes to leave the CPU."""
    QUIET["waited"] += LOAD.wait_quiet(QUIET["max_wait"])


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


def time_blocks(runners, steps, warmup, rounds=None, loads=None, blocks=None):
    """Times of each runner (``Local`` or ``torch_worker.Remote``): ``warmup`` untimed calls
    each, then ``steps`` timed calls each, in alternating blocks (A A, B B, A A, B B, ...).
    Each block after the first starts with one untimed call (the worker threads of the previous
    runner's library may still be spinning). Before each block, waits for a quiet CPU;
    ``loads`` (if a list) receives, per runner, the cores other processes used during each
    timed call; ``blocks`` (if a list) receives, per runner, the list of its blocks' times
    (round by round: ``paired_ratio`` compares the runners' blocks of one round).

    Several runners alternate in blocks of about two steps (``steps // 2`` rounds, at least
    3): this host's speed swings by up to 2x over seconds (other tenants of the machine), and
    short blocks put both runners of a round in the same conditions."""
    for r in runners:
        if warmup:
            r.block(warmup)
    if rounds is None:
        rounds = 1 if len(runners) == 1 else min(max(3, steps // 2), steps)
    sizes = [steps // rounds + (1 if i < steps % rounds else 0) for i in range(rounds)]
    times = [[] for _ in runners]
    foreign = [[] for _ in runners]
    per_block = [[] for _ in runners]
    for i, n in enumerate(sizes):
        for r, ts, fl, bl in zip(runners, times, foreign, per_block):
            wait_quiet()
            t, f = r.block(n, rewarm=bool(i) and len(runners) > 1)
            ts.extend(t)
            fl.extend(f)
            bl.append(list(t))
    if loads is not None:
        loads.extend(foreign)
    if blocks is not None:
        blocks.extend(per_block)
    return times


def paired_ratio(a_blocks, b_blocks):
    """The median over rounds of (A's block median / B's block median): the ratio of two
    runners measured side by side, robust to the host's speed changing between rounds."""
    return median([median(a) / median(b) for a, b in zip(a_blocks, b_blocks)])


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
