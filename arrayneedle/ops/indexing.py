"""Masking, triangles, diag, scatter/scatter_add and cumulative sums/products, with PyTorch's
signatures."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor, same_device
from ..autograd import Function, Tensor
from ..backend import dtype_name
from ._util import check_index_range, one_axis
from .elementwise import astype, where
from .shape import Take, cat, getitem, take
from .sorting import _linear_index

__all__ = ["masked_fill", "tril", "triu", "diag", "scatter", "scatter_add", "cumsum", "cumprod"]


def masked_fill(input, mask, value):
    """``value`` where ``mask`` (a bool tensor broadcasting to ``input``) is true, else
    ``input`` (out of place; differentiable in ``input``)."""
    a = as_tensor(input)
    m = mask if isinstance(mask, Tensor) else Tensor(mask, device=a._device)
    if dtype_name(m.array.dtype) != "bool":
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {m.array.dtype}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape "
                             f"{value.shape}")
        value = value.item()
    return where(m, value, a)


def _triangle(name, input, diagonal, lower):
    a = as_tensor(input)
    if a.ndim < 2:
        raise ValueError(f"{name}: expects a tensor of at least 2 dims, got shape {a.shape}")
    xp = a._device.xp
    rows = xp.arange(a.shape[-2], dtype=xp.int64)[:, None]
    cols = xp.arange(a.shape[-1], dtype=xp.int64)[None, :]
    keep = (cols - rows <= diagonal) if lower else (cols - rows >= diagonal)
    return where(Tensor._wrap(keep, a._device), a, 0)


def tril(input, diagonal=0):
    """The lower triangle of the last two axes (elements with col - row <= diagonal)."""
    return _triangle("tril", input, int(diagonal), True)


def triu(input, diagonal=0):
    return _triangle("triu", input, int(diagonal), False)


def diag(input, diagonal=0):
    """A 1-D tensor as a square matrix with it on diagonal ``diagonal``; a 2-D tensor's
    diagonal ``diagonal`` as a 1-D tensor (as torch.diag)."""
    a = as_tensor(input)
    xp, k = a._device.xp, int(diagonal)
    if a.ndim == 1:
        m = a.shape[0] + abs(k)
        rows = xp.arange(m, dtype=xp.int64)[:, None]
        cols = xp.arange(m, dtype=xp.int64)[None, :]
        src = xp.clip(rows if k >= 0 else cols, 0, max(a.shape[0] - 1, 0))
        vals = take(a, Tensor._wrap(xp.broadcast_to(src, (m, m)), a._device))
        return where(Tensor._wrap(cols - rows == k, a._device), vals, 0)
    if a.ndim == 2:
        r0, c0 = (0, k) if k >= 0 else (-k, 0)
        n = max(min(a.shape[0] - r0, a.shape[1] - c0), 0)
        r = xp.arange(n, dtype=xp.int64)
        lin = (r + r0) * a.shape[1] + (r + c0)
        return take(a, Tensor._wrap(lin, a._device))
    raise ValueError(f"diag: expects a 1-D or 2-D tensor, got shape {a.shape}")


def _taken(g, lin, shape):
    """The elements of ``g`` at the flat positions ``lin``, shaped ``shape`` (the gradient of
    the src that a scatter placed there)."""
    return Take.apply(g.reshape(-1), indices=lin, axis=0).reshape(shape)


class Scatter(Function):
    """``a`` with ``src`` written at ``index`` along ``axis`` (each position at most once)."""

    keeps_inputs = False

    def forward(self, a, src, index, axis):
        xp = array_namespace(a, src)
        n = 1
        for s in a.shape:
            n *= s
        self.lin, self.src_shape = _linear_index(xp, a.shape, index, axis), src.shape
        hits = kernels.index_add((n,), self.lin, xp.ones(self.lin.shape, dtype=a.dtype))
        if bool(xp.any(hits > 1)):
            raise ValueError("scatter: index writes one position more than once (PyTorch leaves "
                             "which value wins undefined); use unique indices or scatter_add")
        self.hit = xp.reshape(hits > 0, a.shape)
        placed = xp.reshape(kernels.index_add((n,), self.lin, xp.reshape(src, (-1,))), a.shape)
        return xp.where(self.hit, placed, a)

    def backward(self, g):
        ga = where(Tensor._wrap(self.hit, g._device), 0.0, g) if self.needs_input_grad[0] else None
        return ga, _taken(g, self.lin, self.src_shape) if self.needs_input_grad[1] else None


def _scatter_args(name, input, dim, index, src):
    a = as_tensor(input)
    idx = index if isinstance(index, Tensor) else Tensor(index, device=a._device)
    s = src if isinstance(src, Tensor) else _const(a, idx.shape, src)
    same_device(name, (a, idx, s))
    ax = one_axis(dim, a.ndim, name)
    if idx.ndim != a.ndim or s.ndim != a.ndim or any(
            i > min(x, y) if d != ax else i > y
            for d, (i, x, y) in enumerate(zip(idx.shape, a.shape, s.shape))):
        raise ValueError(f"{name}: index of shape {idx.shape} must fit src {s.shape} and, "
                         f"outside dim {ax}, input {a.shape}")
    if dtype_name(idx.dtype) not in ("int64", "int32", "uint8"):
        raise TypeError(f"{name}: index must be an integer tensor, got {idx.dtype}")
    check_index_range(name, idx.array, a.shape[ax], ax)
    if s.shape != idx.shape:  # only the part of src that index covers takes part
        s = getitem(s, tuple(slice(0, n) for n in idx.shape))
    return a, s, idx.array, ax


def _const(a, shape, value):
    xp = a._device.xp
    return Tensor._wrap(xp.full(tuple(shape), value, dtype=a.array.dtype), a._device)


def scatter(input, dim, index, src=None, *, value=None):
    """PyTorch's scatter (out of place): ``out[index[i][j]][j] = src[i][j]`` for ``dim=0``;
    ``src`` may be a number (or give ``value=``). Every position may be written once."""
    if (src is None) == (value is None):
        raise TypeError("scatter: give exactly one of src and value")
    a, s, idx, ax = _scatter_args("scatter", input, dim, index, value if src is None else src)
    return Scatter.apply(a, s, index=idx, axis=ax)


class ScatterAdd(Function):
    """a + zeros with ``src`` added at ``index`` along ``axis`` (repeats accumulate); ``src``
    has ``index``'s shape."""

    keeps_inputs = False

    def forward(self, a, src, index, axis):
        xp = array_namespace(a, src)
        self.lin, self.src_shape = _linear_index(xp, a.shape, index, axis), src.shape
        n = 1
        for s in a.shape:
            n *= s
        return a + xp.reshape(kernels.index_add((n,), self.lin, xp.reshape(src, (-1,))), a.shape)

    def backward(self, g):
        return g, _taken(g, self.lin, self.src_shape) if self.needs_input_grad[1] else None


def scatter_add(input, dim, index, src):
    """PyTorch's scatter_add (out of place): ``out[index[i][j]][j] += src[i][j]`` for
    ``dim=0``. ``index`` has ``input``'s number of dimensions."""
    a, s, idx, ax = _scatter_args("scatter_add", input, dim, index, src)
    return ScatterAdd.apply(a, s, index=idx, axis=ax)


class CumSum(Function):
    keeps_inputs = False

    def forward(self, a, axis):
        self.axis = axis
        return array_namespace(a).cumulative_sum(a, axis=axis)

    def backward(self, g):
        ax = self.axis
        return CumSum.apply(g.flip(ax), axis=ax).flip(ax)


class CumProd(Function):
    """Cumulative product. Backward: sum_{j>=i} g_j * out_j / a_i when no factor is zero;
    with zeros, the products that skip factor i are formed explicitly (n x n per row)."""

    saves_output = True

    def forward(self, a, axis):
        self.axis = axis
        return array_namespace(a).cumulative_prod(a, axis=axis)

    def backward(self, g):
        a, ax = self.parents[0], self.axis
        xp = a._device.xp
        if not bool(xp.any(a._array == 0)):
            out = self.saved_output()
            return CumSum.apply((g * out).flip(ax), axis=ax).flip(ax) / a
        a_l, g_l = a.movedim(ax, -1), g.movedim(ax, -1)
        n = a_l.shape[-1]
        i = xp.arange(n)[:, None]
        k = xp.arange(n)[None, :]
        # c[..., i, j] = prod_{i<k<=j} a_k ; prefix[..., i] = prod_{k<i} a_k
        c = where(Tensor._wrap(k > i, a._device), a_l.unsqueeze(-2), 1.0).cumprod(-1)
        ones = Tensor._wrap(xp.ones(a_l.shape[:-1] + (1,), dtype=a._array.dtype), a._device)
        prefix = cat([ones, a_l.narrow(-1, 0, n - 1)], -1).cumprod(-1)
        upper = Tensor._wrap(xp.astype(k >= i, a._array.dtype), a._device)
        grad = prefix * (c * upper * g_l.unsqueeze(-2)).sum(-1)
        return grad.movedim(-1, ax)


def cumsum(input, dim, *, dtype=None):
    a = as_tensor(input)
    if dtype is not None:
        a = astype(a, dtype)
    return CumSum.apply(a, axis=one_axis(dim, a.ndim, "cumsum"))


def cumprod(input, dim, *, dtype=None):
    a = as_tensor(input)
    if dtype is not None:
        a = astype(a, dtype)
    return CumProd.apply(a, axis=one_axis(dim, a.ndim, "cumprod"))
