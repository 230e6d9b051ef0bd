"""Datasets with PyTorch's names and meaning, plus the vectorised fast path.

A map-style dataset has ``__len__`` and ``__getitem__(i)`` returning one sample: an array, a
Tensor, a number, or a tuple/dict of them. It may also offer ``get_batch(indices)``: the batch
already stacked (an array, or a tuple/dict of arrays with the batch on axis 0), e.g. by one fancy
index of an in-memory array. ``DataLoader`` (with the default collation) calls it instead of
``__getitem__`` once per sample + stacking. ``TensorDataset``, ``ArrayDataset``, and ``Subset``
and ``ConcatDataset`` of such datasets offer it.

An ``IterableDataset`` has ``__iter__`` instead (a stream of samples).
"""
from __future__ import annotations

import bisect
import math
import numbers
import warnings

import array_api_compat
import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["Dataset", "IterableDataset", "ArrayDataset", "TensorDataset", "Subset",
           "ConcatDataset", "random_split"]


class Dataset:
    """Base class of map-style datasets: subclasses implement ``__getitem__`` (and ``__len__``).

    ``a + b`` is ``ConcatDataset([a, b])``, as in PyTorch.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of stream datasets: subclasses implement ``__iter__`` (``__len__`` optional).

    ``DataLoader`` reads it in order; it takes no ``shuffle``, ``sampler`` or ``batch_sampler``.
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        raise TypeError("ConcatDataset does not support IterableDataset")


def _raw(a):
    """The raw array of a Tensor, array or nested list (host arrays stay host arrays)."""
    if isinstance(a, Tensor):
        return a.array
    if isinstance(a, np.ndarray) or array_api_compat.is_array_api_obj(a):
        return a
    return np.asarray(a)


class TensorDataset(Dataset):
    """Tensors (or arrays) sharing their first axis; item ``i`` is ``tuple(t[i] for t in
    tensors)``, a tuple of Tensors, so the loader yields a list of batched Tensors (a 1-tuple
    for one tensor, as in PyTorch). ``get_batch`` fancy-indexes every array at once."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self._arrays = tuple(_raw(t) for t in tensors)
        shapes = [tuple(a.shape) for a in self._arrays]
        if any(len(s) == 0 for s in shapes) or any(s[0] != shapes[0][0] for s in shapes):
            raise ValueError(f"Size mismatch between tensors: TensorDataset needs the same "
                             f"length on axis 0, got shapes {shapes}")
        self.tensors = tuple(t if isinstance(t, Tensor) else
                             Tensor._wrap(a, backend.device_of(a))
                             for t, a in zip(tensors, self._arrays))

    def __len__(self):
        return int(self._arrays[0].shape[0])

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def get_batch(self, indices):
        return tuple(_take(a, indices) for a in self._arrays)


def _take(a, indices):
    if isinstance(a, np.ndarray):
        return a[np.asarray(indices, dtype=np.intp)]
    xp = backend.device_of(a).xp
    return xp.take(a, backend.device_of(a).asarray(np.asarray(indices, dtype=np.int64)), axis=0)


class ArrayDataset(Dataset):
    """In-memory arrays sharing their first axis, items as NumPy arrays.

    ``ArrayDataset(x)`` yields ``x[i]`` (so the loader yields bare batches);
    ``ArrayDataset(x, y, ...)`` yields ``(x[i], y[i], ...)`` (the loader yields lists).
    ``get_batch`` fancy-indexes every array at once.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        arrays = tuple(np.asarray(backend.to_numpy(_raw(a))) for a in arrays)
        n = len(arrays[0]) if arrays[0].ndim else None
        for a in arrays:
            if a.ndim == 0 or len(a) != n:
                raise ValueError("ArrayDataset: all arrays need the same length on axis 0, got "
                                 f"shapes {[tuple(a.shape) for a in arrays]}")
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        if len(self.arrays) == 1:
            return self.arrays[0][index]
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices):
        indices = np.asarray(indices, dtype=np.intp)
        if len(self.arrays) == 1:
            return self.arrays[0][indices]
        return tuple(a[indices] for a in self.arrays)


def batch_getter(dataset):
    """The dataset's vectorised ``get_batch``, or None."""
    return getattr(dataset, "get_batch", None)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (in that order)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        self._index = np.asarray(indices, dtype=np.intp).reshape(-1)

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        inner = getattr(self.dataset, "__getitems__", None)
        mapped = [int(i) for i in self._index[np.asarray(indices, dtype=np.intp)]]
        if callable(inner):
            return inner(mapped)
        return [self.dataset[i] for i in mapped]

    @property
    def get_batch(self):
        """``get_batch`` of the parent dataset through the index map (None without one)."""
        inner = batch_getter(self.dataset)
        if inner is None:
            return None
        return lambda indices: inner(self._index[np.asarray(indices, dtype=np.intp)])

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after the other; ``cumulative_sizes[k]`` is the end of dataset ``k``."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        k = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[k - 1] if k > 0 else 0
        return self.datasets[k][idx - start]

    @property
    def get_batch(self):
        """Vectorised when every part has ``get_batch``: one call per part, then one reorder."""
        getters = [batch_getter(d) for d in self.datasets]
        if any(g is None for g in getters):
            return None
        return lambda indices: self._get_batch(getters, indices)

    def _get_batch(self, getters, indices):
        idx = np.asarray(indices, dtype=np.intp)
        idx = np.where(idx < 0, idx + len(self), idx)
        ends = np.asarray(self.cumulative_sizes)
        part = np.searchsorted(ends, idx, side="right")
        order = np.argsort(part, kind="stable")
        starts = np.concatenate([[0], ends[:-1]])
        pieces = [getters[k](idx[part == k] - starts[k]) for k in np.unique(part)]
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return _concat_reorder(pieces, inverse)


def _concat_reorder(pieces, inverse):
    first = pieces[0]
    if isinstance(first, dict):
        return {k: _concat_reorder([p[k] for p in pieces], inverse) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_concat_reorder(list(f), inverse) for f in zip(*pieces))
    if isinstance(first, np.ndarray):
        return np.concatenate(pieces)[inverse]
    xp = backend.device_of(first).xp
    return xp.take(xp.concat(pieces), backend.device_of(first).asarray(inverse), axis=0)


def _generator_or_global(generator):
    if generator is None:
        return backend.cpu().rng
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"generator must be a numpy.random.Generator or None, got "
                        f"{type(generator).__name__}")
    return generator


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given lengths.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (each part
    gets ``floor(n * f)``, then the remainder goes one by one to the parts in order, as in
    PyTorch). ``generator``: a ``numpy.random.Generator``; default: the global CPU generator
    (so ``arrayneedle.manual_seed`` makes the split reproducible).
    """
    lengths = list(lengths)
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(int(math.floor(n * frac)))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, s in enumerate(sizes):
            if s == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              f"empty dataset.", stacklevel=2)
        lengths = sizes
    if any(not isinstance(k, numbers.Integral) or k < 0 for k in lengths):
        raise ValueError(f"lengths must be non-negative integers or fractions summing to 1, "
                         f"got {lengths}")
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = _generator_or_global(generator).permutation(n).tolist()
    ends = np.cumsum(lengths).tolist()
    return [Subset(dataset, perm[end - k:end]) for end, k in zip(ends, lengths)]
