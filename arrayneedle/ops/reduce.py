"""Reductions with PyTorch's signatures: sum, mean, prod, amax, amin, var, std, logsumexp, norm,
all, any (``dim``/``keepdim``, with the array API's ``axis``/``keepdims`` as aliases), softmax
(one Function on ``kernels.softmax``) and log_softmax (built on logsumexp).
max/min/argmax/topk/sort live in ``sorting.py``."""
from __future__ import annotations

import builtins
import math
import warnings

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor
from ..autograd import Function, Tensor
from ..backend import dtype_name
from ._util import (TENSOR_MATH, dim_arg, expand_reduced, formula_operands, keep_arg,
                    normalize_axes, result, saved)
from .elementwise import astype, negative, subtract
from .shape import cat, reshape
from .unary import exp, sqrt

__all__ = ["sum", "mean", "prod", "amax", "amin", "var", "std", "logsumexp", "norm", "all",
           "any", "softmax", "log_softmax"]


def _reduced_shape(shape, axes):
    return tuple(s for i, s in enumerate(shape) if i not in axes)


class _Reduction(Function):
    """The reduction family: over ``axis`` (None, an int or a tuple) with ``keepdims``. A member
    defines ``reduce(xp, a, **params)`` on arrays; ``expand(g)`` puts a gradient back at the
    input's shape (the reduced axes re-inserted and broadcast)."""

    def reduce(self, xp, a):  # pragma: no cover - every member defines it
        raise NotImplementedError("a _Reduction member defines reduce")

    def forward(self, a, axis=None, keepdims=False, **params):
        self.shape, self.axes, self.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        return self.reduce(array_namespace(a), a, **params)

    def expand(self, g):
        return expand_reduced(g, self.shape, self.axes, self.keepdims)

    def kept(self, out):
        """``out`` (a reduced array with keepdims) in the shape forward returns."""
        if self.keepdims:
            return out
        return array_namespace(out).reshape(out, _reduced_shape(self.shape, self.axes))


class Sum(_Reduction):
    keeps_inputs = False

    def reduce(self, xp, a):
        return xp.sum(a, axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        return self.expand(g)


class Mean(_Reduction):
    keeps_inputs = False

    def reduce(self, xp, a):
        self.n = math.prod(a.shape[ax] for ax in self.axes)
        return xp.mean(a, axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        m, gm = formula_operands(g)
        return result(self.expand(gm * (1.0 / self.n)), g)


class Prod(Function):
    """Product along one axis. The gradient of each factor is the product of all the others
    (exclusive cumulative products from both ends), so zeros need no division."""

    def forward(self, a, axis=0, keepdims=False):
        self.axis, self.keepdims = axis, keepdims
        return array_namespace(a).prod(a, axis=axis, keepdims=keepdims)

    def backward(self, g):
        a, ax = self.parents[0], self.axis
        n = a.shape[ax]
        one = Tensor._wrap(a._device.xp.ones(a.shape[:ax] + (1,) + a.shape[ax + 1:],
                                              dtype=a._array.dtype), a._device)
        left = cat([one, a.narrow(ax, 0, n - 1)], ax).cumprod(ax)
        right = cat([one, a.flip(ax).narrow(ax, 0, n - 1)], ax).cumprod(ax).flip(ax)
        return expand_reduced(g, a.shape, (ax,), self.keepdims) * left * right


class Amax(_Reduction):
    """Max over axes; the gradient is shared equally between tied maxima (as torch.amax)."""

    keeps_inputs = False

    def reduce(self, xp, a):
        m = xp.max(a, axis=self.axes, keepdims=True)
        if self.needs_input_grad[0]:
            mask = xp.astype(a == m, a.dtype)
            self.share = mask / xp.sum(mask, axis=self.axes, keepdims=True)
        return self.kept(m)

    def backward(self, g):
        m, gm = formula_operands(g)
        return result(self.expand(gm) * saved(self.share, gm), g)


class Var(_Reduction):
    """Variance with ``correction`` (1: unbiased, PyTorch's default; 0: population)."""

    def reduce(self, xp, a, correction=1):
        n = math.prod(a.shape[ax] for ax in self.axes)
        self.denom = builtins.max(n - correction, 0)
        centered = a - xp.mean(a, axis=self.axes, keepdims=True)
        self.centered = centered if self.needs_input_grad[0] else None
        return xp.sum(centered * centered, axis=self.axes, keepdims=self.keepdims) / self.denom

    def backward(self, g):
        m, gm, a = formula_operands(g, self.parents[0])
        c = self.centered if m is not TENSOR_MATH else a - a.mean(self.axes, keepdim=True)
        return result(self.expand(gm) * c * (2.0 / self.denom), g)


class LogSumExp(_Reduction):
    saves_output = True

    def reduce(self, xp, a):
        m = xp.max(a, axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        e = xp.exp(a - m)
        s = xp.sum(e, axis=self.axes, keepdims=True)
        out = xp.log(s) + m
        self.softmax = e / s if self.needs_input_grad[0] else None
        return self.kept(out)

    def backward(self, g):
        m, gm, a = formula_operands(g, self.parents[0])
        # the softmax kept by forward, or as a function of a where a graph is recorded
        softmax = (self.softmax if m is not TENSOR_MATH
                   else m.exp(a - self.expand(self.saved_output())))
        return result(self.expand(gm) * softmax, g)


class Softmax(Function):
    """softmax along one axis in one Function through ``kernels.softmax`` (oneDNN's softmax
    primitive for float32 NumPy arrays where it pays, else exp(x - max) / sum in place), where
    exp(x - logsumexp(x)) takes three Functions; the backward y * (g - sum(g * y)) reads only
    the output: ``kernels.softmax_backward`` where no graph is recorded, differentiable ops of
    the output where one is."""

    saves_output = True
    keeps_inputs = False

    def forward(self, a, axis):
        self.axis = axis
        return kernels.softmax(a, axis)

    def backward(self, g):
        m, gm, y = formula_operands(g, self.saved_output())
        if m is TENSOR_MATH:
            return y * (gm - (gm * y).sum(self.axis, keepdim=True))
        return result(kernels.softmax_backward(gm, y, self.axis), g)


class Norm(_Reduction):
    """Vector p-norm over axes. The gradient at a zero vector is 0 (as PyTorch), not nan."""

    saves_output = True

    def reduce(self, xp, a, p=2.0):
        self.p = p
        if p == math.inf:
            n = xp.max(xp.abs(a), axis=self.axes, keepdims=True)
        elif p == 1:
            n = xp.sum(xp.abs(a), axis=self.axes, keepdims=True)
        elif p == 2:
            n = xp.sqrt(xp.sum(a * a, axis=self.axes, keepdims=True))
        else:
            n = xp.sum(xp.abs(a) ** p, axis=self.axes, keepdims=True) ** (1.0 / p)
        return self.kept(n)

    def backward(self, g):
        p = self.p
        m, gm, a, n = formula_operands(g, self.parents[0], self.saved_output())
        kshape = tuple(1 if i in self.axes else s for i, s in enumerate(a.shape))
        n, gm = m.reshape(n, kshape), m.reshape(gm, kshape)
        zero = n == 0
        safe = m.where(zero, 1.0, n)
        if p == math.inf:
            xp = g._device.xp
            a_raw, n_raw = self.parents[0]._array, xp.reshape(self.saved_output()._array, kshape)
            mask = xp.astype(xp.abs(a_raw) == n_raw, a_raw.dtype)
            d = m.sign(a) * saved(mask / xp.sum(mask, axis=self.axes, keepdims=True), gm)
        elif p == 1:
            d = m.sign(a)
        elif p == 2:
            d = a / safe
        else:
            d = m.sign(a) * m.abs(a) ** (p - 1) / safe ** (p - 1)
        return result(m.where(zero, 0.0, gm * d), g)


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
    if a.ndim == 0:
        return exp(log_softmax(a, dim))
    return Softmax.apply(a, axis=normalize_axes(dim, a.ndim)[0])

