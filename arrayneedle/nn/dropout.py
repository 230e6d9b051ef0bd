"""Dropout (elements) and Dropout1d/2d (whole channels) with PyTorch's names, arguments and
repr."""
from __future__ import annotations

from ..autograd import Tensor
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d"]


class Dropout(Module):
    """Zeroes elements with probability p in training and scales the rest by 1/(1-p)."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        dev = x.device
        keep = dev.rand(x.shape, x.dtype) >= self.p
        scale = dev.xp.astype(keep, x.dtype) * (1.0 / (1 - self.p))
        return x * Tensor.from_array(scale, dev)

    def extra_repr(self):
        return f"p={self.p}"


class _DropoutNd(Module):
    _ndim = 4

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p, self.inplace = float(p), inplace

    def forward(self, x):
        nd = self._ndim
        if x.ndim not in (nd - 1, nd):
            raise ValueError(f"{type(self).__name__}: expected a {nd}-D (batched) or "
                             f"{nd - 1}-D (unbatched) input, got shape {x.shape}")
        if not self.training or self.p == 0:
            return x
        dev = x.device
        # one draw per channel: whole feature maps are zeroed
        lead = 1 if x.ndim == nd - 1 else 2
        shape = tuple(x.shape[:lead]) + (1,) * (x.ndim - lead)
        keep = dev.rand(shape, x.dtype) >= self.p
        scale = 0.0 if self.p == 1 else 1.0 / (1 - self.p)
        return x * Tensor._wrap(dev.xp.astype(keep, x.dtype) * scale, dev)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) with probability p (scaled by 1/(1-p))."""
    _ndim = 3


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) with probability p (scaled by 1/(1-p))."""
    _ndim = 4
