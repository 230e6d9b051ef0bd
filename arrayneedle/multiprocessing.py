"""``arrayneedle.multiprocessing``: Python's ``multiprocessing`` under PyTorch's name, plus
PyTorch's ``spawn(fn, args, nprocs)`` that starts ``nprocs`` processes running ``fn(i, *args)``
and raises when one fails. (arrayneedle's own data loaders use threads; see the README.)"""
import multiprocessing as _mp
from multiprocessing import *  # noqa: F401,F403

__all__ = list(getattr(_mp, "__all__", [])) + ["spawn", "ProcessRaisedException"]


class ProcessRaisedException(Exception):
    """A spawned process ended with an error (its exit code is in the message)."""


def _run(fn, i, args):
    fn(i, *args)


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Start ``nprocs`` processes, each ``fn(i, *args)``; with ``join`` wait for all and raise
    ``ProcessRaisedException`` naming the first that failed; without, return the processes."""
    ctx = _mp.get_context(start_method)
    procs = [ctx.Process(target=_run, args=(fn, i, tuple(args)), daemon=daemon)
             for i in range(nprocs)]
    for p in procs:
        p.start()
    if not join:
        return procs
    for p in procs:
        p.join()
    for i, p in enumerate(procs):
        if p.exitcode != 0:
            raise ProcessRaisedException(f"process {i} terminated with exit code {p.exitcode}")
    return None
