"""Ops that select by position: max/min (PyTorch's three forms), argmax/argmin, topk, sort,
argsort, and gather (the differentiable take-along-an-axis they share)."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .._helpers import as_tensor, same_device
from ..autograd import Function, Tensor
from ..backend import dtype_name
from . import return_types
from ._util import check_index_range, dim_arg, keep_arg, one_axis
from .elementwise import maximum, minimum, negative
from .reduce import amax
from .shape import TakeAdjoint, squeeze

__all__ = ["max", "min", "argmax", "argmin", "topk", "sort", "argsort", "gather"]


def _linear_index(xp, shape, index, axis):
    """Flat positions in an array of ``shape`` (C order) of ``index`` along ``axis``: entry
    ``[i0, .., ik, ..]`` of the result addresses ``[i0, .., index[i0, .., ik, ..], ..]``."""
    ndim = len(shape)
    lin = xp.astype(index, xp.int64) * _stride(shape, axis)
    for d in range(ndim):
        if d != axis:
            n = index.shape[d]
            coord = xp.reshape(xp.arange(n, dtype=xp.int64),
                               (1,) * d + (n,) + (1,) * (ndim - d - 1))
            lin = lin + coord * _stride(shape, d)
    return xp.reshape(lin, (-1,))


def _stride(shape, d):
    s = 1
    for n in shape[d + 1:]:
        s *= n
    return s


class Gather(Function):
    """out[..., i, ...] = a[..., index[..., i, ...], ...] along ``axis``; the gradient is
    scatter-added back (repeated indices accumulate)."""

    keeps_inputs = False

    def forward(self, a, index, axis):
        xp = array_namespace(a)
        self.shape = a.shape
        self.lin = _linear_index(xp, a.shape, index, axis)
        flat = xp.take(xp.reshape(a, (-1,)), self.lin)
        return xp.reshape(flat, tuple(index.shape))

    def backward(self, g):
        n = math.prod(self.shape)
        return TakeAdjoint.apply(g.reshape(-1), indices=self.lin, axis=0,
                                 shape=(n,)).reshape(self.shape)


def _gather_raw(a: Tensor, index_array, axis):
    return Gather.apply(a, index=index_array, axis=axis)


def gather(input, dim, index):
    """PyTorch's gather: ``out[i][j] = input[index[i][j]][j]`` for ``dim=0`` (and so on).
    ``index`` has ``input``'s number of dimensions and no larger size outside ``dim``."""
    a = as_tensor(input)
    idx = index if isinstance(index, Tensor) else Tensor(index, device=a._device)
    same_device("gather", (a, idx))
    ax = one_axis(dim, a.ndim, "gather")
    if idx.ndim != a.ndim or any(i > s for d, (i, s) in enumerate(zip(idx.shape, a.shape))
                                 if d != ax):
        raise ValueError(f"gather: index of shape {idx.shape} does not fit input of shape "
                         f"{a.shape} outside dim {ax} (same number of dimensions, no larger "
                         f"sizes expected)")
    if dtype_name(idx.dtype) not in ("int64", "int32", "uint8"):
        raise TypeError(f"gather: index must be an integer tensor, got {idx.dtype}")
    check_index_range("gather", idx.array, a.shape[ax], ax)
    return _gather_raw(a, idx.array, ax)


def _values_indices(kind, a, idx_array, ax, keepdim):
    values = _gather_raw(a, idx_array, ax)
    indices = Tensor._wrap(idx_array, a._device)
    if not keepdim:
        values, indices = squeeze(values, ax), squeeze(indices, ax)
    return getattr(return_types, kind)(values, indices)


def _extreme(kind, input, dim, keepdim, other, axis, keepdims):
    a = as_tensor(input)
    if isinstance(dim, Tensor):  # max(a, b): elementwise
        other, dim = dim, None
    if other is not None:
        return (maximum if kind == "max" else minimum)(a, other)
    dim = dim_arg(dim, axis, kind)
    if dim is None:
        return amax(a) if kind == "max" else negative(amax(negative(a)))
    xp = a._device.xp
    ax = one_axis(dim, a.ndim, kind)
    arg = xp.argmax if kind == "max" else xp.argmin
    idx = arg(a.array, axis=ax, keepdims=True) if a.ndim else xp.zeros((), dtype=xp.int64)
    idx = xp.astype(idx, xp.int64)
    if a.ndim == 0:
        return getattr(return_types, kind)(a, Tensor._wrap(idx, a._device))
    return _values_indices(kind, a, idx, ax, keep_arg(keepdim, keepdims))


def max(input, dim=None, keepdim=False, *, other=None, axis=None, keepdims=None):
    """As torch.max: ``max(x)`` the largest element (0-d; tied maxima share the gradient);
    ``max(x, dim, keepdim=False)`` a named tuple ``(values, indices)`` (the first maximum of
    each row; the gradient goes to it); ``max(x, y)`` the elementwise maximum."""
    return _extreme("max", input, dim, keepdim, other, axis, keepdims)


def min(input, dim=None, keepdim=False, *, other=None, axis=None, keepdims=None):
    """As torch.min (see ``max``)."""
    return _extreme("min", input, dim, keepdim, other, axis, keepdims)


def _arg(kind, input, dim, keepdim, axis, keepdims):
    a = as_tensor(input)
    xp = a._device.xp
    fn = xp.argmax if kind == "argmax" else xp.argmin
    dim = dim_arg(dim, axis, kind)
    keep = keep_arg(keepdim, keepdims)
    if dim is None:
        out = fn(xp.reshape(a.array, (-1,)))
        if keep:
            out = xp.reshape(out, (1,) * a.ndim)
    else:
        out = fn(a.array, axis=one_axis(dim, a.ndim, kind), keepdims=keep)
    return Tensor._wrap(xp.astype(out, xp.int64), a._device)


def argmax(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Index of the (first) maximum: of the flattened tensor when ``dim`` is None (int64)."""
    return _arg("argmax", input, dim, keepdim, axis, keepdims)


def argmin(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    return _arg("argmin", input, dim, keepdim, axis, keepdims)


def _argsort_array(a: Tensor, ax, descending, stable=True):
    xp = a._device.xp
    return xp.astype(xp.argsort(a.array, axis=ax, descending=descending, stable=stable), xp.int64)


def argsort(input, dim=-1, descending=False, stable=False):
    """Indices that sort ``input`` along ``dim`` (int64). The sort is always stable."""
    a = as_tensor(input)
    if a.ndim == 0:
        return Tensor._wrap(a._device.xp.zeros((), dtype=a._device.xp.int64), a._device)
    return Tensor._wrap(_argsort_array(a, one_axis(dim, a.ndim, "argsort"), descending),
                        a._device)


def sort(input, dim=-1, descending=False, stable=False):
    """``(values, indices)`` sorted along ``dim``; values are differentiable. Equal elements
    keep their order (the sort is always stable, which ``stable=False`` permits)."""
    a = as_tensor(input)
    if a.ndim == 0:
        return return_types.sort(a, argsort(a))
    ax = one_axis(dim, a.ndim, "sort")
    return _values_indices("sort", a, _argsort_array(a, ax, descending), ax, True)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` as
    ``(values, indices)``, in sorted order; values are differentiable."""
    a = as_tensor(input)
    ax = one_axis(dim, a.ndim, "topk")
    n = a.shape[ax] if a.ndim else 1
    if not 0 <= int(k) <= n:
        raise ValueError(f"topk: k={k} is out of range for dim {ax} of size {n}")
    if a.ndim == 0:
        return return_types.topk(a, argsort(a))
    order = _argsort_array(a, ax, descending=largest)
    idx = order[(slice(None),) * ax + (slice(0, int(k)), Ellipsis)]
    return _values_indices("topk", a, idx, ax, True)
