"""Run the NumPy kernels' memory-bound copies on all cores.

OpenBLAS runs every matmul on all cores, but a NumPy copy or ufunc runs on one, so the im2col
copies, col2im adds and layout changes between the matmuls would leave the other cores idle
for a large part of a UNet step. NumPy releases the GIL inside those loops, so
a kernel that splits its work into independent slices along an outer axis (channels or batch
items: each slice writes its own part of the output, nothing is reduced across slices) can
hand the slices to a small pool of threads. The results are bit-identical to the one-thread
run (the same operations on the same elements, only on another core). The speed-ups are in
BENCHMARKS.md.

This is blocking, not per-item work: the number of slices is the number of threads, whatever
the batch size, and work below ``MIN_BYTES`` stays on the calling thread.

Threads: ``ARRAYNEEDLE_NUM_THREADS`` if set, else ``OMP_NUM_THREADS`` if set (the usual way
to ask numerical libraries for fewer threads), else the CPUs this process may run on; at most
``MAX_THREADS`` (memory-bound copies stop scaling long before). ``1`` turns it off.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["num_threads", "set_num_threads", "parallel_for", "MIN_BYTES", "MAX_THREADS"]

MAX_THREADS = 8
# below this much output the hand-off to the pool costs more than it saves (the sizes tried
# are in BENCHMARKS.md)
MIN_BYTES = 1 << 18

_lock = threading.Lock()
_local = threading.local()  # .worker is True on the pool's own threads
_state = {"pid": None, "pool": None, "threads": None}  # pid: the process that made the pool


def _mark_worker():
    _local.worker = True


def _configured_threads():
    for var in ("ARRAYNEEDLE_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                n = int(value.split(",")[0])
            except ValueError:
                raise ValueError(f"{var}={value!r}: expected a positive integer") from None
            if n < 1:
                raise ValueError(f"{var}={value!r}: expected a positive integer")
            return min(n, MAX_THREADS)
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_THREADS))


def num_threads():
    """How many threads the CPU kernels split their copies over."""
    if _state["threads"] is None:
        _state["threads"] = _configured_threads()
    return _state["threads"]


def set_num_threads(n):
    """Use ``n`` threads (1: none besides the caller's) for the CPU kernels' copies from now on
    in this process; ``None`` goes back to the configured default. The BLAS library keeps its
    own thread count (``OPENBLAS_NUM_THREADS`` or threadpoolctl set that)."""
    if n is None:
        _state["threads"] = None
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer or None, got {n!r}")
    _state["threads"] = min(n, MAX_THREADS)


def _pool():
    """The process's worker threads (a new pool after ``fork``: threads do not survive it).
    ``MAX_THREADS - 1`` workers at most; a call uses as many as its ranges need."""
    pid = os.getpid()
    if _state["pool"] is None or _state["pid"] != pid:
        with _lock:
            if _state["pool"] is None or _state["pid"] != pid:
                _state["pool"] = ThreadPoolExecutor(max_workers=MAX_THREADS - 1,
                                                    thread_name_prefix="arrayneedle-kernel",
                                                    initializer=_mark_worker)
                _state["pid"] = pid
    return _state["pool"]


def parallel_for(n, fn, nbytes):
    """Call ``fn(lo, hi)`` on contiguous ranges covering ``range(n)``, in parallel when the
    work (``nbytes`` written) is large enough. ``fn`` must only touch its own range's outputs.
    Returns when every range is done; an exception in any range is raised here."""
    t = min(num_threads(), n, max(1, nbytes // MIN_BYTES))
    if t > 1 and getattr(_local, "worker", False):
        t = 1  # called from one of our own workers: waiting on the pool from it could deadlock
    if t <= 1:
        fn(0, n)
        return
    bounds = [n * i // t for i in range(t + 1)]
    pool = _pool()
    futures = [pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(1, t)]
    try:
        fn(bounds[0], bounds[1])
    finally:
        # wait for every range before returning (or raising): they write into our arrays
        errors = []
        for f in futures:
            try:
                f.result()
            except BaseException as e:  # noqa: BLE001 - re-raised below
                errors.append(e)
    if errors:
        raise errors[0]
