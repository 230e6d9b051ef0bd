"""Convolution layers (NCL / NCHW), with PyTorch's names, positional argument order,
parameter layouts, default initialisation and repr.

As PyTorch's ``_ConvNd``: the constructor stores its arguments (sizes as tuples), checks what
building the parameters needs (groups dividing the channels, the padding string and mode, with
PyTorch's messages), makes ``weight`` and ``bias`` and fills them in ``reset_parameters()``.
The size arguments' values (stride, padding, dilation, output_padding) are checked once, by
the op the forward calls (``arrayneedle.ops.conv2d`` / ``conv_transpose2d``).
"""
from __future__ import annotations

import math

from .. import compat
from .._helpers import ntuple
from ..kernels.geometry import padding_string
from . import init
from .functional import conv as F
from .functional.conv import check_padding_mode
from .module import Module, zeros_parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]


class _ConvNd(Module):
    _n = 2  # spatial dimensions

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device=None,
                 dtype="float32"):
        super().__init__()
        name, n = type(self).__name__, self._n
        if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups != 0:
            raise ValueError(f"{name}: in_channels must be divisible by groups, got "
                             f"in_channels={in_channels}, groups={groups}")
        if out_channels % groups != 0:
            raise ValueError(f"{name}: out_channels must be divisible by groups, got "
                             f"out_channels={out_channels}, groups={groups}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = ntuple(kernel_size, n, f"{name}: kernel_size")
        self.stride = ntuple(stride, n, f"{name}: stride")
        if isinstance(padding, str) and transposed:
            raise ValueError(f"{name}: padding must be an int or a tuple, got {padding!r}")
        self.padding = (padding_string(name, padding, self.stride) if isinstance(padding, str)
                        else ntuple(padding, n, f"{name}: padding"))
        self.dilation = ntuple(dilation, n, f"{name}: dilation")
        self.transposed = transposed
        self.output_padding = ntuple(output_padding, n, f"{name}: output_padding")
        self.groups = groups
        self.padding_mode = check_padding_mode(name, padding_mode, transposed)
        if transposed:
            shape = (self.in_channels, self.out_channels // groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // groups) + self.kernel_size
        self.weight = zeros_parameter(shape, device, dtype)
        self.bias = zeros_parameter((self.out_channels,), device, dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's initialisation: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), ...) for
        the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias, fan_in = weight.shape[1]
        * prod(kernel_size)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_fan_out(self.weight.shape)
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
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, padding_mode=self.padding_mode)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W); weight (out_channels, in_channels/groups, kh, kw).
    ``groups=in_channels`` is a depthwise convolution; ``padding`` may be "same" or "valid";
    ``padding_mode`` one of zeros, reflect, replicate, circular."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype="float32"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, padding_mode=self.padding_mode)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the adjoint of Conv2d); weight
    (in_channels, out_channels/groups, kh, kw), as PyTorch."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype="float32"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device, dtype)

    def forward(self, x, output_size=None):
        op = self.output_padding
        if output_size is not None:
            op = F.output_padding_for(x, output_size, self.stride, self.padding,
                                      self.kernel_size, self.dilation)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, op,
                                  self.groups, self.dilation)


__getattr__ = compat.module_getattr(__name__, globals())
