"""Samplers: the order in which a map-style dataset is read, with PyTorch's names and rules.

``generator`` arguments take a ``numpy.random.Generator``. Left at ``None``, a random sampler
draws a fresh seed from the global CPU generator at the start of every pass (PyTorch draws from
its global generator the same way), so ``arrayneedle.manual_seed`` makes it reproducible.

Our samplers produce a whole pass as one NumPy index array (``_indices``), so ``BatchSampler``
and ``DataLoader`` cut batches with array slicing rather than a Python loop per index; iterating
them still yields Python ints (and ``BatchSampler`` lists of ints), as in PyTorch.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


def _pass_generator(generator):
    if generator is None:
        return np.random.default_rng(int(backend.cpu().rng.integers(2 ** 63)))
    return generator


def _check_generator(generator):
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"generator must be a numpy.random.Generator or None, got "
                        f"{type(generator).__name__}")
    return generator


def positive_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


class Sampler:
    """Base class: subclasses implement ``__iter__`` (indices) and usually ``__len__``."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _indices(self):
        return np.arange(len(self.data_source))

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the dataset; ``replacement=True`` draws ``num_samples`` indices
    independently. Without replacement and ``num_samples > len(data_source)``, whole
    permutations follow one another (the last one cut), as in PyTorch."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _check_generator(generator)
        positive_int(self.num_samples, "num_samples")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self):
        n, k = len(self.data_source), self.num_samples
        g = _pass_generator(self.generator)
        if self.replacement and k > LAZY_DRAWS:
            return DrawnIndices(n, k, int(g.integers(2 ** 63)))
        if self.replacement:
            return g.integers(0, n, size=k)
        parts = [g.permutation(n) for _ in range(k // n)]
        if k % n:
            parts.append(g.permutation(n)[:k % n])
        return np.concatenate(parts)

    def __iter__(self):
        idx = self._indices()
        return iter(idx) if isinstance(idx, DrawnIndices) else iter(idx.tolist())

    def __len__(self):
        return self.num_samples


LAZY_DRAWS = 1 << 24  # more draws than this with replacement are made on demand


class DrawnIndices:
    """``k`` independent draws from ``[0, n)``, made block by block on demand from one seed
    per pass: a pass of 10**10 draws (the "endless" sampler of minGPT's trainer) costs nothing
    up front, and any part of it can be made again (exact resume by batch number)."""

    BLOCK = 1 << 16

    def __init__(self, n, k, seed):
        self.n, self.k, self.seed = n, k, seed

    def __len__(self):
        return self.k

    def _block(self, i):
        return np.random.default_rng([self.seed, i]).integers(0, self.n, self.BLOCK)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.k)
            if step != 1:
                raise ValueError("DrawnIndices: only contiguous slices")
            if stop <= start:
                return np.zeros(0, np.int64)
            first, last = start // self.BLOCK, (stop - 1) // self.BLOCK
            drawn = np.concatenate([self._block(i) for i in range(first, last + 1)])
            return drawn[start - first * self.BLOCK:stop - first * self.BLOCK]
        i = int(key) % self.k if -self.k <= int(key) < self.k else None
        if i is None:
            raise IndexError(f"draw {key} out of range for {self.k} draws")
        return int(self._block(i // self.BLOCK)[i % self.BLOCK])

    def __iter__(self):
        for i in range(0, self.k, self.BLOCK):
            yield from self[i:min(i + self.BLOCK, self.k)].tolist()


class _LazyBatches:
    """Batch ``b`` of ``DrawnIndices``, made when asked for."""

    def __init__(self, idx, batch_size, count):
        self.idx, self.batch_size, self.count = idx, batch_size, count

    def __len__(self):
        return self.count

    def __getitem__(self, b):
        return self.idx[b * self.batch_size:(b + 1) * self.batch_size]


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a new one each pass)."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = _check_generator(generator)

    def _indices(self):
        perm = _pass_generator(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices)[perm] if len(perm) else np.zeros(0, np.int64)

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in ``[0, len(weights))`` drawn with probability proportional to
    ``weights`` (with replacement by default)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        num_samples = positive_int(num_samples, "num_samples")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got "
                             f"replacement={replacement!r}")
        w = np.asarray(backend.to_numpy(getattr(weights, "array", weights)), dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"cannot sample num_samples={num_samples} without replacement from "
                             f"{np.count_nonzero(w)} non-zero weights")
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = _check_generator(generator)

    def _indices(self):
        g = _pass_generator(self.generator)
        return g.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                        p=self.weights / self.weights.sum())

    def __iter__(self):
        idx = self._indices()
        return iter(idx) if isinstance(idx, DrawnIndices) else iter(idx.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``)."""

    def __init__(self, sampler, batch_size, drop_last):
        self.batch_size = positive_int(batch_size, "batch_size")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got "
                             f"drop_last={drop_last!r}")
        self.sampler = sampler
        self.drop_last = drop_last

    def _batches(self):
        """One pass as a list of index arrays (sliced from one array where the sampler gives
        one)."""
        bs = self.batch_size
        idx = _vector_indices(self.sampler)
        if idx is None:
            idx = np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(idx) // bs if self.drop_last else -(-len(idx) // bs)
        if isinstance(idx, DrawnIndices):
            return _LazyBatches(idx, bs, n)
        return [idx[b * bs:(b + 1) * bs] for b in range(n)]

    def __iter__(self):
        batches = self._batches()
        return (batches[b].tolist() for b in range(len(batches)))

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def epoch_batches(batch_sampler):
    """One pass of any batch sampler as a list of index sequences (vectorised for ours)."""
    if isinstance(batch_sampler, BatchSampler) and \
            type(batch_sampler).__iter__ is BatchSampler.__iter__:
        return batch_sampler._batches()
    return [list(b) for b in batch_sampler]


def epoch_indices(sampler):
    """One pass of any sampler as a list of indices."""
    idx = _vector_indices(sampler)
    if isinstance(idx, DrawnIndices):
        return idx
    return list(sampler) if idx is None else idx.tolist()


def _vector_indices(sampler):
    """One pass of one of our samplers as an index array; None for any other sampler (or a
    subclass of ours that changes ``__iter__``)."""
    make = getattr(sampler, "_indices", None)
    if make is None or getattr(type(sampler).__iter__, "__module__", None) != __name__:
        return None
    idx = make()
    return idx if isinstance(idx, DrawnIndices) else np.asarray(idx)
