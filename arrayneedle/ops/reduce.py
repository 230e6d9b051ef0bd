"""Reductions: sum, mean, max, min, var, logsumexp (over any axes, with keepdims), and the
softmaxes built on logsumexp."""
from __future__ import annotations

import builtins

from array_api_compat import array_namespace

from .._helpers import as_tensor
from ..autograd import Function
from ._util import expand_reduced, normalize_axes
from .elementwise import negative, subtract
from .unary import exp

__all__ = ["sum", "mean", "max", "min", "var", "logsumexp", "softmax", "log_softmax"]


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        return array_namespace(a).sum(a, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return expand_reduced(g, self.shape, self.axes, self.keepdims)


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = a.shape, normalize_axes(axis, a.ndim), keepdims
        n = 1
        for ax in self.axes:
            n *= a.shape[ax]
        self.n = n
        return array_namespace(a).mean(a, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return expand_reduced(g * (1.0 / self.n), self.shape, self.axes, self.keepdims)


class Max(Function):
    """Max over axes; the gradient is shared equally between tied maxima."""

    def forward(self, a, axis=None, keepdims=False):
        xp = array_namespace(a)
        self.axes, self.keepdims = normalize_axes(axis, a.ndim), keepdims
        m = xp.max(a, axis=self.axes, keepdims=True)
        self.mask = a == m
        return m if keepdims else xp.reshape(m, tuple(
            s for i, s in enumerate(a.shape) if i not in self.axes))

    def backward(self, g):
        xp = array_namespace(g)
        mask = xp.astype(self.mask, g.dtype)
        count = xp.sum(mask, axis=self.axes, keepdims=True)
        g = expand_reduced(g, mask.shape, self.axes, self.keepdims)
        return g * mask / count


class Var(Function):
    """Variance with ``correction`` (0: population variance, as the array API; 1: unbiased)."""

    def forward(self, a, axis=None, keepdims=False, correction=0):
        xp = array_namespace(a)
        self.axes, self.keepdims = normalize_axes(axis, a.ndim), keepdims
        n = 1
        for ax in self.axes:
            n *= a.shape[ax]
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
        return out if keepdims else xp.reshape(out, tuple(
            d for i, d in enumerate(a.shape) if i not in self.axes))

    def backward(self, g):
        g = expand_reduced(g, self.softmax.shape, self.axes, self.keepdims)
        return g * self.softmax


# ---------------------------------------------------------------- public wrappers
def sum(a, axis=None, keepdims=False):
    return Sum.apply(as_tensor(a), axis=axis, keepdims=keepdims)


def mean(a, axis=None, keepdims=False):
    return Mean.apply(as_tensor(a), axis=axis, keepdims=keepdims)


def max(a, axis=None, keepdims=False):
    return Max.apply(as_tensor(a), axis=axis, keepdims=keepdims)


def min(a, axis=None, keepdims=False):
    return negative(max(negative(a), axis=axis, keepdims=keepdims))


def var(a, axis=None, keepdims=False, correction=0):
    """Variance; ``correction=0`` (population) as the array API standard, 1 for unbiased."""
    return Var.apply(as_tensor(a), axis=axis, keepdims=keepdims, correction=correction)


def logsumexp(a, axis=None, keepdims=False):
    return LogSumExp.apply(as_tensor(a), axis=axis, keepdims=keepdims)


def log_softmax(a, axis=-1):
    return subtract(a, logsumexp(a, axis=axis, keepdims=True))


def softmax(a, axis=-1):
    return exp(log_softmax(a, axis=axis))
