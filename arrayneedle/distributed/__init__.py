"""Data-parallel communication with PyTorch's ``torch.distributed`` names, over an existing
engine: MPI through mpi4py (CPU arrays; CuPy arrays by a host copy) or NCCL through CuPy.

Launch with ``mpiexec -n N python script.py``; ``init_process_group()`` then joins the N
ranks. Without a launcher it makes a group of one process and imports no MPI at all.

Every collective waits with a deadline (``timeout``) and never spins a core; when a wait
fails, when a rank raises an uncaught exception, or when a rank exits while others wait for
it, every rank is aborted so the job ends with a non-zero status instead of hanging.
"""
from __future__ import annotations

import datetime
import enum
import math
import os
import signal
import threading

import array_api_compat

from ..autograd import Tensor
from ..backend import device as _device
from ..launcher import LAUNCHER_ENV, launched_by_mpi  # noqa: F401  (LAUNCHER_ENV: public)

__all__ = ["ReduceOp", "init_process_group", "is_initialized", "is_available",
           "get_backend", "get_rank", "get_world_size", "get_local_rank",
           "get_local_world_size", "barrier", "all_reduce", "broadcast",
           "broadcast_object_list", "all_gather", "destroy_process_group"]

DEFAULT_TIMEOUT = datetime.timedelta(seconds=300)


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


class _Done:
    __slots__ = ("_result",)

    def __init__(self, result):
        self._result = result

    def is_completed(self):
        return True

    def wait(self):
        return self._result


class _SingleProcess:
    """The group of one process: every collective is the identity."""
    backend = "mpi"
    rank, size, local_rank, local_size, seq = 0, 1, 0, 1, 0

    def allreduce_async(self, arr, op="sum"):
        return _Done(arr)

    def broadcast(self, arr, src):
        return arr

    def allgather(self, arr):
        xp = array_api_compat.array_namespace(arr)
        return xp.expand_dims(xp.asarray(arr, copy=True), axis=0)

    def barrier(self):
        pass

    def broadcast_object(self, obj, src):
        return obj

    def destroy(self):
        pass


_group = None
_restore_excepthook = None


def is_available() -> bool:
    return True


def is_initialized() -> bool:
    return _group is not None


def _seconds(timeout):
    if timeout is None:
        return DEFAULT_TIMEOUT.total_seconds()
    if isinstance(timeout, datetime.timedelta):
        s = timeout.total_seconds()
    elif isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        s = float(timeout)
    else:
        raise TypeError(f"init_process_group: timeout must be a datetime.timedelta, got "
                        f"{type(timeout).__name__}")
    if not s > 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {s} s")
    return s


def init_process_group(backend=None, *, timeout=None, world_size=-1, rank=-1,
                       device_id=None):
    """Join the ranks started by the launcher (``mpiexec -n N``), or make a group of one.

    ``backend``: ``"mpi"``, ``"nccl"`` or None (NCCL when ``device_id`` is a CUDA device,
    else MPI). ``timeout``: how long any collective may wait (a ``datetime.timedelta``,
    default 300 s). ``world_size``/``rank``, if given, must agree with the launcher's.
    ``device_id``: the GPU of this rank for NCCL (default ``cuda:<local rank>``)."""
    global _group
    if _group is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialised; call destroy_process_group() first")
    if backend is not None and str(backend).lower() not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group: unknown backend {backend!r}; expected 'mpi', "
                         f"'nccl' or None")
    seconds = _seconds(timeout)
    dev = _device(device_id) if device_id is not None else None
    name = str(backend).lower() if backend is not None else (
        "nccl" if dev is not None and dev.kind == "cuda" else "mpi")
    mpi = None
    if launched_by_mpi():
        _mpi = _import_mpi(seconds)
        mpi = _mpi.MPIGroup(seconds)
    for given, actual, what in ((world_size, mpi.size if mpi else 1, "world_size"),
                                (rank, mpi.rank if mpi else 0, "rank")):
        if given not in (-1, None) and given != actual:
            if mpi is not None:
                mpi.destroy()
            raise ValueError(f"init_process_group: {what}={given} but the launcher started "
                             f"this process with {what} {actual}")
    if name == "nccl":
        index = dev.index if dev is not None and dev.kind == "cuda" else (
            mpi.local_rank if mpi else 0)
        from ._nccl import NCCLGroup
        group = NCCLGroup(seconds, index, mpi)
    else:
        group = mpi if mpi is not None else _SingleProcess()
    global _restore_excepthook
    if group.size > 1:
        from ._mpi import install_excepthook
        _restore_excepthook = install_excepthook(mpi)
    _group = group


_STARTUP_SECONDS = 10


def _import_mpi(seconds):
    """Import the MPI group module. Importing mpi4py runs MPI_Init, which waits (with no
    deadline, holding the interpreter) until every rank has started MPI: a rank that died
    before would hang this one forever. So an alarm with the default action (the process ends
    on SIGALRM, and the launcher then ends the job) guards it, unless the program handles
    SIGALRM itself or this is not the main thread. The guard waits at least
    ``_STARTUP_SECONDS`` whatever the collectives' timeout: ranks start seconds apart on a
    busy machine (each imports NumPy first), and a 1 s timeout meant for collectives killed
    healthy jobs in MPI_Init."""
    guard = (hasattr(signal, "alarm") and threading.current_thread() is threading.main_thread()
             and signal.getsignal(signal.SIGALRM) == signal.SIG_DFL)
    if guard:
        signal.alarm(max(_STARTUP_SECONDS, math.ceil(seconds)))
    try:
        from . import _mpi
    finally:
        if guard:
            signal.alarm(0)
    return _mpi


def _require():
    if _group is None:
        raise RuntimeError("the default process group is not initialised: call "
                           "arrayneedle.distributed.init_process_group() first")
    return _group


def get_backend() -> str:
    return _require().backend


def get_rank() -> int:
    return _require().rank


def get_world_size() -> int:
    return _require().size


def get_local_rank() -> int:
    """This rank's index among the ranks on its machine (its GPU, with one GPU per rank)."""
    return _require().local_rank


def get_local_world_size() -> int:
    """How many ranks run on this machine (share its cores)."""
    return _require().local_size


def barrier():
    _require().barrier()


def _check_tensor(t, name):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(t).__name__}")


def all_reduce(tensor, op=ReduceOp.SUM, async_op=False):
    """Reduce ``tensor`` over all ranks, in place: every rank ends with the result. With
    ``async_op=True`` returns a work object whose ``wait()`` finishes it."""
    _check_tensor(tensor, "all_reduce")
    op = ReduceOp(op) if not isinstance(op, ReduceOp) else op
    if op is ReduceOp.AVG and tensor.dtype.kind != "f":
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got "
                        f"{tensor.dtype}")
    work = _TensorWork(_require().allreduce_async(tensor.array, op.value), tensor)
    if async_op:
        return work
    work.wait()
    return None


class _TensorWork:
    __slots__ = ("_work", "_tensor")

    def __init__(self, work, tensor):
        self._work, self._tensor = work, tensor

    def is_completed(self):
        return self._work.is_completed()

    def wait(self):
        if self._tensor is not None:
            self._tensor.array = self._work.wait()
            self._tensor = None
        return True


def broadcast(tensor, src=0):
    """Every rank's ``tensor`` takes rank ``src``'s values (in place)."""
    _check_tensor(tensor, "broadcast")
    g = _require()
    _check_rank(src, g, "broadcast")
    tensor.array = g.broadcast(tensor.array, src)


def broadcast_object_list(object_list, src=0):
    """Every rank's ``object_list`` (same length everywhere) takes rank ``src``'s picklable
    objects, in place."""
    if not isinstance(object_list, list):
        raise TypeError(f"broadcast_object_list: expected a list, got "
                        f"{type(object_list).__name__}")
    g = _require()
    _check_rank(src, g, "broadcast_object_list")
    objs = g.broadcast_object(list(object_list), src)
    if len(objs) != len(object_list):
        raise ValueError(f"broadcast_object_list: rank {src} sent {len(objs)} objects, this "
                         f"rank's list has {len(object_list)}")
    object_list[:] = objs


def all_gather(tensor_list, tensor):
    """``tensor_list[r]`` takes rank r's ``tensor``, on every rank (PyTorch's order)."""
    _check_tensor(tensor, "all_gather")
    g = _require()
    if not isinstance(tensor_list, list) or len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list must be a list of world size ({g.size}) "
                         f"tensors")
    stacked = g.allgather(tensor.array)
    xp = tensor.device.xp
    for r, t in enumerate(tensor_list):
        _check_tensor(t, "all_gather")
        if t.shape != tensor.shape:
            raise ValueError(f"all_gather: tensor_list[{r}] has shape {t.shape}, expected "
                             f"{tensor.shape}")
        t.array = xp.asarray(stacked[r], dtype=tensor.dtype, copy=True)
        t._device = tensor.device


def destroy_process_group():
    """Leave the group (after a barrier, so no rank is still waiting for this one)."""
    global _group, _restore_excepthook
    g = _require()
    g.destroy()
    _group = None
    if _restore_excepthook is not None:
        _restore_excepthook()
        _restore_excepthook = None


def _check_rank(src, g, name):
    if not (isinstance(src, int) and 0 <= src < g.size):
        raise ValueError(f"{name}: src must be a rank in [0, {g.size}), got {src!r}")
