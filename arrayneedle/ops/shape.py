"""Shape ops: reshape, broadcast_to, permute, flip, stack, concat, split, pad, getitem, take
(and flatten, unsqueeze, squeeze, transpose on top of reshape and permute)."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor, same_device, shape_arg
from ..autograd import Function, Tensor
from ._util import unbroadcast

__all__ = ["reshape", "broadcast_to", "permute", "transpose", "flip", "stack", "concat", "split",
           "pad", "getitem", "take", "flatten", "unsqueeze", "squeeze"]


class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return array_namespace(a).reshape(a, shape)

    def backward(self, g):
        return array_namespace(g).reshape(g, self.shape)


class BroadcastTo(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return array_namespace(a).broadcast_to(a, shape)

    def backward(self, g):
        return unbroadcast(g, self.shape)


class Permute(Function):
    def forward(self, a, axes):
        self.inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i]))
        return array_namespace(a).permute_dims(a, axes)

    def backward(self, g):
        return array_namespace(g).permute_dims(g, self.inverse)


class Flip(Function):
    def forward(self, a, axis):
        self.axis = axis
        return array_namespace(a).flip(a, axis=axis)

    def backward(self, g):
        return array_namespace(g).flip(g, axis=self.axis)


class Concat(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return array_namespace(*arrays).concat(arrays, axis=axis)

    def backward(self, g):
        out, start = [], 0
        ax = self.axis % g.ndim
        for n, need in zip(self.sizes, self.needs_input_grad):
            idx = (slice(None),) * ax + (slice(start, start + n), Ellipsis)
            out.append(g[idx] if need else None)
            start += n
        return tuple(out)


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return array_namespace(*arrays).stack(arrays, axis=axis)

    def backward(self, g):
        ax = self.axis % g.ndim
        return tuple(g[(slice(None),) * ax + (i, Ellipsis)] if need else None
                     for i, need in enumerate(self.needs_input_grad))


class Pad(Function):
    """Constant padding; ``pad_width`` is ((before, after), ...) per axis, like numpy.pad."""

    def forward(self, a, pad_width, value=0.0):
        xp = array_namespace(a)
        shape = tuple(s + lo + hi for s, (lo, hi) in zip(a.shape, pad_width))
        self.index = tuple(slice(lo, lo + s) for s, (lo, _) in zip(a.shape, pad_width))
        out = xp.full(shape, value, dtype=a.dtype) if value else xp.zeros(shape, dtype=a.dtype)
        out[self.index] = a
        return out

    def backward(self, g):
        return g[self.index]


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    """x[index]: basic slicing, or integer-array indexing (gradient scatter-added)."""

    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g):
        xp = array_namespace(g)
        if _is_basic(self.index):
            out = xp.zeros(self.shape, dtype=self.dtype)
            out[self.index] = g
            return out
        return kernels.index_add(self.shape, self.index, g)


class Take(Function):
    """take(x, indices, axis): rows gathered by an integer array (as Embedding needs)."""

    def forward(self, a, indices, axis=0):
        xp = array_namespace(a)
        self.shape, self.axis, self.indices = a.shape, axis % a.ndim, indices
        flat = xp.reshape(indices, (-1,))
        out = xp.take(a, flat, axis=self.axis)
        return xp.reshape(out, a.shape[:self.axis] + tuple(indices.shape) + a.shape[self.axis + 1:])

    def backward(self, g):
        xp = array_namespace(g)
        ax = self.axis
        flat = xp.reshape(self.indices, (-1,))
        g = xp.reshape(g, self.shape[:ax] + (flat.shape[0],) + self.shape[ax + 1:])
        if ax != 0:
            g = xp.moveaxis(g, ax, 0)
        shape0 = (self.shape[ax],) + self.shape[:ax] + self.shape[ax + 1:]
        out = kernels.index_add(shape0, flat, g)
        return xp.moveaxis(out, 0, ax) if ax != 0 else out


# ---------------------------------------------------------------- public wrappers
def reshape(a, *shape):
    a = as_tensor(a)
    shape = shape_arg(shape)
    if shape == a.shape:
        return a
    known = math.prod(s for s in shape if s != -1)
    if (-1 not in shape and known != a.numel()) or (-1 in shape and (known == 0 or a.numel() % known)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                         f"({a.numel()} elements) into {shape}")
    return Reshape.apply(a, shape=shape)


def flatten(a, start_dim=0, end_dim=-1):
    a = as_tensor(a)
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = start_dim % a.ndim, end_dim % a.ndim
    return reshape(a, a.shape[:s] + (math.prod(a.shape[s:e + 1]),) + a.shape[e + 1:])


def unsqueeze(a, axis):
    a = as_tensor(a)
    axis = axis % (a.ndim + 1)
    return reshape(a, a.shape[:axis] + (1,) + a.shape[axis:])


def squeeze(a, axis=None):
    a = as_tensor(a)
    if axis is None:
        return reshape(a, tuple(s for s in a.shape if s != 1))
    axis = axis % a.ndim
    if a.shape[axis] != 1:
        return a
    return reshape(a, a.shape[:axis] + a.shape[axis + 1:])


def broadcast_to(a, *shape):
    a = as_tensor(a)
    shape = shape_arg(shape)
    if shape == a.shape:
        return a
    ok = len(shape) >= a.ndim and all(
        s == d or s == 1 for s, d in zip(a.shape[::-1], shape[::-1]))
    if not ok:
        raise ValueError(f"broadcast_to: cannot broadcast shape {a.shape} to {shape}")
    return BroadcastTo.apply(a, shape=shape)


def permute(a, *axes):
    a = as_tensor(a)
    axes = shape_arg(axes)
    if sorted(ax % a.ndim for ax in axes) != list(range(a.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {a.ndim} axes")
    axes = tuple(ax % a.ndim for ax in axes)
    if axes == tuple(range(a.ndim)):
        return a
    return Permute.apply(a, axes=axes)


def transpose(a, dim0=-2, dim1=-1):
    """Swap two axes (by default the last two, as needle's transpose)."""
    a = as_tensor(a)
    axes = list(range(a.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return permute(a, tuple(axes))


def flip(a, axis=None):
    return Flip.apply(as_tensor(a), axis=axis)


def concat(tensors, axis=0):
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concat: need at least one tensor")
    same_device("concat", tensors)
    ref = tensors[0].shape
    ax = axis % len(ref)
    for t in tensors[1:]:
        if t.ndim != len(ref) or any(
                s != r for i, (s, r) in enumerate(zip(t.shape, ref)) if i != ax):
            raise ValueError(f"concat: shapes {ref} and {t.shape} differ outside axis {axis}")
    return Concat.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    same_device("stack", tensors)
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: all tensors need the same shape, got {tensors[0].shape} "
                             f"and {t.shape}")
    return Stack.apply(*tensors, axis=axis)


def split(a, sections, axis=0):
    """Split into ``sections`` equal parts (an int) or at the given indices (a list)."""
    a = as_tensor(a)
    n = a.shape[axis]
    ax = axis % a.ndim
    if isinstance(sections, int):
        if n % sections:
            raise ValueError(f"split: axis {axis} of length {n} does not divide into "
                             f"{sections} equal parts")
        bounds = [i * (n // sections) for i in range(sections + 1)]
    else:
        bounds = [0] + [int(i) for i in sections] + [n]
    return [getitem(a, (slice(None),) * ax + (slice(lo, hi), Ellipsis))
            for lo, hi in zip(bounds[:-1], bounds[1:])]


def pad(a, pad_width, value=0.0):
    """Constant padding; ``pad_width`` is ((before, after), ...) per axis as numpy.pad."""
    a = as_tensor(a)
    pw = tuple((int(lo), int(hi)) for lo, hi in pad_width)
    if len(pw) != a.ndim or any(lo < 0 or hi < 0 for lo, hi in pw):
        raise ValueError(f"pad: need one non-negative (before, after) pair per axis of "
                         f"{a.shape}, got {pad_width}")
    return Pad.apply(a, pad_width=pw, value=value)


def _raw_index(index, dev):
    if isinstance(index, tuple):
        return tuple(_raw_index(i, dev) for i in index)
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, list):
        return dev.asarray(index)
    return index


def getitem(a, index):
    a = as_tensor(a)
    return GetItem.apply(a, index=_raw_index(index, a._device))


def take(a, indices, axis=0):
    """Gather along ``axis`` by an integer tensor of any shape (the shape replaces that axis)."""
    a = as_tensor(a)
    idx = indices.array if isinstance(indices, Tensor) else a._device.asarray(indices)
    return Take.apply(a, indices=idx, axis=axis)
