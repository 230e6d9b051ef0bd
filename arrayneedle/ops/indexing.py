"""Masking, triangles, scatter-add and cumulative sums/products, with PyTorch's signatures."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor, same_device
from ..autograd import Function, Tensor
from ..backend import dtype_name
from ._util import one_axis
from .elementwise import astype, where
from .shape import getitem
from .sorting import _linear_index

__all__ = ["masked_fill", "tril", "triu", "scatter_add", "cumsum", "cumprod"]


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


class ScatterAdd(Function):
    """a + zeros with ``src`` added at ``index`` along ``axis`` (repeats accumulate); ``src``
    has ``index``'s shape."""

    def forward(self, a, src, index, axis):
        xp = array_namespace(a, src)
        self.lin, self.src_shape = _linear_index(xp, a.shape, index, axis), src.shape
        n = 1
        for s in a.shape:
            n *= s
        return a + xp.reshape(kernels.index_add((n,), self.lin, xp.reshape(src, (-1,))), a.shape)

    def backward(self, g):
        xp = array_namespace(g)
        gs = None
        if self.needs_input_grad[1]:
            gs = xp.reshape(xp.take(xp.reshape(g, (-1,)), self.lin), self.src_shape)
        return g, gs


def scatter_add(input, dim, index, src):
    """PyTorch's scatter_add (out of place): ``out[index[i][j]][j] += src[i][j]`` for
    ``dim=0``. ``index`` has ``input``'s number of dimensions."""
    a = as_tensor(input)
    idx = index if isinstance(index, Tensor) else Tensor(index, device=a._device)
    s = as_tensor(src)
    same_device("scatter_add", (a, idx, s))
    ax = one_axis(dim, a.ndim, "scatter_add")
    if idx.ndim != a.ndim or s.ndim != a.ndim or any(
            i > min(x, y) if d != ax else i > y
            for d, (i, x, y) in enumerate(zip(idx.shape, a.shape, s.shape))):
        raise ValueError(f"scatter_add: index of shape {idx.shape} must fit src {s.shape} and, "
                         f"outside dim {ax}, input {a.shape}")
    if s.shape != idx.shape:  # only the part of src that index covers takes part
        s = getitem(s, tuple(slice(0, n) for n in idx.shape))
    return ScatterAdd.apply(a, s, index=idx.array, axis=ax)


class CumSum(Function):
    def forward(self, a, axis):
        self.axis = axis
        return array_namespace(a).cumulative_sum(a, axis=axis)

    def backward(self, g):
        xp = array_namespace(g)
        return xp.flip(xp.cumulative_sum(xp.flip(g, axis=self.axis), axis=self.axis),
                       axis=self.axis)


class CumProd(Function):
    """Cumulative product. Backward: sum_{j>=i} g_j * out_j / a_i when no factor is zero;
    with zeros, the products that skip factor i are formed explicitly (n x n per row)."""

    def forward(self, a, axis):
        xp = array_namespace(a)
        self.a, self.axis = a, axis
        self.out = xp.cumulative_prod(a, axis=axis)
        return self.out

    def backward(self, g):
        xp = array_namespace(g)
        a, ax, out = self.a, self.axis, self.out
        if not bool(xp.any(a == 0)):
            rc = xp.flip(xp.cumulative_sum(xp.flip(g * out, axis=ax), axis=ax), axis=ax)
            return rc / a
        a_l, g_l = xp.moveaxis(a, ax, -1), xp.moveaxis(g, ax, -1)
        n = a_l.shape[-1]
        i = xp.arange(n)[:, None]
        k = xp.arange(n)[None, :]
        one = xp.ones_like(a_l[..., None, :])
        # c[..., i, j] = prod_{i<k<=j} a_k ; prefix[..., i] = prod_{k<i} a_k
        c = xp.cumulative_prod(xp.where(k > i, a_l[..., None, :], one), axis=-1)
        ones = xp.ones_like(a_l[..., :1])
        prefix = xp.cumulative_prod(xp.concat([ones, a_l[..., :-1]], axis=-1), axis=-1)
        upper = xp.astype(k >= i, g.dtype)
        grad = prefix * xp.sum(c * upper * g_l[..., None, :], axis=-1)
        return xp.moveaxis(grad, -1, ax)


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
