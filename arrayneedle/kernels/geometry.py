"""Argument normalisation and output-size arithmetic shared by every kernel backend."""
from __future__ import annotations

import operator


def pair(v, name="argument"):
    """``v`` (an int or a pair of ints) as a tuple of two Python ints."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        a, b = v
    else:
        a = b = v
    try:  # operator.index: 1.5 (or 2.0) is an error, not silently truncated to an int
        a, b = operator.index(a), operator.index(b)
    except TypeError:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}") from None
    return a, b


def conv_out_size(n, k, s, p, d):
    """Output length of a convolution window sweep (as PyTorch, floor mode)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv_geometry(x_shape, kernel_size, stride, padding, dilation):
    """(OH, OW) of a convolution over ``x_shape`` (N, C, H, W); all params are pairs."""
    _, _, H, W = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    return conv_out_size(H, kh, sh, ph, dh), conv_out_size(W, kw, sw, pw, dw)


def normalize(kernel_size, stride, padding, dilation=1):
    return (pair(kernel_size, "kernel_size"), pair(stride, "stride"), pair(padding, "padding"),
            pair(dilation, "dilation"))
