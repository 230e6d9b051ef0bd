"""PyTorch's view-style shape methods composed from reshape, broadcast_to, permute and getitem
(so they are differentiable without Functions of their own): view, view_as, reshape_as,
expand, expand_as, repeat, narrow, unflatten, movedim, t, contiguous; and clone."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .._helpers import as_tensor, shape_arg
from ..autograd import Function
from ._util import one_axis
from .shape import broadcast_to, getitem, permute, reshape

__all__ = ["view", "view_as", "reshape_as", "expand", "expand_as", "repeat", "narrow",
           "unflatten", "movedim", "t", "contiguous", "clone"]


def view(input, *shape):
    """``input`` with a new shape (one entry may be -1). A dtype argument is not supported:
    it would reinterpret bytes, which the array API cannot do."""
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
        raise TypeError(f"view: expected a shape, got {shape[0]!r}")
    return reshape(input, *shape)


def view_as(input, other):
    return reshape(input, other.shape)


reshape_as = view_as


def expand(input, *sizes):
    """Broadcast to ``sizes`` (-1 keeps a size; new leading axes are allowed), as PyTorch."""
    a = as_tensor(input)
    sizes = shape_arg(sizes)
    if len(sizes) < a.ndim:
        raise ValueError(f"expand: {len(sizes)} sizes given for a tensor of {a.ndim} dims "
                         f"(shape {a.shape}); give at least {a.ndim}")
    lead = len(sizes) - a.ndim
    target = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise ValueError(f"expand: -1 is not allowed for the new leading axis {i}")
            s = a.shape[i - lead]
        target.append(s)
    return broadcast_to(a, tuple(target))


def expand_as(input, other):
    return expand(input, other.shape)


def repeat(input, *sizes):
    """Tile ``input`` ``sizes[i]`` times along each axis (PyTorch's repeat, NumPy's tile);
    extra leading sizes add axes."""
    a = as_tensor(input)
    reps = shape_arg(sizes)
    if len(reps) < a.ndim:
        raise ValueError(f"repeat: {len(reps)} sizes given for a tensor of {a.ndim} dims; "
                         f"give at least {a.ndim}")
    shape = (1,) * (len(reps) - a.ndim) + a.shape
    inter = tuple(v for s in shape for v in (1, s))
    big = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    out = broadcast_to(reshape(a, inter), big)
    return reshape(out, tuple(r * s for r, s in zip(reps, shape)))


def narrow(input, dim, start, length):
    """Elements ``start`` to ``start + length`` along ``dim`` (a negative start counts from
    the end)."""
    a = as_tensor(input)
    ax = one_axis(dim, a.ndim, "narrow")
    n = a.shape[ax]
    start = int(start) + (n if int(start) < 0 else 0)
    if not (0 <= start <= n and 0 <= int(length) <= n - start):
        raise ValueError(f"narrow: start {start} and length {length} do not fit dim {ax} of "
                         f"size {n}")
    return getitem(a, (slice(None),) * ax + (slice(start, start + int(length)), Ellipsis))


def unflatten(input, dim, sizes):
    """Split axis ``dim`` into ``sizes`` (one of them may be -1)."""
    a = as_tensor(input)
    ax = one_axis(dim, a.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        sizes = tuple(a.shape[ax] // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != a.shape[ax]:
        raise ValueError(f"unflatten: sizes {sizes} do not multiply to {a.shape[ax]}, the size "
                         f"of dim {ax}")
    return reshape(a, a.shape[:ax] + sizes + a.shape[ax + 1:])


def movedim(input, source, destination):
    a = as_tensor(input)
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} differ in "
                         f"length")
    src = [one_axis(s, a.ndim, "movedim") for s in src]
    dst = [one_axis(d, a.ndim, "movedim") for d in dst]
    rest = iter(i for i in range(a.ndim) if i not in src)
    where = dict(zip(dst, src))
    return permute(a, tuple(where[i] if i in where else next(rest) for i in range(a.ndim)))


def t(input):
    """Transpose of a matrix (0-d and 1-d tensors are returned as they are)."""
    a = as_tensor(input)
    if a.ndim > 2:
        raise ValueError(f"t: expects a tensor of at most 2 dims, got shape {a.shape}; "
                         f"use transpose(dim0, dim1)")
    return a if a.ndim < 2 else permute(a, (1, 0))


def contiguous(input):
    """``input`` itself: every op here accepts any memory layout, so there is nothing to do."""
    return as_tensor(input)


class Clone(Function):
    keeps_inputs = False

    def forward(self, a):
        return array_namespace(a).asarray(a, copy=True)

    def backward(self, g):
        return g


def clone(input):
    """A copy with its own memory that stays in the graph (the gradient passes through)."""
    return Clone.apply(as_tensor(input))

