"""Process-wide settings arrayneedle makes when it is imported, before NumPy loads. Each is
documented in the README, has an opt-out, and is reported by ``arrayneedle.startup_info()``.

BLAS threads: OpenBLAS's worker threads busy-wait for new work for 2**28 cycles after every
matmul before they sleep. In a training step the matmuls alternate with NumPy copies (im2col,
col2im, layout changes) that ``kernels/_parallel.py`` splits over the same cores, so those
copies would run next to spinning BLAS threads. ``OPENBLAS_THREAD_TIMEOUT=16`` makes the
workers spin for 2**16 cycles (still no sleep between back-to-back matmuls) and then give the
core back (the effect is in BENCHMARKS.md). OpenBLAS reads the variable once, when NumPy loads
it, so this only works when arrayneedle is imported before NumPy; a value already set is kept,
and ``ARRAYNEEDLE_BLAS_TUNING=0`` leaves the environment alone.

Threads per rank: ranks started by an MPI launcher on one machine share its cores, and each
rank's BLAS and OpenMP pools would otherwise take every core (N ranks x all cores threads,
which is several times slower than one process, see BENCHMARKS.md). When a launcher started
this process (``arrayneedle.launcher`` names the variables each launcher sets),
``OMP_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` default to cores / ranks on this machine (the
launcher's local rank count), at least 1. Values
already set are kept; ``ARRAYNEEDLE_BLAS_TUNING=0`` leaves them alone too.

Allocator: a training step allocates and frees the same large temporaries (im2col columns,
padded inputs, matmul outputs) every time. With glibc's defaults each block above the mmap
threshold is its own mapping, unmapped when freed and page-faulted in (and zeroed) again on
the next step. So every block comes from the heap (no mmap: the columns of a 64x64 UNet layer
are 56-113 MiB, above the largest mmap threshold glibc accepts, 32 MiB), and up to 256 MiB of
free memory stays at the top of the heap; resident memory stays flat across steps (figures in
BENCHMARKS.md). Linux with glibc only; ``ARRAYNEEDLE_MALLOC_TUNING=0`` leaves the allocator
alone.
"""
from __future__ import annotations

import os
import sys

from .launcher import local_ranks

__all__ = ["MALLOC_TUNED", "OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_TUNED", "RANK_THREADS",
           "startup_info"]

OPENBLAS_THREAD_TIMEOUT = "16"
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def tune_openblas_threads():
    """Set ``OPENBLAS_THREAD_TIMEOUT`` if NumPy is not loaded yet. Returns whether the
    setting in force is ours or the user's (False: NumPy was loaded first, or opted out)."""
    if os.environ.get("ARRAYNEEDLE_BLAS_TUNING", "1") == "0" or "numpy" in sys.modules:
        return False
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)
    return True


def tune_glibc_malloc():
    """Keep freed heap memory for reuse instead of returning it to the OS at once (see the
    module docstring). Returns whether glibc accepted every setting (False: opted out, not
    Linux with glibc, or refused)."""
    if os.environ.get("ARRAYNEEDLE_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith(
            "linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        if not hasattr(libc, "gnu_get_libc_version"):  # not glibc (e.g. musl)
            return False
        M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -2, -3, -4
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        ok &= libc.mallopt(M_TOP_PAD, 256 << 20)
        ok &= libc.mallopt(M_MMAP_MAX, 0)
        return bool(ok)
    except (OSError, AttributeError):
        return False


def cores():
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def limit_rank_threads():
    """Under an MPI launcher, default the BLAS/OpenMP thread counts to cores / local ranks
    (see the module docstring). Returns the count set, or None when nothing was set (no
    launcher, NumPy already loaded, opted out, or both variables already set)."""
    n = local_ranks()
    if n is None or os.environ.get("ARRAYNEEDLE_BLAS_TUNING", "1") == "0" \
            or "numpy" in sys.modules or all(k in os.environ for k in THREAD_ENV):
        return None
    threads = max(1, cores() // n)
    for key in THREAD_ENV:
        os.environ.setdefault(key, str(threads))
    return threads


OPENBLAS_TUNED = tune_openblas_threads()
MALLOC_TUNED = tune_glibc_malloc()
RANK_THREADS = limit_rank_threads()


def startup_info() -> dict:
    """What arrayneedle's import did to the process: ``{"openblas_thread_timeout": bool,
    "malloc_tuning": bool, "rank_threads": int | None}``: the first two True when that
    setting is in force, ``rank_threads`` the thread count it gave each MPI rank, or None
    when it set none (see this module's docstring for when each happens)."""
    return {"openblas_thread_timeout": OPENBLAS_TUNED, "malloc_tuning": MALLOC_TUNED,
            "rank_threads": RANK_THREADS}
