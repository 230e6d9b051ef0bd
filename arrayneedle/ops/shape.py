"""Shape ops: reshape, broadcast_to, permute, flip, stack, concat/cat, split/chunk/tensor_split,
pad, getitem, take/index_select (and flatten, unsqueeze, squeeze, transpose on top of reshape
and permute), with PyTorch's ``dim`` arguments (the array API's ``axis`` as an alias)."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor, same_device, shape_arg
from ..autograd import Function, Tensor
from ._util import (adjoint, check_array_index, check_index_range, dim_arg, one_axis,
                    unbroadcast)

__all__ = ["reshape", "broadcast_to", "permute", "transpose", "flip", "stack", "concat", "cat",
           "split", "chunk", "tensor_split", "pad", "getitem", "take", "index_select", "flatten",
           "unsqueeze", "squeeze"]


class Reshape(Function):
    keeps_inputs = False
    is_view = True

    def forward(self, a, shape):
        self.shape = a.shape
        return array_namespace(a).reshape(a, shape)

    def backward(self, g):
        return adjoint(Reshape, g, shape=self.shape)


class BroadcastTo(Function):
    keeps_inputs = False
    is_view = True

    def forward(self, a, shape):
        self.shape = a.shape
        return array_namespace(a).broadcast_to(a, shape)

    def backward(self, g):
        return unbroadcast(g, self.shape)


class Permute(Function):
    keeps_inputs = False
    is_view = True

    def forward(self, a, axes):
        self.inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i]))
        return array_namespace(a).permute_dims(a, axes)

    def backward(self, g):
        return adjoint(Permute, g, axes=self.inverse)


class Flip(Function):
    keeps_inputs = False
    is_view = True

    def forward(self, a, axis):
        self.axis = axis
        return array_namespace(a).flip(a, axis=axis)

    def backward(self, g):
        return adjoint(Flip, g, axis=self.axis)


class Concat(Function):
    keeps_inputs = False

    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return array_namespace(*arrays).concat(arrays, axis=axis)

    def backward(self, g):
        out, start = [], 0
        ax = self.axis % g.ndim
        for n, need in zip(self.sizes, self.needs_input_grad):
            idx = (slice(None),) * ax + (slice(start, start + n), Ellipsis)
            out.append(adjoint(GetItem, g, index=idx) if need else None)
            start += n
        return tuple(out)


class Stack(Function):
    keeps_inputs = False

    def forward(self, *arrays, axis=0):
        self.axis = axis
        return array_namespace(*arrays).stack(arrays, axis=axis)

    def backward(self, g):
        ax = self.axis % g.ndim
        return tuple(adjoint(GetItem, g, index=(slice(None),) * ax + (i, Ellipsis)) if need
                     else None for i, need in enumerate(self.needs_input_grad))


class Pad(Function):
    """Constant padding; ``pad_width`` is ((before, after), ...) per axis, like numpy.pad."""

    keeps_inputs = False

    def forward(self, a, pad_width, value=0.0):
        xp = array_namespace(a)
        self.pad_width = pad_width
        shape = tuple(s + lo + hi for s, (lo, hi) in zip(a.shape, pad_width))
        self.index = tuple(slice(lo, lo + s) for s, (lo, _) in zip(a.shape, pad_width))
        out = xp.full(shape, value, dtype=a.dtype) if value else xp.zeros(shape, dtype=a.dtype)
        out[self.index] = a
        return out

    def backward(self, g):
        return adjoint(GetItem, g, index=self.index)


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    """x[index]: basic slicing (a view), or integer-array indexing."""

    keeps_inputs = False

    def forward(self, a, index):
        self.shape, self.index = a.shape, index
        self.is_view = _is_basic(index)
        return a[index]

    def backward(self, g):
        return adjoint(IndexAdd, g, index=self.index, shape=self.shape)


class IndexAdd(Function):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated integer indices accumulate):
    the adjoint of ``x[index]``, whose own adjoint is ``x[index]`` again."""

    keeps_inputs = False

    def forward(self, g, index, shape):
        self.index = index
        if _is_basic(index):
            out = array_namespace(g).zeros(shape, dtype=g.dtype)
            out[index] = g
            return out
        return kernels.index_add(shape, index, g)

    def backward(self, gg):
        return GetItem.apply(gg, index=self.index)


class Take(Function):
    """take(x, indices, axis): slices along ``axis`` gathered by an integer array (as
    Embedding needs); with ``padding_idx`` that slice gets no gradient."""

    keeps_inputs = False

    def forward(self, a, indices, axis=0, padding_idx=None):
        xp = array_namespace(a)
        self.shape, self.axis, self.indices = a.shape, axis % a.ndim, indices
        self.padding_idx = padding_idx
        flat = xp.reshape(indices, (-1,))
        out = xp.take(a, flat, axis=self.axis)
        return xp.reshape(out, a.shape[:self.axis] + tuple(indices.shape) + a.shape[self.axis + 1:])

    def backward(self, g):
        return TakeAdjoint.apply(g, indices=self.indices, axis=self.axis, shape=self.shape,
                                 padding_idx=self.padding_idx)


class TakeAdjoint(Function):
    """The adjoint of ``Take``: zeros of ``shape`` with the slices of ``g`` added at
    ``indices`` along ``axis`` (the ``padding_idx`` slice left at zero)."""

    keeps_inputs = False

    def forward(self, g, indices, axis, shape, padding_idx=None):
        xp = array_namespace(g)
        self.indices, self.axis, self.padding_idx = indices, axis, padding_idx
        flat = xp.reshape(indices, (-1,))
        g = xp.reshape(g, shape[:axis] + (flat.shape[0],) + shape[axis + 1:])
        if axis != 0:
            g = xp.moveaxis(g, axis, 0)
        shape0 = (shape[axis],) + shape[:axis] + shape[axis + 1:]
        out = kernels.index_add(shape0, flat, g)
        if padding_idx is not None:  # embedding's padding row gets no gradient
            out[padding_idx, ...] = 0
        return xp.moveaxis(out, 0, axis) if axis != 0 else out

    def backward(self, gg):
        if self.padding_idx is not None:  # the padding slice never received anything
            xp = gg._device.xp
            keep = xp.ones(gg.shape[self.axis], dtype=gg._array.dtype)
            keep[self.padding_idx] = 0
            gg = gg * Tensor._wrap(xp.reshape(keep, (-1,) + (1,) * (gg.ndim - self.axis - 1)),
                                   gg._device)
        return Take.apply(gg, indices=self.indices, axis=self.axis)


# ---------------------------------------------------------------- public wrappers
def reshape(a, *shape):
    a = as_tensor(a)
    shape = shape_arg(shape)
    if shape == a.shape:
        return a
    known = math.prod(s for s in shape if s != -1)
    n = math.prod(a.shape)
    if (-1 not in shape and known != n) or (-1 in shape and (known == 0 or n % known)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                         f"({n} elements) into {shape}")
    return Reshape.apply(a, shape=shape)


def flatten(input, start_dim=0, end_dim=-1):
    a = as_tensor(input)
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = one_axis(start_dim, a.ndim, "flatten"), one_axis(end_dim, a.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(a, a.shape[:s] + (math.prod(a.shape[s:e + 1]),) + a.shape[e + 1:])


def unsqueeze(input, dim=None, *, axis=None):
    a = as_tensor(input)
    dim = dim_arg(dim, axis, "unsqueeze")
    if dim is None:
        raise TypeError("unsqueeze: missing the dim argument")
    dim = one_axis(dim, a.ndim + 1, "unsqueeze")
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(input, dim=None, *, axis=None):
    """Drop axes of size 1: all of them (``dim=None``), or those of ``dim`` (an int or a
    tuple) that have size 1; others are kept, as PyTorch."""
    a = as_tensor(input)
    dim = dim_arg(dim, axis, "squeeze")
    if dim is None:
        return reshape(a, tuple(s for s in a.shape if s != 1))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    drop = {one_axis(d, a.ndim, "squeeze") for d in dims} if a.ndim else set()
    return reshape(a, tuple(s for i, s in enumerate(a.shape) if not (i in drop and s == 1)))


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


def permute(input, *dims):
    a = as_tensor(input)
    axes = shape_arg(dims)
    if sorted(ax % a.ndim for ax in axes) != list(range(a.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {a.ndim} axes")
    axes = tuple(ax % a.ndim for ax in axes)
    if axes == tuple(range(a.ndim)):
        return a
    return Permute.apply(a, axes=axes)


def transpose(input, dim0=-2, dim1=-1):
    """Swap axes ``dim0`` and ``dim1`` (PyTorch's transpose; by default the last two)."""
    a = as_tensor(input)
    if a.ndim < 2 and (dim0, dim1) == (-2, -1):
        return a
    dim0, dim1 = one_axis(dim0, a.ndim, "transpose"), one_axis(dim1, a.ndim, "transpose")
    axes = list(range(a.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return permute(a, tuple(axes))


def flip(input, dims=None, *, axis=None):
    """Reverse the order along ``dims`` (an int or a tuple; all axes when None)."""
    dims = dim_arg(dims, axis, "flip")
    if isinstance(dims, list):
        dims = tuple(dims)
    return Flip.apply(as_tensor(input), axis=dims)


def concat(tensors, dim=0, *, axis=None):
    """Join tensors along an existing axis ``dim`` (``cat`` is the PyTorch name)."""
    axis = dim if axis is None else axis
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concat: need at least one tensor")
    same_device("concat", tensors)
    ref = tensors[0].shape
    ax = one_axis(axis, len(ref), "concat")
    for t in tensors[1:]:
        if t.ndim != len(ref) or any(
                s != r for i, (s, r) in enumerate(zip(t.shape, ref)) if i != ax):
            raise ValueError(f"concat: shapes {ref} and {t.shape} differ outside axis {axis}")
    return Concat.apply(*tensors, axis=ax)


cat = concat


def stack(tensors, dim=0, *, axis=None):
    """Join same-shaped tensors along a new axis ``dim``."""
    axis = dim if axis is None else axis
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    same_device("stack", tensors)
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: all tensors need the same shape, got {tensors[0].shape} "
                             f"and {t.shape}")
    return Stack.apply(*tensors, axis=one_axis(axis, tensors[0].ndim + 1, "stack"))


def _pieces(a, bounds, ax):
    return tuple(getitem(a, (slice(None),) * ax + (slice(lo, hi), Ellipsis))
                 for lo, hi in zip(bounds[:-1], bounds[1:]))


def split(tensor, split_size_or_sections, dim=0, *, axis=None):
    """PyTorch's split: pieces of ``split_size_or_sections`` along ``dim`` (the last one
    smaller when the size does not divide), or pieces of the sizes in a list (which must add
    up to the size of ``dim``). Returns a tuple of views (differentiable)."""
    a = as_tensor(tensor)
    ax = one_axis(dim if axis is None else axis, a.ndim, "split")
    n = a.shape[ax]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and not (size == 0 and n == 0):
            raise ValueError(f"split: split_size must be a positive int, got {size}")
        bounds = list(range(0, n, size)) + [n] if n else [0, 0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"split: section sizes {sizes} must be non-negative and add up to "
                             f"{n}, the size of dim {ax}")
        bounds = [0]
        for s in sizes:
            bounds.append(bounds[-1] + s)
    return _pieces(a, bounds, ax)


def chunk(input, chunks, dim=0):
    """PyTorch's chunk: at most ``chunks`` pieces of ``ceil(size / chunks)`` along ``dim``
    (the last smaller; fewer pieces when the size runs out first)."""
    a = as_tensor(input)
    if int(chunks) <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks}")
    ax = one_axis(dim, a.ndim, "chunk")
    n = a.shape[ax]
    return split(a, max(-(-n // int(chunks)), 1), ax) if n else split(a, [0] * int(chunks), ax)


def tensor_split(input, indices_or_sections, dim=0):
    """NumPy's array_split: ``n`` nearly equal pieces (the first ``size % n`` one longer), or
    the pieces between the given indices."""
    a = as_tensor(input)
    ax = one_axis(dim, a.ndim, "tensor_split")
    n = a.shape[ax]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0:
            raise ValueError(f"tensor_split: sections must be a positive int, got {k}")
        q, r = divmod(n, k)
        bounds = [i * q + min(i, r) for i in range(k + 1)]
    else:
        bounds = [0] + [min(max(int(i), 0), n) for i in indices_or_sections] + [n]
        bounds = [max(b, lo) for b, lo in zip(bounds, [0] + bounds[:-1])]
    return _pieces(a, bounds, ax)


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
    index = _raw_index(index, a._device)
    if a._device.kind != "cpu":  # NumPy raises IndexError itself; CuPy would wrap
        check_array_index(a.shape, index)
    return GetItem.apply(a, index=index)


def take(input, index, axis=None):
    """PyTorch's take: elements of the flattened ``input`` at ``index`` (any shape). With
    ``axis`` (the array API's take) whole slices along that axis: the index's shape replaces
    that axis."""
    a = as_tensor(input)
    idx = index.array if isinstance(index, Tensor) else a._device.asarray(index)
    if axis is None:
        n = math.prod(a.shape)
        check_index_range("take", idx, n, 0, negative=True, exc=IndexError,
                          message=f"take: out of range: tried to access index {{}} on a tensor "
                                  f"of {n} elements")
        return Take.apply(reshape(a, (-1,)), indices=idx, axis=0)
    ax = one_axis(axis, a.ndim, "take")
    check_index_range("take", idx, a.shape[ax], ax, negative=True, exc=IndexError)
    return Take.apply(a, indices=idx, axis=ax)


def index_select(input, dim, index):
    """Slices along ``dim`` at the positions in the 1-D integer ``index``."""
    index = index if isinstance(index, Tensor) else Tensor(index)
    if index.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {index.shape}")
    a = as_tensor(input)
    ax = one_axis(dim, a.ndim, "index_select")
    check_index_range("index_select", index.array, a.shape[ax], ax)
    return take(input, reshape(index, (-1,)), axis=dim)
