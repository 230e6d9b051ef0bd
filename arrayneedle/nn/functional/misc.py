"""normalize and pad with torch.nn.functional's signatures."""
from __future__ import annotations

from ... import ops
from ..._helpers import as_tensor
from ...autograd import Tensor

__all__ = ["normalize", "pad", "pad_nd"]


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """``input / max(||input||_p, eps)`` along ``dim``."""
    n = ops.norm(input, p, dim, keepdim=True)
    return input / ops.maximum(n, eps)


_MODES = ("constant", "reflect", "replicate", "circular")


def _source_index(xp, n, lo, hi, mode):
    """For each position of the padded axis, the input position it copies."""
    i = xp.arange(-lo, n + hi, dtype=xp.int64)
    if mode == "replicate":
        return xp.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    period = 2 * (n - 1)  # reflect about the first and last element, without repeating them
    i = xp.abs(i) % period if period else xp.zeros_like(i)
    return xp.where(i >= n, period - i, i)


def pad(input, pad, mode="constant", value=None):
    """Pad with PyTorch's order: ``pad`` lists (before, after) pairs starting from the LAST
    axis, ``(left, right, top, bottom, ...)``. Modes: constant (negative amounts crop),
    reflect (mirror without repeating the edge; amounts below the axis size), replicate,
    circular."""
    if mode not in _MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of amounts, at most 2 per dimension "
                         f"of an input of shape {input.shape}, got {pad}")
    k = len(pad) // 2
    pairs = [(0, 0)] * (input.ndim - k) + [(pad[2 * j], pad[2 * j + 1])
                                           for j in range(k - 1, -1, -1)]
    if mode == "constant":
        if any(p < 0 for p in pad):  # negative amounts crop
            for ax, (n, (lo, hi)) in enumerate(zip(input.shape, pairs)):
                if n - max(-lo, 0) - max(-hi, 0) < 0:  # PyTorch: narrow() of negative length
                    raise RuntimeError(f"pad: negative padding ({lo}, {hi}) crops more than "
                                       f"the size {n} of dimension {ax} of an input of shape "
                                       f"{tuple(input.shape)}")
            index = tuple(slice(max(-lo, 0), n - max(-hi, 0))
                          for n, (lo, hi) in zip(input.shape, pairs))
            input = input[index]
            pairs = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
        if not any(lo or hi for lo, hi in pairs):
            return input
        return ops.pad(input, pairs, value=0.0 if value is None else value)
    if value not in (None, 0):
        raise ValueError(f"pad: value is only used by mode='constant', got value={value} with "
                         f"mode={mode!r}")
    return pad_nd(input, pairs, mode)


def pad_nd(x, pads, mode, name="pad"):
    """Pad the trailing axes of ``x`` by ``pads`` = ((lo, hi) per axis, first padded axis
    first) with ``mode`` reflect, replicate or circular: one gather per axis (differentiable:
    its gradient adds every copy back into its source)."""
    x = as_tensor(x)
    xp = x.device.xp
    first = x.ndim - len(pads)
    for j, (lo, hi) in enumerate(pads):
        if not (lo or hi):
            continue
        ax, n = first + j, x.shape[first + j]
        if lo < 0 or hi < 0:
            raise ValueError(f"{name}: mode {mode!r} needs non-negative amounts, got {pads}")
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ValueError(f"{name}: reflect padding ({lo}, {hi}) must be smaller than the "
                             f"size {n} of dimension {ax}")
        if mode == "circular" and (lo > n or hi > n):
            raise ValueError(f"{name}: circular padding ({lo}, {hi}) must not exceed the size "
                             f"{n} of dimension {ax}")
        idx = Tensor._wrap(_source_index(xp, n, lo, hi, mode), x.device)
        x = ops.take(x, idx, axis=ax)
    return x
