"""Argument normalisation and output-size arithmetic shared by every kernel backend."""
from __future__ import annotations

import operator


def ntuple(v, n, name="argument"):
    """``v`` (an int, or a tuple/list of ``n`` ints) as a tuple of ``n`` Python ints: the one
    normaliser of every size argument (PyTorch's ``_single``/``_pair``)."""
    if type(v) is tuple and len(v) == n and all(type(a) is int for a in v):
        return v  # already normal (the kernels call this on every convolution)
    what = {1: "an int or a 1-tuple", 2: "an int or a pair of ints"}.get(
        n, f"an int or a tuple of {n} ints")
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            raise ValueError(f"{name} must be {what}, got {v!r}")
        vals = tuple(v)
    else:
        vals = (v,) * n
    try:  # operator.index: 1.5 (or 2.0) is an error, not silently truncated to an int
        return tuple(operator.index(a) for a in vals)
    except TypeError:
        raise ValueError(f"{name} must be {what}, got {v!r}") from None


def pair(v, name="argument"):
    """``v`` (an int or a pair of ints) as a tuple of two Python ints."""
    return ntuple(v, 2, name)


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


def padding_string(name, padding, stride):
    """``padding`` when it is PyTorch's "same" or "valid" (checked as PyTorch checks it: "same"
    needs stride 1 everywhere), None when it is a size (an int or a tuple)."""
    if not isinstance(padding, str):
        return None
    if padding not in ("same", "valid"):
        raise ValueError(f"{name}: Invalid padding string {padding!r}, should be one of "
                         f"{{'same', 'valid'}}")
    strides = tuple(stride) if isinstance(stride, (tuple, list)) else (stride,)
    if padding == "same" and any(s != 1 for s in strides):
        raise ValueError(f"{name}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride!r})")
    return padding


def same_padding(kernel_size, dilation):
    """PyTorch's padding="same" per spatial axis, as (before, after): ``d*(k-1)`` in all, the
    odd one after."""
    out = []
    for k, d in zip(kernel_size, dilation):
        t = d * (k - 1)
        out.append((t // 2, t - t // 2))
    return tuple(out)
