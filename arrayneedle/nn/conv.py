"""Convolution layers (NCL / NCHW), with PyTorch's names, positional argument order,
parameter layouts, default initialisation and repr."""
from __future__ import annotations

import math

from .. import init
from .._helpers import pair
from .functional import conv as F
from .module import Module, zeros_parameter
from .pooling import MaxPool2d

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "Conv", "ConvTranspose",
           "MaxPool"]

_MODES = ("zeros", "reflect", "replicate", "circular")


def _single(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"{name} must be an int or a 1-tuple, got {v!r}")
        v = v[0]
    return (int(v),)


class _ConvNd(Module):
    _n = 2  # spatial dimensions

    def _setup(self, name, in_channels, out_channels, kernel_size, stride, padding, dilation,
               groups, bias, padding_mode, device, dtype, transposed=False, output_padding=0):
        tup = pair if self._n == 2 else _single
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = tup(kernel_size, f"{name}: kernel_size")
        self.stride = tup(stride, f"{name}: stride")
        if isinstance(padding, str):
            if padding not in ("same", "valid") or transposed:
                raise ValueError(f"{name}: padding must be an int or a tuple"
                                 f"{'' if transposed else ', or one of same, valid'}, "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1,) * self._n:
                raise ValueError(f"{name}: padding='same' needs stride 1 (as PyTorch)")
            self.padding = padding
        else:
            self.padding = tup(padding, f"{name}: padding")
        self.dilation = tup(dilation, f"{name}: dilation")
        self.output_padding = tup(output_padding, f"{name}: output_padding")
        self.groups = int(groups)
        if padding_mode not in _MODES or (transposed and padding_mode != "zeros"):
            allowed = ("zeros",) if transposed else _MODES
            raise ValueError(f"{name}: padding_mode must be one of {allowed}, got "
                             f"{padding_mode!r}")
        self.padding_mode = padding_mode
        for key in ("kernel_size", "stride", "dilation"):
            if min(getattr(self, key)) < 1:
                raise ValueError(f"{name}: {key} must be positive, got {getattr(self, key)}")
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError(f"{name}: in_channels and out_channels must be positive, got "
                             f"{self.in_channels}, {self.out_channels}")
        if self.groups < 1 or self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: groups ({groups}) must divide in_channels "
                             f"({self.in_channels}) and out_channels ({self.out_channels})")
        if transposed:
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = zeros_parameter(shape, device, dtype)
        # PyTorch's reset_parameters: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), ...),
        # fan_in = weight.shape[1] * prod(kernel_size)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = None
        if bias:
            fan_in = shape[1] * math.prod(self.kernel_size)
            self.bias = zeros_parameter((self.out_channels,), device, dtype)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        n = self._n
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L); weight (out_channels, in_channels/groups, k)."""

    _n = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype="float32"):
        super().__init__()
        self._setup("Conv1d", in_channels, out_channels, kernel_size, stride, padding,
                    dilation, groups, bias, padding_mode, device, dtype)

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, padding_mode=self.padding_mode)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W); weight (out_channels, in_channels/groups, kh, kw).
    ``groups=in_channels`` is a depthwise convolution; ``padding`` may be "same" or "valid";
    ``padding_mode`` one of zeros, reflect, replicate, circular."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype="float32"):
        super().__init__()
        self._setup("Conv2d", in_channels, out_channels, kernel_size, stride, padding,
                    dilation, groups, bias, padding_mode, device, dtype)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, padding_mode=self.padding_mode)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the adjoint of Conv2d); weight
    (in_channels, out_channels/groups, kh, kw), as PyTorch."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype="float32"):
        super().__init__()
        self._setup("ConvTranspose2d", in_channels, out_channels, kernel_size, stride, padding,
                    dilation, groups, bias, padding_mode, device, dtype, transposed=True,
                    output_padding=output_padding)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op < 0 or (op >= s and op >= d):
                raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must "
                                 f"be smaller than either stride {self.stride} or dilation "
                                 f"{self.dilation}")

    def forward(self, x, output_size=None):
        op = self.output_padding
        if output_size is not None:
            op = F.output_padding_for(x, output_size, self.stride, self.padding,
                                      self.kernel_size, self.dilation)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, op,
                                  self.groups, self.dilation)


# needle's names
Conv = Conv2d
ConvTranspose = ConvTranspose2d
MaxPool = MaxPool2d
