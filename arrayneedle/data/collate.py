"""Batch assembly with PyTorch's rules (``default_collate`` / ``default_convert``).

``default_collate(samples)`` stacks a list of samples into a batch:

- arrays (NumPy, CuPy, any array-API array) and Tensors -> one Tensor, stacked on a new axis 0,
  dtype kept, on the device the arrays live on;
- Python ``int`` -> int64, Python ``float`` -> float64 (PyTorch's ``default_collate`` rule,
  unlike ``tensor()``, which makes float32), ``bool`` -> bool; NumPy scalars keep their dtype;
- ``str`` / ``bytes`` -> the list as it is;
- a dict -> a dict of batches (same keys), a named tuple -> the same named tuple of batches,
  any other tuple or list -> a **list** of batches (a 1-tuple sample gives a 1-element list);
- anything else (``None``, PIL images, ...) -> ``TypeError``.

``default_convert`` (used when automatic batching is off, ``batch_size=None``) turns arrays into
Tensors and leaves numbers, strings and containers' structure alone (tuples become lists).
"""
from __future__ import annotations

import collections.abc
import numbers

import array_api_compat
import numpy as np

from .. import backend
from ..autograd import Tensor
from ..backend import DTYPES
from ..dtypes import is_array

__all__ = ["default_collate", "default_convert"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")
# dtypes a Tensor cannot hold, widened to the nearest one that holds every value
_INT_FALLBACK = {"int8": "int32", "int16": "int32", "uint16": "int32", "uint32": "int64",
                 "uint64": "int64"}


def _is_array_leaf(x):
    """An array of any library, not a NumPy scalar (a number here) nor a Tensor."""
    return is_array(x) and not isinstance(x, (Tensor, np.generic))


def as_tensor(array):
    """A Tensor over ``array`` (no copy where the dtype is supported), on the array's device.

    Integer dtypes a Tensor lacks (int8, int16, uint16, uint32, uint64) are widened; other
    unsupported dtypes (strings, objects, complex) raise a ``TypeError`` naming the dtype.
    """
    if isinstance(array, Tensor):
        return array
    if isinstance(array, (np.ndarray, np.generic)):
        a = np.asarray(array)
        name = a.dtype.name
        if name not in DTYPES:
            if name not in _INT_FALLBACK:
                raise TypeError(f"cannot make a Tensor from an array of dtype {name}; "
                                f"supported: {', '.join(DTYPES)}")
            a = a.astype(_INT_FALLBACK[name])
        if not a.flags.c_contiguous:
            a = np.array(a, order="C")
        return Tensor._wrap(a, backend.cpu())
    dev = backend.device_of(array)
    return Tensor(array, device=dev)


def _stack_arrays(arrays):
    first = arrays[0]
    if isinstance(first, np.ndarray):
        if first.dtype.kind in "SUaO":
            raise TypeError(_ERR.format(first.dtype))
        return as_tensor(np.stack([np.asarray(a) for a in arrays]))
    xp = array_api_compat.array_namespace(*arrays)
    return as_tensor(xp.stack(arrays))


def default_collate(batch):
    """Stack a list of samples into a batch of Tensors (see the module docstring)."""
    if not isinstance(batch, collections.abc.Sequence) or isinstance(batch, (str, bytes)):
        raise TypeError(f"default_collate: expected a list of samples, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty list of samples")
    elem = batch[0]
    if isinstance(elem, Tensor):
        xp = elem.xp
        return Tensor._wrap(xp.stack([t.array for t in batch]), elem.device)
    if _is_array_leaf(elem):
        return _stack_arrays(batch)
    if isinstance(elem, np.generic):
        if elem.dtype.kind in "SUaO":
            raise TypeError(_ERR.format(elem.dtype))
        return as_tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return as_tensor(np.asarray(batch, dtype=bool))
    if isinstance(elem, numbers.Integral):
        return as_tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return as_tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(out)
        except TypeError:  # a mapping type that cannot be built from a dict
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # named tuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """Arrays -> Tensors inside ``data``; numbers and strings stay; tuples become lists."""
    if isinstance(data, Tensor):
        return data
    if _is_array_leaf(data):
        if isinstance(data, np.ndarray) and data.dtype.kind in "SUaO":
            return data
        return as_tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "SUaO":
        return as_tensor(data)
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(out)
        except TypeError:
            return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data


def stack(items):
    """Stack per-sample arrays (or numbers) into one host or device array (no Tensor)."""
    first = items[0]
    if isinstance(first, Tensor):
        return first.xp.stack([t.array for t in items])
    if _is_array_leaf(first) and not isinstance(first, np.ndarray):
        return array_api_compat.array_namespace(*items).stack(items)
    return np.stack([np.asarray(x) for x in items])


def batch_to_tensors(batch):
    """A batch a dataset assembled itself (``get_batch``): arrays -> Tensors, with the structure
    ``default_collate`` gives (a tuple of fields -> a list, a dict -> a dict)."""
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, collections.abc.Mapping):
        return {k: batch_to_tensors(v) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(batch_to_tensors(v) for v in batch))
    if isinstance(batch, (tuple, list)):
        return [batch_to_tensors(v) for v in batch]
    if isinstance(batch, (str, bytes)):
        return batch
    if _is_array_leaf(batch) or isinstance(batch, np.generic):
        return as_tensor(batch)
    raise TypeError(f"get_batch must return arrays (or a tuple/dict of arrays), got "
                    f"{type(batch).__name__}")


def to_device(batch, dev):
    """Move every Tensor inside ``batch`` to ``dev`` (structure kept)."""
    if isinstance(batch, Tensor):
        return batch if batch.device is dev else Tensor._wrap(
            backend.to_device(batch.array, dev), dev)
    if isinstance(batch, dict):
        return {k: to_device(v, dev) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, dev) for v in batch))
    if isinstance(batch, list):
        return [to_device(v, dev) for v in batch]
    if isinstance(batch, tuple):
        return tuple(to_device(v, dev) for v in batch)
    return batch
