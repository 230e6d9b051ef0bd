"""Max-pooling (NCHW), PyTorch semantics: implicit -inf padding, floor-mode output size."""
from __future__ import annotations

from .. import kernels
from .._helpers import as_tensor, pair
from ..autograd import Function

__all__ = ["max_pool2d", "MaxPool2d"]


class MaxPool2d(Function):
    """Max over (possibly overlapping) windows; the gradient of each window goes to its one
    maximum (the first in row-major window order on ties)."""

    def forward(self, x, kernel_size, stride, padding):
        self.params = (kernel_size, stride, padding)
        self.x_shape = tuple(x.shape)
        # the argmax only serves backward: not computed under no_grad
        out, self.arg = kernels.maxpool_forward(x, kernel_size, stride, padding,
                                                with_arg=self.needs_input_grad[0])
        return out

    def backward(self, g):
        return kernels.maxpool_backward(g, self.arg, self.x_shape, *self.params)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """2-D max-pooling of ``x`` (N, C, H, W); ``stride`` defaults to ``kernel_size``."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"max_pool2d: input must be 4-D (N, C, H, W), got shape {x.shape}")
    k = pair(kernel_size, "max_pool2d: kernel_size")
    s = k if stride is None else pair(stride, "max_pool2d: stride")
    p = pair(padding, "max_pool2d: padding")
    if min(k) < 1 or min(s) < 1 or min(p) < 0:
        raise ValueError(f"max_pool2d: need kernel_size >= 1, stride >= 1 and padding >= 0, "
                         f"got kernel_size={kernel_size}, stride={stride}, padding={padding}")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"max_pool2d: padding {p} must be at most half the kernel size {k}")
    H, W = x.shape[2:]
    if k[0] > H + 2 * p[0] or k[1] > W + 2 * p[1]:
        raise ValueError(f"max_pool2d: kernel {k} is larger than the padded input "
                         f"{(H + 2 * p[0], W + 2 * p[1])}; expected a kernel no larger than "
                         f"the input plus padding")
    return MaxPool2d.apply(x, kernel_size=k, stride=s, padding=p)
