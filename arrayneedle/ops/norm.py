"""Fused normalisation: (x - mean) / sqrt(var + eps) over some axes, in one Function.

Composing this from elementwise ops would cost a dozen passes and saved temporaries per
BatchNorm/GroupNorm/LayerNorm; the fused backward needs only x_hat and 1/std.
"""
from __future__ import annotations

from array_api_compat import array_namespace

from ..autograd import Function


class Normalize(Function):
    def forward(self, x, axes, mean, var, eps):
        xp = array_namespace(x)
        self.axes = axes
        self.inv_std = 1.0 / xp.sqrt(var + eps)
        self.xhat = (x - mean) * self.inv_std
        return self.xhat

    def backward(self, g):
        xp = array_namespace(g)
        xhat = self.xhat
        gm = xp.mean(g, axis=self.axes, keepdims=True)
        gxm = xp.mean(g * xhat, axis=self.axes, keepdims=True)
        return (g - gm - xhat * gxm) * self.inv_std


def moments(x, axes):
    """Mean and (population) variance of a raw array over ``axes``, keepdims."""
    xp = array_namespace(x)
    mean = xp.mean(x, axis=axes, keepdims=True)
    d = x - mean
    var = xp.mean(d * d, axis=axes, keepdims=True)
    return mean, var


def normalize(x, axes, eps=1e-5, mean=None, var=None):
    """x_hat of a Tensor over ``axes``; uses the given statistics (raw arrays) if any."""
    axes = tuple(a % x.ndim for a in axes)
    if mean is None:
        mean, var = moments(x.data, axes)
    return Normalize.apply(x, axes=axes, mean=mean, var=var, eps=eps)
