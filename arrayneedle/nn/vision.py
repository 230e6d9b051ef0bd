"""Resampling and padding layers with PyTorch's names, arguments and repr: Upsample,
UpsamplingNearest2d, UpsamplingBilinear2d, PixelShuffle, PixelUnshuffle, ZeroPad2d,
ConstantPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d."""
from __future__ import annotations

from .. import ops
from .functional import conv as _conv, vision as F
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle",
           "PixelUnshuffle", "ZeroPad2d", "ConstantPad2d", "ReflectionPad2d",
           "ReplicationPad2d", "CircularPad2d"]


class Upsample(Module):
    """F.interpolate as a layer (modes nearest, nearest-exact, linear, bilinear)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(s) for s in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        info = (f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None
                else f"size={self.size!r}")
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = int(upscale_factor)

    def forward(self, x):
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = int(downscale_factor)

    def forward(self, x):
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


def _four(padding, name):
    """PyTorch's 2-D padding: an int, or (left, right, top, bottom)."""
    if isinstance(padding, (tuple, list)):
        if len(padding) != 4:
            raise ValueError(f"{name}: padding must be an int or (left, right, top, bottom), "
                             f"got {padding!r}")
        out = tuple(int(p) for p in padding)
    else:
        out = (int(padding),) * 4
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
