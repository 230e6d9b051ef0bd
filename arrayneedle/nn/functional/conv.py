"""Convolutions with PyTorch's functional signatures: conv1d, conv2d (padding modes, "same"),
conv_transpose2d. Reflect, replicate and circular padding go through ``misc.pad_nd``, as in
``F.pad``. The size arguments are checked once, by the op (``arrayneedle.ops.conv2d``).
"""
from __future__ import annotations

from ... import ops
from ..._helpers import as_tensor, ntuple, pair
from ...kernels.geometry import padding_string, same_padding
from .misc import pad_nd

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "pad_nd", "output_padding_for",
           "PADDING_MODES", "check_padding_mode"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def check_padding_mode(name, padding_mode, transposed=False):
    """PyTorch's check of a convolution's ``padding_mode`` (only zeros for a transposed one)."""
    if transposed and padding_mode != "zeros":
        raise ValueError(f'Only "zeros" padding mode is supported for {name}')
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{name}: padding_mode must be one of {set(PADDING_MODES)}, but got "
                         f"padding_mode={padding_mode!r}")
    return padding_mode


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros"):
    """PyTorch's F.conv2d; ``padding_mode`` (as the Conv2d layer) pads by reflection,
    replication or wrap-around before a convolution without padding."""
    if check_padding_mode("conv2d", padding_mode) == "zeros":
        return ops.conv2d(input, weight, bias, stride, padding, dilation, groups)
    w = as_tensor(weight)
    mode = padding_string("conv2d", padding, stride)
    if mode == "valid":
        pads = ((0, 0), (0, 0))
    elif mode == "same":
        pads = same_padding(w.shape[2:], pair(dilation, "conv2d: dilation"))
    else:
        pads = tuple((p, p) for p in pair(padding, "conv2d: padding"))
    x = pad_nd(input, pads, padding_mode, "conv2d")
    return ops.conv2d(x, w, bias, stride, 0, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros"):
    """1-D convolution of ``input`` (N, C, L) or (C, L) with ``weight`` (O, C/groups, k): a
    2-D convolution over a unit height (the same Functions and gradients)."""
    x, w = as_tensor(input), as_tensor(weight)
    if w.ndim != 3:
        raise ValueError(f"conv1d: weight must be 3-D (out_channels, in_channels/groups, k), "
                         f"got shape {w.shape}")
    if x.ndim not in (2, 3):
        raise ValueError(f"conv1d: input must be (N, C, L) or (C, L), got shape {x.shape}")
    unbatched = x.ndim == 2
    if unbatched:
        x = ops.unsqueeze(x, 0)
    s, d = ntuple(stride, 1, "conv1d: stride"), ntuple(dilation, 1, "conv1d: dilation")
    p = padding if isinstance(padding, str) else (0,) + ntuple(padding, 1, "conv1d: padding")
    y = conv2d(ops.unsqueeze(x, 2), ops.unsqueeze(w, 2), bias, (1,) + s, p, (1,) + d, groups,
               padding_mode=padding_mode)
    y = ops.squeeze(y, 2)
    return ops.squeeze(y, 0) if unbatched else y


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """PyTorch's F.conv_transpose2d (weight (Cin, Cout/groups, kh, kw))."""
    return ops.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups,
                                dilation)


def output_padding_for(x, output_size, stride, padding, kernel_size, dilation):
    """The output_padding that makes a transposed convolution of ``x`` produce
    ``output_size`` (its last two entries), as PyTorch's ``ConvTranspose2d(x, output_size)``."""
    want = tuple(int(v) for v in tuple(output_size)[-2:])
    out = []
    for n, w, s, p, k, d in zip(x.shape[-2:], want, stride, padding, kernel_size, dilation):
        lo = (n - 1) * s - 2 * p + d * (k - 1) + 1
        if not lo <= w < lo + max(s, d):
            raise ValueError(f"ConvTranspose2d: output_size {want} is not reachable from input "
                             f"size {tuple(x.shape[-2:])}: each side must lie in "
                             f"[{lo}, {lo + max(s, d) - 1}]")
        out.append(w - lo)
    return tuple(out)
