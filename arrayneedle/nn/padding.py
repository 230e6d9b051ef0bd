"""Padding layers with PyTorch's names, arguments and repr: ZeroPad2d, ConstantPad2d,
ReflectionPad2d, ReplicationPad2d, CircularPad2d."""
from __future__ import annotations

from .. import ops
from .._helpers import ntuple
from .functional import conv as _conv
from .module import Module

__all__ = ["ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"]


def _four(padding, name):
    """PyTorch's 2-D padding: an int, or (left, right, top, bottom)."""
    out = ntuple(padding, 4, f"{name}: padding (left, right, top, bottom)")
    if min(out) < 0:
        raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
    return out


class _Pad2d(Module):
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _four(padding, type(self).__name__)

    def forward(self, x):
        left, right, top, bottom = self.padding
        if x.ndim not in (3, 4):
            raise ValueError(f"{type(self).__name__}: input must be (N, C, H, W) or (C, H, W), "
                             f"got shape {x.shape}")
        if self._mode == "constant":
            widths = ((0, 0),) * (x.ndim - 2) + ((top, bottom), (left, right))
            return ops.pad(x, widths, self.value)
        return _conv.pad_nd(x, ((top, bottom), (left, right)), self._mode, type(self).__name__)

    def extra_repr(self):
        return f"{self.padding}"


class ConstantPad2d(_Pad2d):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = float(value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad2d(_Pad2d):
    _mode = "reflect"


class ReplicationPad2d(_Pad2d):
    _mode = "replicate"


class CircularPad2d(_Pad2d):
    _mode = "circular"
