"""Convolutions with PyTorch's functional signatures: conv1d, conv2d (padding modes, "same"),
conv_transpose2d. Reflect, replicate and circular padding go through ``misc.pad_nd``, as in
``F.pad``."""
from __future__ import annotations

from ... import ops
from ..._helpers import as_tensor
from .misc import pad_nd

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "pad_nd", "output_padding_for"]


def _same_pads(ksize, dilation):
    """PyTorch's "same": ``d*(k-1)`` in all, the odd one after."""
    out = []
    for k, d in zip(ksize, dilation):
        t = d * (k - 1)
        out.append((t // 2, t - t // 2))
    return out


def _tuple(v, n):
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * n


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros"):
    """PyTorch's F.conv2d; ``padding_mode`` (as the Conv2d layer) pads by reflection,
    replication or wrap-around before a convolution without padding."""
    if padding_mode == "zeros":
        return ops.conv2d(input, weight, bias, stride, padding, dilation, groups)
    if padding_mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"conv2d: padding_mode must be zeros, reflect, replicate or circular, "
                         f"got {padding_mode!r}")
    w = as_tensor(weight)
    if padding == "valid":
        pads = [(0, 0), (0, 0)]
    elif padding == "same":
        pads = _same_pads(w.shape[2:], _tuple(dilation, 2))
    else:
        pads = [(p, p) for p in _tuple(padding, 2)]
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
    s, d = _tuple(stride, 1), _tuple(dilation, 1)
    p = padding if isinstance(padding, str) else (0,) + _tuple(padding, 1)
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
