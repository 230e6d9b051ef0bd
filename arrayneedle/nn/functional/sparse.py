"""embedding and one_hot with torch.nn.functional's signatures."""
from __future__ import annotations

import math

from ...autograd import Tensor
from ...backend import dtype_name
from ...ops._util import check_index_range
from ...ops.shape import Take

__all__ = ["embedding", "one_hot"]


def _index(name, input, dev):
    idx = input if isinstance(input, Tensor) else Tensor(input, device=dev)
    if dtype_name(idx.dtype) not in ("int64", "int32", "uint8"):
        raise TypeError(f"{name}: indices must be an integer tensor, got {dtype_name(idx.dtype)}")
    return idx


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, dim) at the integer ``input`` (any shape); the
    result has shape ``input.shape + (dim,)``. The ``padding_idx`` row gets no gradient."""
    idx = _index("embedding", input, weight.device)
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for "
                             f"{n} embeddings")
        padding_idx %= n
    check_index_range("embedding", idx.array, n, 0, exc=IndexError,
                      message=f"embedding: index {{}} is out of range for {n} embeddings "
                              f"(rows 0..{n - 1} of weight)")
    return Take.apply(weight, indices=idx.array, axis=0, padding_idx=padding_idx)


def one_hot(tensor, num_classes=-1):
    """int64 one-hot vectors of the integer ``tensor`` along a new last axis of
    ``num_classes`` (one more than the largest class when -1)."""
    idx = _index("one_hot", tensor, None)
    xp = idx.device.xp
    empty = math.prod(idx.shape) == 0
    if empty and num_classes == -1:
        raise ValueError("one_hot: cannot infer num_classes of an empty tensor")
    if not empty and int(xp.min(idx.array)) < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if num_classes == -1:
        num_classes = int(xp.max(idx.array)) + 1
    elif not empty and int(xp.max(idx.array)) >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                         f"({num_classes})")
    classes = xp.arange(int(num_classes), dtype=idx.array.dtype)
    return Tensor._wrap(xp.astype(idx.array[..., None] == classes, xp.int64), idx.device)
