"""Ops that move or repeat elements, with PyTorch's names and signatures: roll, tile,
repeat_interleave, diff, cross, and unique (not differentiable, as in PyTorch)."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .._helpers import as_tensor, same_device
from ..autograd import Function, Tensor
from ..backend import dtype_name
from ._util import one_axis
from .elementwise import multiply, subtract
from .shape import broadcast_to, concat, index_select, permute, reshape
from .views import narrow, repeat

__all__ = ["roll", "tile", "repeat_interleave", "diff", "cross", "unique"]


class Roll(Function):
    keeps_inputs = False

    def forward(self, a, shifts=None, dims=None):
        self.shifts, self.dims = shifts, dims
        return array_namespace(a).roll(a, shift=shifts, axis=dims)

    def backward(self, g):
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return Roll.apply(g, shifts=back, dims=self.dims)


def _ints(x):
    return tuple(int(v) for v in x) if isinstance(x, (tuple, list)) else int(x)


def roll(input, shifts, dims=None):
    """Shift elements along ``dims`` by ``shifts`` (ints or equal-length tuples), wrapping
    around; without ``dims`` the flattened tensor is rolled and its shape restored."""
    a = as_tensor(input)
    shifts = _ints(shifts)
    if dims is None:
        if isinstance(shifts, tuple):
            if len(shifts) != 1:
                raise ValueError(f"roll: without dims, shifts must be one int, got {shifts}")
            shifts = shifts[0]
        return Roll.apply(a, shifts=shifts, dims=None)
    dims = _ints(dims)
    if isinstance(shifts, tuple) != isinstance(dims, tuple) or (
            isinstance(dims, tuple) and len(dims) != len(shifts)):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    if isinstance(dims, tuple):
        dims = tuple(one_axis(d, a.ndim, "roll") for d in dims)
    else:
        dims = one_axis(dims, a.ndim, "roll")
    return Roll.apply(a, shifts=shifts, dims=dims)


def tile(input, dims):
    """Repeat ``input`` ``dims[i]`` times along each axis; fewer ``dims`` than axes are padded
    with leading ones (torch.tile; ``Tensor.repeat`` needs one per axis)."""
    a = as_tensor(input)
    dims = (int(dims),) if isinstance(dims, int) else tuple(int(d) for d in dims)
    return repeat(a, (1,) * (a.ndim - len(dims)) + dims)


def _repeat_index(xp, dev, repeats, n, name):
    """The source position of each output element along the repeated axis (int64)."""
    if isinstance(repeats, Tensor):
        r = repeats.array
        if r.ndim == 0:
            repeats = int(r)
        else:
            if r.shape != (n,):
                raise ValueError(f"{name}: repeats must be an int or have one entry per "
                                 f"element ({n}) along dim, got shape {tuple(r.shape)}")
            if bool(xp.any(r < 0)):
                raise ValueError(f"{name}: repeats must be non-negative")
            ends = xp.cumulative_sum(xp.astype(r, xp.int64))
            total = int(ends[-1]) if n else 0
            pos = xp.arange(total, dtype=xp.int64)
            return xp.astype(xp.searchsorted(ends, pos, side="right"), xp.int64)
    repeats = int(repeats)
    if repeats < 0:
        raise ValueError(f"{name}: repeats must be non-negative, got {repeats}")
    return xp.arange(n * repeats, dtype=xp.int64) // repeats if repeats else \
        xp.zeros((0,), dtype=xp.int64)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element (each slice along ``dim``) ``repeats`` times in place, as
    torch.repeat_interleave; ``repeats`` an int or a 1-D tensor of counts, ``dim=None``
    flattens first. ``repeat_interleave(counts)`` alone gives ``[0]*counts[0] + [1]*...``.
    Differentiable in ``input``."""
    a = as_tensor(input)
    dev = a._device
    xp = dev.xp
    if repeats is None:
        if a.ndim != 1:
            raise ValueError(f"repeat_interleave: a counts tensor must be 1-D, got {a.shape}")
        return Tensor._wrap(_repeat_index(xp, dev, a, a.shape[0], "repeat_interleave"), dev)
    if dim is None:
        a, ax = reshape(a, (-1,)), 0
    else:
        ax = one_axis(dim, a.ndim, "repeat_interleave")
    idx = _repeat_index(xp, dev, repeats, a.shape[ax], "repeat_interleave")
    if output_size is not None and int(output_size) != idx.shape[0]:
        raise ValueError(f"repeat_interleave: output_size {output_size} does not match the "
                         f"repeated size {idx.shape[0]}")
    return index_select(a, ax, Tensor._wrap(idx, dev))


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim``, after concatenating ``prepend`` and
    ``append`` (as torch.diff); bool tensors give "not equal" (a logical xor)."""
    a = as_tensor(input)
    ax = one_axis(dim, a.ndim, "diff")
    parts = [p for p in (prepend, a, append) if p is not None]
    if len(parts) > 1:
        parts = [as_tensor(p) for p in parts]
        parts = [p if p.ndim else broadcast_to(p, a.shape[:ax] + (1,) + a.shape[ax + 1:])
                 for p in parts]
        a = concat(parts, dim=ax)
    for _ in range(int(n)):
        m = a.shape[ax]
        if m == 0:
            break
        hi, lo = narrow(a, ax, 1, m - 1), narrow(a, ax, 0, m - 1)
        if dtype_name(a.array.dtype) == "bool":
            xp = a._device.xp
            a = Tensor._wrap(xp.not_equal(hi.array, lo.array), a._device)
        else:
            a = subtract(hi, lo)
    return a


def _broadcast_shape(s, t):
    n = max(len(s), len(t))
    s, t = (1,) * (n - len(s)) + tuple(s), (1,) * (n - len(t)) + tuple(t)
    out = []
    for x, y in zip(s, t):
        if x != y and 1 not in (x, y):
            raise ValueError(f"cross: shapes {s} and {t} do not broadcast")
        out.append(max(x, y))
    return tuple(out)


def cross(input, other, dim=None):
    """The cross product of 3-vectors along ``dim`` (broadcasting the rest). ``dim=None``
    takes the first dimension of size 3, as torch.cross (torch.linalg.cross uses -1)."""
    a, b = as_tensor(input), as_tensor(other)
    same_device("cross", (a, b))
    shape = _broadcast_shape(a.shape, b.shape)
    if dim is None:
        if 3 not in shape:
            raise ValueError(f"cross: no dimension of size 3 in shape {shape}")
        ax = shape.index(3)
    else:
        ax = one_axis(dim, len(shape), "cross")
        if shape[ax] != 3:
            raise ValueError(f"cross: dim {dim} must have size 3, got {shape[ax]}")
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    ai = [narrow(a, ax, i, 1) for i in range(3)]
    bi = [narrow(b, ax, i, 1) for i in range(3)]
    comps = [subtract(multiply(ai[(i + 1) % 3], bi[(i + 2) % 3]),
                     multiply(ai[(i + 2) % 3], bi[(i + 1) % 3])) for i in range(3)]
    return concat(comps, dim=ax)


def _lexsort_rows(xp, rows):
    # stable sorts from the last column to the first give lexicographic row order; one sort
    # per column (a loop over the slice width, not over elements)
    order = xp.arange(rows.shape[0], dtype=xp.int64)
    for c in range(rows.shape[1] - 1, -1, -1):
        col = xp.take(rows[:, c], order, axis=0)
        order = xp.take(order, xp.argsort(col, stable=True), axis=0)
    return order


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements (or, with ``dim``, the distinct slices along ``dim``) in
    ascending order, as torch.unique; with ``return_inverse`` the position in the output of
    every input element (input's shape, or ``(size of dim,)``), with ``return_counts`` how
    often each occurs. A tensor, or a tuple when either flag is set. Not differentiable.
    The output is always sorted, which ``sorted=False`` permits (PyTorch sorts too)."""
    a = as_tensor(input)
    dev = a._device
    xp = dev.xp
    x = a.array
    if dim is None:
        rows = xp.reshape(x, (-1, 1))
    else:
        ax = one_axis(dim, a.ndim, "unique")
        moved = permute(a, (ax,) + tuple(i for i in range(a.ndim) if i != ax)).array
        rows = xp.reshape(moved, (moved.shape[0], math.prod(moved.shape[1:])))
    n = rows.shape[0]
    order = (xp.argsort(rows[:, 0], stable=True) if rows.shape[1] == 1
             else _lexsort_rows(xp, rows))
    s = xp.take(rows, order, axis=0)
    head = xp.ones((min(n, 1),), dtype=xp.bool)
    new = xp.concat([head, xp.any(s[1:, ...] != s[:-1, ...], axis=1)]) if n else head
    keep = xp.nonzero(new)[0]
    vals = xp.take(s, keep, axis=0)
    if dim is None:
        out = xp.reshape(vals, (-1,))
    else:
        out = xp.reshape(vals, (vals.shape[0],) + moved.shape[1:])
        back = tuple(range(1, ax + 1)) + (0,) + tuple(range(ax + 1, a.ndim))
        out = xp.permute_dims(out, back)
    result = [Tensor._wrap(out, dev)]
    if return_inverse:
        group = xp.cumulative_sum(xp.astype(new, xp.int64)) - 1
        inv = xp.take(group, xp.argsort(order, stable=True), axis=0)
        result.append(Tensor._wrap(xp.reshape(inv, x.shape) if dim is None else inv, dev))
    if return_counts:
        ends = xp.concat([keep[1:], xp.asarray([n], dtype=keep.dtype)])
        result.append(Tensor._wrap(xp.astype(ends - keep, xp.int64), dev))
    return result[0] if len(result) == 1 else tuple(result)

