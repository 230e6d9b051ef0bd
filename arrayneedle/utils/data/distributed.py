"""DistributedSampler: each rank's share of a dataset's indices for data-parallel training,
with PyTorch's semantics (equal counts per rank; the global order padded by repeating its
start, or truncated with ``drop_last``; a new order each epoch through ``set_epoch``).

The order of an epoch depends only on ``seed + epoch``, never on the number of ranks, and
rank r takes positions r, r + R, r + 2R, ... of it. So the first k samples of every rank
together are exactly the first k * R positions of the epoch's order, whatever R is: that is
what makes ``state_dict`` (a position in the global order) resume exactly, also on a
different number of ranks.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ... import distributed as dist

__all__ = ["DistributedSampler"]


def _default(value, getter, name):
    if value is not None:
        return value
    if not dist.is_initialized():
        raise RuntimeError(f"DistributedSampler: pass {name}= or call "
                           f"arrayneedle.distributed.init_process_group() first")
    return getter()


class DistributedSampler:
    """Indices of ``dataset`` for rank ``rank`` of ``num_replicas`` (defaults: the default
    process group's). Iterating yields ``len(self)`` indices, the same count on every rank."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        num_replicas = _default(num_replicas, dist.get_world_size, "num_replicas")
        rank = _default(rank, dist.get_rank, "rank")
        if not isinstance(num_replicas, numbers.Integral) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, "
                             f"got {num_replicas!r}")
        if not isinstance(rank, numbers.Integral) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in "
                             f"the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self._start = 0      # position in the global order where the next pass begins
        self._yielded = 0    # global positions handed out in the pass in progress

    def _global_order(self):
        n = len(self.dataset)
        order = (np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle
                 else np.arange(n))
        if self.drop_last:
            return order[:self.total_size]
        pad = self.total_size - n
        if pad > 0 and n > 0:
            order = np.concatenate([order, np.resize(order, pad)])  # repeats from the start
        return order

    def __iter__(self):
        order = self._global_order()
        start = self._start
        self._start = 0
        mine = order[start + self.rank:self.total_size:self.num_replicas]
        self._yielded = start
        for i in mine.tolist():
            self._yielded += self.num_replicas
            yield i

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Use the order of ``epoch`` from the next iteration on (call it before each epoch;
        every rank must pass the same number). A resume position loaded for another epoch
        is dropped."""
        epoch = int(epoch)
        if epoch != self.epoch:
            self._start = 0
        self.epoch = epoch

    def state_dict(self):
        """Where the pass in progress stands: ``{"epoch", "seed", "position"}``, with
        ``position`` counted in the global order (samples handed out by all ranks together)."""
        return {"epoch": self.epoch, "seed": self.seed, "position": self._yielded}

    def load_state_dict(self, state):
        """Make the next iteration continue at ``state``'s position (on any number of ranks
        that divides it)."""
        try:
            epoch, seed, pos = int(state["epoch"]), int(state["seed"]), int(state["position"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"DistributedSampler.load_state_dict: not a sampler state "
                             f"({e!r})") from None
        if pos < 0 or pos % self.num_replicas:
            raise ValueError(f"DistributedSampler.load_state_dict: position {pos} is not a "
                             f"multiple of num_replicas={self.num_replicas}; resume at a "
                             f"batch boundary with a global batch divisible by the ranks")
        self.epoch, self.seed = epoch, seed
        self._start = self._yielded = pos
