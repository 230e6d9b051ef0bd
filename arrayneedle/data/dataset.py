"""Datasets: the interface ``DataLoader`` reads, and in-memory arrays.

A dataset has ``__len__`` and ``__getitem__(i)`` returning one NumPy array (or number) or a
tuple of them. It may also offer ``get_batch(indices) -> array | tuple of arrays``: a vectorised
fast path (e.g. fancy indexing of an in-memory array) that ``DataLoader`` uses instead of
``__getitem__`` + stacking.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["Dataset", "ArrayDataset"]


class Dataset:
    """Base class: subclasses implement ``__len__`` and ``__getitem__``.

    ``__getitem__(i)`` returns a NumPy array (or a number), or a tuple of them (e.g.
    ``(image, label)``). Optionally implement ``get_batch(indices)`` returning the stacked
    batch directly (an array, or a tuple of arrays with the batch on axis 0); ``DataLoader``
    then skips the per-item path.
    """

    def __len__(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")


class ArrayDataset(Dataset):
    """In-memory arrays sharing their first axis.

    ``ArrayDataset(x)`` yields ``x[i]``; ``ArrayDataset(x, y, ...)`` yields ``(x[i], y[i], ...)``.
    ``get_batch`` fancy-indexes every array at once.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        arrays = tuple(np.asarray(backend.to_numpy(a.array if isinstance(a, Tensor) else a))
                       for a in arrays)
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
