"""Convolution and pooling layers (NCHW), with PyTorch's names, arguments, parameter layouts
and default initialisation."""
from __future__ import annotations

import math

from .. import init, ops
from .._helpers import pair
from .module import Module, zeros_parameter

__all__ = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "Conv", "ConvTranspose", "MaxPool"]


def _positive(name, **values):
    for key, v in values.items():
        if min(v) < 1:
            raise ValueError(f"{name}: {key} must be positive, got {v}")


def _supported(name, groups, padding_mode):
    if groups != 1:
        raise ValueError(f"{name}: groups={groups} is not supported; expected groups=1")
    if padding_mode != "zeros":
        raise ValueError(f"{name}: padding_mode={padding_mode!r} is not supported; expected "
                         f"'zeros'")


class _ConvNd(Module):
    def _init_parameters(self, weight_shape, bias, device, dtype):
        """weight of ``weight_shape`` and a bias of out_channels values, as PyTorch."""
        self.weight = zeros_parameter(weight_shape, device, dtype)
        # PyTorch's reset_parameters: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), ...),
        # fan_in = weight.shape[1] * kh * kw (for ConvTranspose that is out_channels * kh * kw)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = None
        if bias:
            fan_in = weight_shape[1] * weight_shape[2] * weight_shape[3]
            self.bias = zeros_parameter((self.out_channels,), device, dtype)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W); weight (out_channels, in_channels, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype="float32"):
        super().__init__()
        _supported("Conv2d", groups, padding_mode)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "Conv2d: kernel_size")
        self.stride = pair(stride, "Conv2d: stride")
        self.padding = pair(padding, "Conv2d: padding")
        self.dilation = pair(dilation, "Conv2d: dilation")
        _positive("Conv2d", in_channels=(self.in_channels,), out_channels=(self.out_channels,),
                  kernel_size=self.kernel_size, stride=self.stride, dilation=self.dilation)
        self._init_parameters((self.out_channels, self.in_channels) + self.kernel_size, bias,
                              device, dtype)

    def forward(self, x):
        return ops.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                          dilation=self.dilation)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the adjoint of Conv2d); weight
    (in_channels, out_channels, kh, kw), as PyTorch."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype="float32"):
        super().__init__()
        _supported("ConvTranspose2d", groups, padding_mode)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "ConvTranspose2d: kernel_size")
        self.stride = pair(stride, "ConvTranspose2d: stride")
        self.padding = pair(padding, "ConvTranspose2d: padding")
        self.output_padding = pair(output_padding, "ConvTranspose2d: output_padding")
        self.dilation = pair(dilation, "ConvTranspose2d: dilation")
        _positive("ConvTranspose2d", in_channels=(self.in_channels,),
                  out_channels=(self.out_channels,), kernel_size=self.kernel_size,
                  stride=self.stride, dilation=self.dilation)
        self._init_parameters((self.in_channels, self.out_channels) + self.kernel_size, bias,
                              device, dtype)

    def forward(self, x):
        return ops.conv_transpose2d(x, self.weight, self.bias, stride=self.stride,
                                    padding=self.padding, output_padding=self.output_padding,
                                    dilation=self.dilation)


class MaxPool2d(Module):
    """2-D max-pooling; ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = pair(kernel_size, "MaxPool2d: kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, "MaxPool2d: stride")
        self.padding = pair(padding, "MaxPool2d: padding")

    def forward(self, x):
        return ops.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


# needle's names
Conv = Conv2d
ConvTranspose = ConvTranspose2d
MaxPool = MaxPool2d
