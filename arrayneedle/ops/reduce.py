"""Reductions with PyTorch's signatures: sum, mean, prod, amax, amin, var, std, logsumexp, norm,
all, any (``dim``/``keepdim``, with the array API's ``axis``/``keepdims`` as aliases), and the
softmaxes built on logsumexp. max/min/argmax/topk/sort live in ``sorting.py``."""
from __future__ import annotations

import builtins
import math
import warnings

from array_api_compat import array_namespace

from .._helpers import as_tensor
from ..autograd import Function, Tensor
from ..backend import dtype_name
from ._util import dim_arg, expand_reduced, keep_arg, normalize_axes
from .elementwise import astype, negative, subtract
from .shape import reshape
from .unary import exp, sqrt

__all__ = ["sum", "mean", "prod", "amax", "amin", "var", "std", "logsumexp", "norm", "all",
           "any", "softmax", "log_softmax"]


def _reduced_shape(shape, axes):
    return tuple(s for i, s in enumerate(shape) if i not in axes)


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        return array_namespace(a).sum(a, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return expand_reduced(g, self.shape, self.axes, self.keepdims)


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        self.n = math.prod(a.shape[ax] for ax in self.axes)
        return array_namespace(a).mean(a, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return expand_reduced(g * (1.0 / self.n), self.shape, self.axes, self.keepdims)


class Prod(Function):
    """Product along one axis. The gradient of each factor is the product of all the others
    (exclusive cumulative products from both ends), so zeros need no division."""

    def forward(self, a, axis=0, keepdims=False):
        xp = array_namespace(a)
        self.a, self.axis, self.keepdims = a, axis, keepdims
        return xp.prod(a, axis=axis, keepdims=keepdims)

    def backward(self, g):
        xp = array_namespace(g)
        a, ax = self.a, self.axis
        ones = xp.ones_like(a[(slice(None),) * ax + (slice(0, 1), Ellipsis)])
        left = xp.cumulative_prod(xp.concat([ones, a], axis=ax), axis=ax)
        left = left[(slice(None),) * ax + (slice(0, a.shape[ax]), Ellipsis)]
        rev = xp.flip(a, axis=ax)
        right = xp.cumulative_prod(xp.concat([ones, rev], axis=ax), axis=ax)
        right = xp.flip(right[(slice(None),) * ax + (slice(0, a.shape[ax]), Ellipsis)], axis=ax)
        return expand_reduced(g, a.shape, (ax,), self.keepdims) * left * right


class Amax(Function):
    """Max over axes; the gradient is shared equally between tied maxima (as torch.amax)."""

    def forward(self, a, axis=None, keepdims=False):
        xp = array_namespace(a)
        self.axes, self.keepdims = normalize_axes(axis, a.ndim), keepdims
        m = xp.max(a, axis=self.axes, keepdims=True)
        self.mask = a == m
        return m if keepdims else xp.reshape(m, _reduced_shape(a.shape, self.axes))

    def backward(self, g):
        xp = array_namespace(g)
        mask = xp.astype(self.mask, g.dtype)
        count = xp.sum(mask, axis=self.axes, keepdims=True)
        g = expand_reduced(g, mask.shape, self.axes, self.keepdims)
        return g * mask / count


class Var(Function):
    """Variance with ``correction`` (1: unbiased, PyTorch's default; 0: population)."""

    def forward(self, a, axis=None, keepdims=False, correction=1):
        xp = array_namespace(a)
        self.axes, self.keepdims = normalize_axes(axis, a.ndim), keepdims
        n = math.prod(a.shape[ax] for ax in self.axes)
        self.denom = builtins.max(n - correction, 0)
        self.centered = a - xp.mean(a, axis=self.axes, keepdims=True)
        return xp.sum(self.centered * self.centered, axis=self.axes, keepdims=keepdims) / self.denom

    def backward(self, g):
        g = expand_reduced(g, self.centered.shape, self.axes, self.keepdims)
        return g * self.centered * (2.0 / self.denom)


class LogSumExp(Function):
    def forward(self, a, axis=None, keepdims=False):
        xp = array_namespace(a)
        self.axes, self.keepdims = normalize_axes(axis, a.ndim), keepdims
        m = xp.max(a, axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        e = xp.exp(a - m)
        s = xp.sum(e, axis=self.axes, keepdims=True)
        out = xp.log(s) + m
        self.softmax = e / s
        return out if keepdims else xp.reshape(out, _reduced_shape(a.shape, self.axes))

    def backward(self, g):
        g = expand_reduced(g, self.softmax.shape, self.axes, self.keepdims)
        return g * self.softmax


class Norm(Function):
    """Vector p-norm over axes. The gradient at a zero vector is 0 (as PyTorch), not nan."""

    def forward(self, a, p=2.0, axis=None, keepdims=False):
        xp = array_namespace(a)
        self.a, self.p = a, p
        self.axes, self.keepdims = normalize_axes(axis, a.ndim), keepdims
        if p == math.inf:
            n = xp.max(xp.abs(a), axis=self.axes, keepdims=True)
        elif p == 1:
            n = xp.sum(xp.abs(a), axis=self.axes, keepdims=True)
        elif p == 2:
            n = xp.sqrt(xp.sum(a * a, axis=self.axes, keepdims=True))
        else:
            n = xp.sum(xp.abs(a) ** p, axis=self.axes, keepdims=True) ** (1.0 / p)
        self.n = n
        return n if keepdims else xp.reshape(n, _reduced_shape(a.shape, self.axes))

    def backward(self, g):
        xp = array_namespace(g)
        a, n, p = self.a, self.n, self.p
        g = xp.reshape(g, n.shape)
        zero = xp.asarray(0, dtype=a.dtype)
        safe = xp.where(n == 0, xp.ones_like(n), n)
        if p == math.inf:
            mask = xp.astype(xp.abs(a) == n, a.dtype)
            d = xp.sign(a) * mask / xp.sum(mask, axis=self.axes, keepdims=True)
        elif p == 1:
            d = xp.sign(a)
        elif p == 2:
            d = a / safe
        else:
            d = xp.sign(a) * xp.abs(a) ** (p - 1) / safe ** (p - 1)
        return xp.where(n == 0, zero, g * d)


# ---------------------------------------------------------------- public wrappers
def _float_input(a, dtype):
    a = as_tensor(a)
    return a if dtype is None else astype(a, dtype)


def _sum_input(a, dtype):
    """PyTorch's sum/prod of a bool or integer tensor is int64."""
    a = as_tensor(a)
    if dtype is None and not dtype_name(a.array.dtype).startswith("float"):
        dtype = "int64"
    return a if dtype is None else astype(a, dtype)


def sum(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Sum over ``dim`` (an int, a tuple, or None for all); ``axis``/``keepdims`` are aliases."""
    return Sum.apply(_sum_input(input, dtype), axis=dim_arg(dim, axis, "sum"),
                     keepdims=keep_arg(keepdim, keepdims))


def mean(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    return Mean.apply(_float_input(input, dtype), axis=dim_arg(dim, axis, "mean"),
                      keepdims=keep_arg(keepdim, keepdims))


def prod(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Product of all elements (``dim=None``) or along one ``dim``."""
    a = _sum_input(input, dtype)
    dim, keep = dim_arg(dim, axis, "prod"), keep_arg(keepdim, keepdims)
    if dim is None:
        return Prod.apply(reshape(a, (-1,)), axis=0, keepdims=False)
    return Prod.apply(a, axis=normalize_axes(dim, a.ndim)[0], keepdims=keep)


def amax(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Max over ``dim`` (all dims when None or empty); ties share the gradient equally."""
    dim = dim_arg(None if dim == () else dim, axis, "amax")
    return Amax.apply(as_tensor(input), axis=None if dim == () else dim,
                      keepdims=keep_arg(keepdim, keepdims))


def amin(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    return negative(amax(negative(input), dim, keepdim, axis=axis, keepdims=keepdims))


def _correction(name, unbiased, correction):
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}: give unbiased= or correction=, not both")
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    """Variance as PyTorch: unbiased (``correction=1``) by default; ``unbiased=False`` or
    ``correction=0`` gives the population variance. ``var(x, False)`` is ``unbiased=False``."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    return Var.apply(as_tensor(input), axis=dim_arg(dim, axis, "var"),
                     keepdims=keep_arg(keepdim, keepdims),
                     correction=_correction("var", unbiased, correction))


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    """Standard deviation, the square root of ``var`` with the same arguments."""
    return sqrt(var(input, dim, unbiased, keepdim, correction=correction, axis=axis,
                    keepdims=keepdims))


def logsumexp(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    return LogSumExp.apply(as_tensor(input), axis=dim_arg(dim, axis, "logsumexp"),
                           keepdims=keep_arg(keepdim, keepdims))


def norm(input, p="fro", dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):
    """Vector p-norm over ``dim`` (all elements when None): ``p`` a number, ``inf`` or "fro"
    (2, the Frobenius norm of the flattened dims)."""
    if p == "fro" or p is None:
        p = 2.0
    if isinstance(p, str) or not p > 0:
        raise ValueError(f"norm: p must be a positive number, inf or 'fro', got {p!r}")
    return Norm.apply(_float_input(input, dtype), p=float(p), axis=dim_arg(dim, axis, "norm"),
                      keepdims=keep_arg(keepdim, keepdims))


def _logical(name, input, dim, keepdim, axis, keepdims):
    a = as_tensor(input)
    xp = a._device.xp
    arr = a.array if a.array.dtype == xp.bool else a.array != 0
    ax = normalize_axes(dim_arg(dim, axis, name), a.ndim)
    out = getattr(xp, name)(arr, axis=ax, keepdims=keep_arg(keepdim, keepdims))
    return Tensor._wrap(out, a._device)


def all(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """True where every element over ``dim`` is nonzero (a bool tensor, no gradient)."""
    return _logical("all", input, dim, keepdim, axis, keepdims)


def any(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    return _logical("any", input, dim, keepdim, axis, keepdims)


def _implicit_dim(name, ndim):
    # PyTorch's legacy choice when dim is omitted, with its warning
    warnings.warn(f"implicit dimension choice for {name} is deprecated: pass dim=",
                  UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def log_softmax(input, dim=None, dtype=None, *, axis=None):
    """log(softmax(input)) along ``dim``, computed stably through logsumexp."""
    a = _float_input(input, dtype)
    dim = dim_arg(dim, axis, "log_softmax")
    if dim is None:
        dim = _implicit_dim("log_softmax", a.ndim)
    return subtract(a, logsumexp(a, dim, keepdim=True))


def softmax(input, dim=None, dtype=None, *, axis=None):
    a = _float_input(input, dtype)
    dim = dim_arg(dim, axis, "softmax")
    if dim is None:
        dim = _implicit_dim("softmax", a.ndim)
    return exp(log_softmax(a, dim))

