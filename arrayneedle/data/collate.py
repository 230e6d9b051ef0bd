"""Batch assembly: stacking samples into one array per field, and arrays into Tensors."""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Tensor
from ..backend import DTYPES

_INT_FALLBACK = {"int8": "int32", "int16": "int32", "uint16": "int32", "uint32": "int64",
                 "uint64": "int64"}


def collate(items):
    """Stack a list of samples (arrays, numbers, PIL images, or tuples of those)."""
    first = items[0]
    if isinstance(first, (tuple, list)):
        return tuple(collate(list(field)) for field in zip(*items))
    if isinstance(first, (bool, np.bool_)):
        return np.asarray(items, dtype=bool)
    if isinstance(first, numbers.Integral):
        return np.asarray(items, dtype=np.int64)
    if isinstance(first, numbers.Real) and not isinstance(first, np.floating):
        return np.asarray(items, dtype=np.float32)  # Python floats: float32, like Tensor()
    return np.stack([np.asarray(backend.to_numpy(x)) for x in items])


def to_tensor(array, dev):
    a = np.asarray(array)
    name = a.dtype.name
    if name not in DTYPES:
        if name in _INT_FALLBACK:
            a = a.astype(_INT_FALLBACK[name])
        else:
            raise TypeError(f"DataLoader: cannot make a Tensor from a batch of dtype {name}; "
                            f"supported: {', '.join(DTYPES)}")
    return Tensor(np.ascontiguousarray(a), device=dev)
