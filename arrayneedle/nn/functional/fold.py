"""``F.unfold`` (im2col as a differentiable op) and ``nn.Unfold``: sliding local blocks of an
(N, C, H, W) batch as (N, C * kh * kw, L) columns, PyTorch's layout (channel-major, then the
kernel offsets), composed from pad, strided windows and a permutation so gradients follow."""
from __future__ import annotations

from ... import ops
from ..._helpers import pair
from ..module import Module
from .misc import pad

__all__ = ["unfold", "Unfold"]


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    if input.ndim not in (3, 4):
        raise ValueError(f"unfold: expected a 3-D or 4-D input, got shape {tuple(input.shape)}")
    x = input if input.ndim == 4 else ops.unsqueeze(input, 0)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (pair(kernel_size), pair(dilation), pair(padding),
                                              pair(stride))
    if ph or pw:
        x = pad(x, (pw, pw, ph, ph))
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the dilated kernel's extent
    if x.shape[2] < eh or x.shape[3] < ew:
        raise RuntimeError(f"unfold: the (padded) input {tuple(x.shape[2:])} is smaller than "
                           f"the kernel extent {(eh, ew)}")
    w = x.unfold(2, eh, sh).unfold(3, ew, sw)  # (N, C, oh, ow, eh, ew)
    w = w[..., ::dh, ::dw]  # (N, C, oh, ow, kh, kw)
    n, c, oh, ow = w.shape[:4]
    cols = ops.reshape(ops.permute(w, (0, 1, 4, 5, 2, 3)), (n, c * kh * kw, oh * ow))
    return cols if input.ndim == 4 else ops.squeeze(cols, 0)


class Unfold(Module):
    """``nn.Unfold(kernel_size, dilation=1, padding=0, stride=1)``."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input):
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
