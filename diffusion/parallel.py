"""Data-parallel training for ``diffusion/training.py``: ``mpiexec -n N python
scripts/train.py ...`` runs N ranks that each hold a replica of the model.

How a run stays the same whatever the number of ranks (so a checkpoint resumes on any
number, and N ranks match one rank up to rounding):

- every rank iterates the same global DataLoader (same seed, same state) and draws the
  timesteps and noise for the whole global batch from the same generator, then keeps its
  own slice ``[r*b:(r+1)*b]`` of all three, ``b = batch / N``;
- DistributedDataParallel averages the gradients over the ranks, so with equal slices the
  averaged gradient is the gradient of the global batch's mean loss;
- the model, EMA, optimizer, scheduler, loader and generator states are then equal on
  every rank, and rank 0's checkpoint is the same one a single process writes.

Rank 0 alone writes (output folder, log, progress bar, checkpoints, grids). Every rank
computes the sample grids (the same images from the same forked generator), so no rank
waits while another samples. Checks of flags, data and output folder run on every rank
before anything is written, and the ranks agree on the outcome: a bad flag ends every rank
with the same message (printed once, by rank 0) and exit code 2.

Several machines need the output folder (and a ``--resume`` checkpoint) on a shared file
system: every rank reads the checkpoint it resumes from.
"""
from __future__ import annotations

import os

import arrayneedle as an
import arrayneedle.distributed as dist
from arrayneedle.launcher import launcher_rank
from arrayneedle.nn.parallel import DistributedDataParallel

__all__ = ["BACKENDS", "World", "launcher_rank", "start"]

BACKENDS = ("mpi", "nccl")

class World:
    """The ranks of this training run. ``rank``, ``size``, ``local_rank``, ``main`` (rank 0:
    the one that writes), ``device`` (this rank's device)."""

    def __init__(self, device, owned):
        self.rank, self.size = dist.get_rank(), dist.get_world_size()
        self.local_rank = dist.get_local_rank()
        self.main = self.rank == 0
        self.device = device
        self._owned = owned

    # ---- before anything is written ----
    def check_batch(self, batch_size, error):
        """Raise ``error`` (an exception class) unless the global batch splits evenly."""
        if batch_size % self.size:
            raise error(f"--batch-size {batch_size} does not divide evenly over {self.size} "
                        f"ranks (it is the global batch); use a multiple of {self.size}")

    def agree(self, exc, error):
        """Collective: ``exc`` is this rank's failure (an ``error`` instance) or None. When
        any rank failed, every rank raises ``error`` with the lowest failing rank's message,
        so all of them stop together with the same exit code."""
        if self.size == 1:
            if exc is not None:
                raise exc
            return
        # on this rank's device: NCCL reduces only arrays on the rank's GPU
        flag = an.tensor([self.rank if exc is not None else self.size], dtype="int64",
                         device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        first = int(flag.item())
        if first == self.size:
            return
        message = [str(exc) if exc is not None else None]
        dist.broadcast_object_list(message, src=first)
        if exc is not None and first == self.rank:
            raise exc
        raise error(message[0])

    # ---- training ----
    def wrap(self, model):
        """The module that trains: ``model`` itself on one rank, else its DDP wrapper
        (parameters broadcast from rank 0, gradients averaged in backward)."""
        if self.size == 1:
            return model
        return DistributedDataParallel(model)

    def split(self, x0, timesteps):
        """``(x0, t, noise)`` for this rank: timesteps and noise are drawn for the global batch
        ``x0`` (the same draws as one process makes), then every tensor is sliced."""
        t = an.randint(0, timesteps, (x0.shape[0],), device=x0.device)
        noise = an.randn(x0.shape, device=x0.device, dtype=x0.dtype)
        if self.size == 1:
            return x0, t, noise
        b = x0.shape[0] // self.size
        lo, hi = self.rank * b, (self.rank + 1) * b
        return x0[lo:hi], t[lo:hi], noise[lo:hi]

    def mean(self, loss):
        """The loss averaged over the ranks, as a Python float (the same on every rank, so a
        NaN stops every rank at the same step)."""
        value = loss.item()
        if self.size == 1:
            return value
        buf = an.full((1,), value, dtype="float64", device=loss.device)
        dist.all_reduce(buf, op=dist.ReduceOp.AVG)
        return buf.item()

    def barrier(self):
        if self.size > 1:
            dist.barrier()

    def finish(self):
        """Leave the process group if this run made it."""
        if self._owned and dist.is_initialized():
            dist.destroy_process_group()
            self._owned = False


def start(device_name, backend=None, error=ValueError):
    """Join the ranks (a group of one without a launcher; an existing group is reused) and
    pick this rank's device: ``cuda`` alone means ``cuda:<local rank>`` (one GPU per rank);
    an explicit ``cuda:N`` is kept (ranks may share it; use ``backend="mpi"`` then).
    ``backend``: ``mpi``, ``nccl`` or None (NCCL for CUDA devices under a launcher, else
    MPI); another raises ``error`` before any rank joins."""
    if backend is not None and backend not in BACKENDS:
        raise error(f"--dist-backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    owned = not dist.is_initialized()
    cuda = str(device_name).startswith("cuda")
    if owned:
        explicit = device_name if cuda and ":" in str(device_name) else None
        # one process without a launcher needs no NCCL (nor MPI): a plain single-GPU run
        # works without them installed
        nccl = cuda and dist.launched_by_mpi()
        dist.init_process_group(backend or ("nccl" if nccl else "mpi"), device_id=explicit)
    name = f"cuda:{dist.get_local_rank()}" if str(device_name) == "cuda" else device_name
    world = World(an.device(name), owned)
    if owned and world.size > 1 and "ARRAYNEEDLE_NUM_THREADS" not in os.environ \
            and "OMP_NUM_THREADS" not in os.environ:
        # arrayneedle's import sets OMP_NUM_THREADS under a launcher unless opted out or
        # NumPy came first: then its own copy loops at least share the cores fairly
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        an.set_num_threads(max(1, cores // dist.get_local_world_size()))
    return world
