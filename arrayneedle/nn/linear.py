"""Linear layers with PyTorch's names, argument orders, parameter layout and initialisation:
Identity, Linear."""
from __future__ import annotations

import math
import numbers

from . import init
from .functional.linear import linear
from .module import Module, zeros_parameter

__all__ = ["Identity", "Linear"]


class Identity(Module):
    def forward(self, x):
        return x


class Linear(Module):
    """y = x @ W.T + b, W of shape (out_features, in_features) as PyTorch."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype="float32"):
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, bool) or not isinstance(n, numbers.Integral):
                raise TypeError(f"Linear: {name} must be an int, got {n!r}")
            if n < 0:
                raise RuntimeError(f"Linear: {name} must be non-negative, got {n}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = zeros_parameter((out_features, in_features), device, dtype)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = None
        if bias:
            self.bias = zeros_parameter((out_features,), device, dtype)
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: expected input with last dimension {self.in_features}, "
                             f"got shape {x.shape}")
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
