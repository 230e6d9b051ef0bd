"""``median``: PyTorch's lower median (the smaller middle value for an even count), of all
elements (a 0-d tensor) or along ``dim`` as ``(values, indices)``; values are differentiable
(the gradient goes to the element chosen)."""
from __future__ import annotations

from collections import namedtuple

from .._helpers import as_tensor
from . import shape, sorting

__all__ = ["median"]

median_result = namedtuple("median", ["values", "indices"])


def median(input, dim=None, keepdim=False):
    a = as_tensor(input)
    if dim is None:
        flat = shape.reshape(a, (-1,))
        if flat.shape[0] == 0:
            raise IndexError("median() of an empty tensor")
        values, _ = sorting.sort(flat)
        return values[(flat.shape[0] - 1) // 2]
    if a.ndim == 0:
        return median_result(a, sorting.argsort(a))
    d = dim % a.ndim
    values, indices = sorting.sort(a, d)
    k = (a.shape[d] - 1) // 2
    index = tuple(slice(None) for _ in range(d)) + (slice(k, k + 1),)
    v, i = values[index], indices[index]
    if not keepdim:
        v, i = shape.squeeze(v, d), shape.squeeze(i, d)
    return median_result(v, i)
